import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsString, Length, Matches } from 'class-validator';
import { EXOTEL_API_HOSTS } from '../../telephony/exotel/exotel-hosts.js';

export class UpdateExotelConfigDto {
  @ApiProperty({ example: 'a1b2c3d4e5f6', description: 'Exotel API key' })
  @IsString()
  @Length(1, 128)
  @Matches(/^[\w-]+$/, { message: 'apiKey may only contain letters, digits, _ and -' })
  apiKey: string;

  @ApiProperty({
    example: 'tok_abcdef123456',
    description: 'Exotel API token; stored encrypted, never returned',
  })
  @IsString()
  @Length(1, 256)
  @Matches(/^\S+$/, { message: 'apiToken must not contain spaces' })
  apiToken: string;

  @ApiProperty({ example: 'acme1', description: 'Exotel account SID' })
  @IsString()
  @Length(1, 64)
  @Matches(/^[\w-]+$/, { message: 'sid may only contain letters, digits, _ and -' })
  sid: string;

  @ApiProperty({
    example: 'api.in.exotel.com',
    enum: EXOTEL_API_HOSTS,
    description: "Exotel API host of the account's region (Singapore or Mumbai cluster)",
  })
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.trim().toLowerCase() : value,
  )
  @IsIn(EXOTEL_API_HOSTS, { message: `subdomain must be one of ${EXOTEL_API_HOSTS.join(', ')}` })
  subdomain: string;
}

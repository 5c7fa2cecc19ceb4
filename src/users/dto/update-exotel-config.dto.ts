import { ApiProperty } from '@nestjs/swagger';
import { IsFQDN, IsString, Length, Matches } from 'class-validator';

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

  @ApiProperty({ example: 'api.exotel.com', description: 'Exotel API host for the account region' })
  @IsString()
  @Length(1, 253)
  @IsFQDN(
    { require_tld: true },
    { message: 'subdomain must be a host name such as api.exotel.com' },
  )
  subdomain: string;
}

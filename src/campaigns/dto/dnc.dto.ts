import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsOptional,
  IsString,
  Length,
} from 'class-validator';
import { PageMetaDto } from '../../common/pagination/pagination.js';
import { InvalidRowResponse } from './campaign.dto.js';

export class AddDncDto {
  @ApiProperty({
    type: [String],
    example: ['+919876543210', '098765 43211'],
    description: 'At most 1000 per request (CSV for more)',
  })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Length(1, 32, { each: true })
  phones: string[];

  @ApiPropertyOptional({ example: 'asked not to be called', maxLength: 200 })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  reason?: string;
}

export class DncEntryResponse {
  @ApiProperty({ example: '+919876543210' }) phone: string;
  @ApiPropertyOptional({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
}

export class DncPageResponse {
  @ApiProperty({ type: [DncEntryResponse] }) data: DncEntryResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

export class DncImportResponse {
  @ApiProperty({ example: 120 }) rows: number;
  @ApiProperty({ example: 118, description: 'Newly listed' }) added: number;
  @ApiProperty({ example: 1, description: 'Listed already' }) existing: number;
  @ApiProperty({ example: 1 }) invalid: number;
  @ApiProperty({ type: [InvalidRowResponse] }) invalidRows: InvalidRowResponse[];
  @ApiProperty({ example: 3, description: 'Waiting campaign contacts blocked by this' })
  contactsBlocked: number;
}

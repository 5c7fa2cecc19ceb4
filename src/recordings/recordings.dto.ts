import { ApiProperty } from '@nestjs/swagger';
import { IsInt, Max, Min, ValidateIf } from 'class-validator';

export class RecordingLinkResponse {
  @ApiProperty({
    description: 'Signed download URL of our copy; works without a token until it expires',
  })
  url: string;
  @ApiProperty() expiresAt: Date;
  @ApiProperty({ example: 'audio/mpeg' }) contentType: string;
  @ApiProperty({ description: 'Bytes' }) size: number;
}

export class UpdateRecordingRetentionDto {
  @ApiProperty({
    type: Number,
    nullable: true,
    minimum: 1,
    maximum: 3650,
    description: 'Days our copies of your call recordings are kept; null for the default',
  })
  @ValidateIf((dto: UpdateRecordingRetentionDto) => dto.days !== null)
  @IsInt({ message: 'days must be a whole number of days, or null for the default' })
  @Min(1)
  @Max(3650)
  days: number | null;
}

export class RecordingRetentionResponse {
  @ApiProperty({ type: Number, nullable: true, description: 'Your own setting; null: the default' })
  days: number | null;
  @ApiProperty({ description: 'The platform default (RECORDING_RETENTION_DAYS)' })
  defaultDays: number;
  @ApiProperty({ description: 'What applies to your recordings' })
  effectiveDays: number;
}

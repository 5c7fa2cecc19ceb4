import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsMongoId,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { AgentConfigDto, AgentConfigPatchDto } from '../../agents/dto/agent-config.dto.js';
import { PageMetaDto, PaginationQueryDto } from '../../common/pagination/pagination.js';
import {
  PHONE_PROVIDERS,
  PHONE_STATUSES,
  type PhoneProvider,
  type PhoneStatus,
} from '../schemas/phone.schema.js';
import { IsCountryCode } from '../validators/country-code.validator.js';

/** Trims, drops duplicates; anything that is not an array of strings is left for the validators. */
function normaliseTags({ value }: { value: unknown }): unknown {
  if (!Array.isArray(value) || !value.every((tag) => typeof tag === 'string')) {
    return value;
  }
  return [...new Set(value.map((tag: string) => tag.trim()))];
}

export class ExotelPhoneDataDto {
  @ApiProperty({ example: 'EX123456', description: 'Exotel SID of the ExoPhone' })
  @IsString()
  @Length(1, 64)
  @Matches(/^[\w-]+$/, { message: 'exotelData.sid may only contain letters, digits, _ and -' })
  sid: string;

  @ApiPropertyOptional({
    example: '123456',
    description: 'Exotel flow (app) id used for outbound calls',
  })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  @Matches(/^[\w-]+$/, { message: 'exotelData.appId may only contain letters, digits, _ and -' })
  appId?: string;
}

export class CreatePhoneDto {
  @ApiProperty({
    example: '+919876543210',
    description: 'Any format the country allows; stored as E.164',
  })
  @IsString()
  @Length(3, 32)
  number: string;

  @ApiProperty({ example: 'IN', description: 'ISO 3166-1 alpha-2; must match the number' })
  @IsCountryCode()
  country: string;

  @ApiPropertyOptional({ enum: PHONE_PROVIDERS, default: 'exotel' })
  @IsOptional()
  @IsIn(PHONE_PROVIDERS)
  provider?: PhoneProvider;

  @ApiPropertyOptional({ example: '64f8a1b2c3d4e5f6a7b8c9d1', description: 'One of your agents' })
  @IsOptional()
  @IsMongoId({ message: 'agentId must be an ObjectId' })
  agentId?: string;

  @ApiPropertyOptional({
    type: [String],
    example: ['sales', 'inbound'],
    description: 'At most 10, each 1-32 characters',
  })
  @IsOptional()
  @Transform(normaliseTags)
  @IsArray()
  @ArrayMaxSize(10)
  @IsString({ each: true })
  @Length(1, 32, { each: true })
  tags?: string[];

  @ApiPropertyOptional({ enum: PHONE_STATUSES, default: 'active' })
  @IsOptional()
  @IsIn(PHONE_STATUSES)
  status?: PhoneStatus;

  @ApiPropertyOptional({ type: ExotelPhoneDataDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => ExotelPhoneDataDto)
  exotelData?: ExotelPhoneDataDto;

  @ApiPropertyOptional({
    type: AgentConfigPatchDto,
    example: { firstMessage: 'Thank you for calling!' },
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => AgentConfigPatchDto)
  agentConfigOverride?: AgentConfigPatchDto;
}

export class UpdatePhoneDto extends PartialType(OmitType(CreatePhoneDto, ['agentId'] as const)) {
  @ApiPropertyOptional({
    example: '64f8a1b2c3d4e5f6a7b8c9d1',
    nullable: true,
    description: 'null unassigns the agent',
  })
  @IsOptional()
  @ValidateIf((_object, value) => value !== null)
  @IsMongoId({ message: 'agentId must be an ObjectId or null' })
  agentId?: string | null;
}

export class ListPhonesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: PHONE_STATUSES })
  @IsOptional()
  @IsIn(PHONE_STATUSES)
  status?: PhoneStatus;

  @ApiPropertyOptional({ example: 'sales' })
  @IsOptional()
  @IsString()
  @Length(1, 32)
  tag?: string;

  @ApiPropertyOptional({ example: '64f8a1b2c3d4e5f6a7b8c9d1' })
  @IsOptional()
  @IsMongoId({ message: 'agentId must be an ObjectId' })
  agentId?: string;
}

export class PhoneResponse {
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d2' }) id: string;
  @ApiProperty({ example: '+919876543210' }) number: string;
  @ApiProperty({ example: 'IN' }) country: string;
  @ApiProperty({ enum: PHONE_PROVIDERS }) provider: PhoneProvider;
  @ApiProperty({ type: String, nullable: true, example: '64f8a1b2c3d4e5f6a7b8c9d1' }) agentId:
    string | null;
  @ApiProperty({ type: [String], example: ['sales'] }) tags: string[];
  @ApiProperty({ enum: PHONE_STATUSES }) status: PhoneStatus;
  @ApiProperty({ type: ExotelPhoneDataDto, nullable: true }) exotelData: ExotelPhoneDataDto | null;
  @ApiProperty({ type: AgentConfigPatchDto, nullable: true })
  agentConfigOverride: AgentConfigPatchDto | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
}

export class PhonePageResponse {
  @ApiProperty({ type: [PhoneResponse] }) data: PhoneResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

export class EffectiveConfigResponse {
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d2' }) phoneId: string;
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d1' }) agentId: string;
  @ApiProperty({
    type: AgentConfigDto,
    description: "The agent's config with the phone's override deep-merged",
  })
  config: AgentConfigDto;
}

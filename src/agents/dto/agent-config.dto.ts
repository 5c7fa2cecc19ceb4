import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsObject,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsBoundedPlainObject } from '../../common/validators/bounded-plain-object.validator.js';
import { IsStructuredDataSchema } from '../../common/validators/json-schema.validator.js';
import { IsLanguageCode } from '../../common/validators/language-code.validator.js';
import {
  LLM_MODELS,
  type LlmModel,
  VOICE_PROVIDERS,
  type VoiceProvider,
} from '../schemas/agent-config.schema.js';

export class VoiceConfigDto {
  @ApiProperty({ enum: VOICE_PROVIDERS, example: 'elevenlabs' })
  @IsIn(VOICE_PROVIDERS)
  provider: VoiceProvider;

  @ApiProperty({ example: '21m00Tcm4TlvDq8ikWAM' })
  @IsString()
  @Length(1, 200)
  voiceId: string;

  @ApiPropertyOptional({ example: 'eleven_turbo_v2' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  model?: string;

  @ApiPropertyOptional({
    example: { stability: 0.5, similarityBoost: 0.75 },
    description: 'Provider-specific settings: a plain object, at most 3 levels, 50 keys, 2 KB',
  })
  @IsOptional()
  @IsBoundedPlainObject({ maxDepth: 3, maxKeys: 50, maxBytes: 2048 })
  settings?: Record<string, unknown>;
}

export class LlmConfigDto {
  @ApiProperty({ enum: LLM_MODELS, example: 'gpt-4' })
  @IsIn(LLM_MODELS)
  model: LlmModel;

  @ApiProperty({ minimum: 0, maximum: 2, example: 0.7 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(2)
  temperature: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 4096, example: 500 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(4096)
  maxTokens?: number;
}

export class InterruptionConfigDto {
  @ApiProperty({ example: true })
  @IsBoolean()
  allowed: boolean;
}

export class FlowConfigDto {
  @ApiPropertyOptional({ example: false })
  @IsOptional()
  @IsBoolean()
  userStartFirst?: boolean;

  @ApiPropertyOptional({ type: InterruptionConfigDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => InterruptionConfigDto)
  interruption?: InterruptionConfigDto;

  @ApiPropertyOptional({ minimum: 0, maximum: 5000, example: 500, description: 'Milliseconds' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(5000)
  responseDelay?: number;
}

export class AnalysisConfigDto {
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 2000,
    example:
      'Summarise the call in three sentences: why the customer called, what was agreed, and any follow-up.',
    description: 'How to summarise the call; a default prompt is used when absent',
  })
  @IsOptional()
  @IsString()
  @Length(1, 2000)
  summaryPrompt?: string;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 2000,
    example: 'The call succeeded if the customer booked a service appointment.',
    description: 'When set, the model also judges whether the call succeeded by this rubric',
  })
  @IsOptional()
  @IsString()
  @Length(1, 2000)
  successRubric?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: {
      type: 'object',
      properties: {
        customerName: { type: 'string' },
        appointmentDate: { type: 'string', description: 'YYYY-MM-DD' },
        interested: { type: 'boolean' },
      },
      required: ['interested'],
    },
    description:
      'A JSON Schema (type "object" with properties) of the fields to extract: at most 8 KiB and ' +
      '8 levels, no "$" keys ($ref is not supported), valid in ajv strict mode',
  })
  @IsOptional()
  @IsStructuredDataSchema()
  structuredDataSchema?: Record<string, unknown>;
}

export class AgentConfigDto {
  @ApiProperty({
    minLength: 10,
    maxLength: 5000,
    example: 'You are a helpful customer support agent for XYZ Company.',
  })
  @IsString()
  @Length(10, 5000)
  prompt: string;

  @ApiProperty({ type: VoiceConfigDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => VoiceConfigDto)
  voice: VoiceConfigDto;

  @ApiProperty({ example: 'en-IN', description: 'ISO 639-1 language, optionally with a region' })
  @IsLanguageCode()
  language: string;

  @ApiProperty({ type: LlmConfigDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => LlmConfigDto)
  llm: LlmConfigDto;

  @ApiPropertyOptional({ maxLength: 1000, example: 'Hello! How can I help you today?' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  firstMessage?: string;

  @ApiPropertyOptional({
    minimum: 10,
    maximum: 3600,
    example: 300,
    description: 'Seconds of silence before the session ends',
  })
  @IsOptional()
  @IsInt()
  @Min(10)
  @Max(3600)
  sessionTimeout?: number;

  @ApiPropertyOptional({ type: FlowConfigDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => FlowConfigDto)
  flow?: FlowConfigDto;

  @ApiPropertyOptional({ type: AnalysisConfigDto, description: 'Post-call analysis' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => AnalysisConfigDto)
  analysis?: AnalysisConfigDto;
}

export class VoiceConfigPatchDto extends PartialType(VoiceConfigDto) {}
export class LlmConfigPatchDto extends PartialType(LlmConfigDto) {}
export class FlowConfigPatchDto extends PartialType(FlowConfigDto) {}

/**
 * Any subset of an agent config, nested objects included: agent updates and phone overrides.
 * `analysis` comes through unchanged: every field of AnalysisConfigDto is already optional.
 */
export class AgentConfigPatchDto extends PartialType(
  OmitType(AgentConfigDto, ['voice', 'llm', 'flow'] as const),
) {
  @ApiPropertyOptional({ type: VoiceConfigPatchDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => VoiceConfigPatchDto)
  voice?: VoiceConfigPatchDto;

  @ApiPropertyOptional({ type: LlmConfigPatchDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => LlmConfigPatchDto)
  llm?: LlmConfigPatchDto;

  @ApiPropertyOptional({ type: FlowConfigPatchDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => FlowConfigPatchDto)
  flow?: FlowConfigPatchDto;
}

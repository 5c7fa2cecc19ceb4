import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsMongoId, IsOptional, IsString, Length, ValidateBy } from 'class-validator';
import { PageMetaDto, PaginationQueryDto } from '../../common/pagination/pagination.js';
import { IsBoundedPlainObject } from '../../common/validators/bounded-plain-object.validator.js';
import { type CallVariables, IsCallVariables } from '../call-variables.js';
import {
  CALL_DIRECTIONS,
  CALL_STATUSES,
  type CallDirection,
  type CallStatus,
  PLACEMENT_STATES,
  type PlacementState,
  RECORDING_STATES,
  type RecordingState,
} from '../schemas/call-log.schema.js';

/** The post-call analysis lands at `metadata.analysis`: a caller's own value would be lost. */
function WithoutReservedMetadataKeys(): PropertyDecorator {
  return ValidateBy({
    name: 'withoutReservedMetadataKeys',
    validator: {
      validate: (value: unknown) =>
        typeof value !== 'object' || value === null || !Object.hasOwn(value, 'analysis'),
      defaultMessage: () => 'metadata.analysis is reserved for the post-call analysis',
    },
  });
}

export class CreateCallDto {
  @ApiProperty({
    example: '64f8a1b2c3d4e5f6a7b8c9d2',
    description: 'Your phone number (ExoPhone) to call from',
  })
  @IsMongoId({ message: 'phoneId must be an ObjectId' })
  phoneId: string;

  @ApiProperty({ example: '+919123456789', description: 'The customer, in E.164' })
  @IsString()
  @Length(3, 32)
  to: string;

  @ApiPropertyOptional({
    example: '64f8a1b2c3d4e5f6a7b8c9d1',
    description: "Defaults to the phone's agent",
  })
  @IsOptional()
  @IsMongoId({ message: 'agentId must be an ObjectId' })
  agentId?: string;

  @ApiPropertyOptional({
    example: { customerName: 'John Doe', orderId: 'ORD-12345' },
    description:
      'Your data, kept on the call log and sent with its webhook events (plain object, at most 4 KB; `analysis` is reserved)',
  })
  @IsOptional()
  @IsBoundedPlainObject({ maxDepth: 3, maxKeys: 50, maxBytes: 4096 })
  @WithoutReservedMetadataKeys()
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({
    example: { customerName: 'John', dueDate: '5 December' },
    description:
      "Values for the `{{name}}` placeholders of the agent's prompt and first message (names of " +
      'letters, digits and _; string values of at most 500 characters; at most 50). A placeholder ' +
      'without a value refuses the call (400 CALL_VARIABLES_MISSING, listing them)',
  })
  @IsOptional()
  @IsCallVariables()
  variables?: CallVariables;
}

export class ListCallsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: CALL_STATUSES })
  @IsOptional()
  @IsIn(CALL_STATUSES)
  status?: CallStatus;

  @ApiPropertyOptional({ enum: CALL_DIRECTIONS })
  @IsOptional()
  @IsIn(CALL_DIRECTIONS)
  direction?: CallDirection;

  @ApiPropertyOptional({ example: '64f8a1b2c3d4e5f6a7b8c9d1' })
  @IsOptional()
  @IsMongoId({ message: 'agentId must be an ObjectId' })
  agentId?: string;

  @ApiPropertyOptional({
    example: '+919123456789',
    description: 'Calls from or to this number (E.164)',
  })
  @IsOptional()
  @IsString()
  @Length(3, 32)
  phone?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Created at or after' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'from must be an ISO date' })
  from?: Date;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Created at or before' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'to must be an ISO date' })
  to?: Date;
}

export const STATS_GROUPS = ['day', 'agent', 'status'] as const;
export type StatsGroup = (typeof STATS_GROUPS)[number];

/**
 * Statistics count finalized calls by the UTC day they were created; `from` and `to` select
 * whole days: every day from..to touches, both ends included (the time of day is ignored).
 */
export class CallStatsQueryDto {
  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'First UTC day counted (the day this instant falls on, from 00:00)',
  })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'from must be an ISO date' })
  from?: Date;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Last UTC day counted (the day this instant falls on, to 24:00)',
  })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'to must be an ISO date' })
  to?: Date;

  @ApiPropertyOptional({ enum: STATS_GROUPS, default: 'day' })
  @IsOptional()
  @IsIn(STATS_GROUPS)
  groupBy: StatsGroup = 'day';
}

export class CostBreakdownResponse {
  @ApiProperty({ example: 0.022 }) stt: number;
  @ApiProperty({ example: 0.045 }) llm: number;
  @ApiProperty({ example: 0.0002 }) tts: number;
  @ApiProperty({ example: 0.03 }) telephony: number;
  @ApiProperty({ example: 0.0972 }) total: number;
}

export class CallErrorResponse {
  @ApiProperty({ example: 'EXOTEL_REJECTED' }) code: string;
  @ApiProperty({ example: 'Exotel refused the call: invalid CallerId' }) message: string;
}

export class CallBillingResponse {
  @ApiProperty({ example: 0.0972 }) amount: number;
  @ApiProperty({ example: 0.0972, nullable: true }) charged: number | null;
  @ApiProperty({
    example: 0,
    nullable: true,
    description: 'Part of the cost your balance could not cover',
  })
  shortfall: number | null;
}

export class CallRecordingResponse {
  @ApiProperty({
    enum: RECORDING_STATES,
    description:
      'Our copy of the carrier recording: pending (being copied), stored, missing (gone at the ' +
      'carrier), too-large, failed, deleted (past the retention). GET /calls/:id/recording ' +
      'downloads a stored one',
  })
  state: RecordingState;
  @ApiPropertyOptional({ type: Number, nullable: true, description: 'Bytes' }) size: number | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: 'audio/mpeg' })
  contentType: string | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  storedAt: Date | null;
}

export class CallLogResponse {
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d3' }) id: string;
  @ApiProperty({ example: 'sess_3f9a1c2b7d4e5f60718293a4' }) sessionId: string;
  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d1' }) agentId: string;
  @ApiProperty({ example: '+919876543210' }) fromPhone: string;
  @ApiProperty({ example: '+919123456789' }) toPhone: string;
  @ApiProperty({ enum: CALL_DIRECTIONS }) direction: CallDirection;
  @ApiProperty({ enum: CALL_STATUSES }) status: CallStatus;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  startedAt: Date | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) endedAt: Date | null;
  @ApiPropertyOptional({ type: Number, nullable: true, example: 330 }) durationSec: number | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: 'User: Hello\nAgent: Hi!' })
  transcript?: string | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: "Our copy's location once copied (s3://bucket/key), the carrier's URL before",
  })
  recordingUrl: string | null;
  @ApiPropertyOptional({ type: CallRecordingResponse, nullable: true })
  recording: CallRecordingResponse | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: 'c4b0d3c0a1' }) exotelCallSid:
    string | null;
  @ApiPropertyOptional({ type: CostBreakdownResponse, nullable: true })
  costBreakdown: CostBreakdownResponse | null;
  @ApiPropertyOptional({ type: CallBillingResponse, nullable: true })
  billing: CallBillingResponse | null;
  @ApiPropertyOptional({ type: Object, nullable: true }) metadata: Record<string, unknown> | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: 'The campaign that placed the call (POST /campaigns)',
  })
  campaignId: string | null;
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    description: "The campaign's contact called",
  })
  contactId: string | null;
  @ApiPropertyOptional({ type: CallErrorResponse, nullable: true }) error: CallErrorResponse | null;
  @ApiPropertyOptional({
    enum: PLACEMENT_STATES,
    nullable: true,
    description:
      'Outbound: sending, not-sent, unknown (answer lost, being looked up), placed, failed, withdrawn',
  })
  placement: PlacementState | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  hangupRequestedAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
}

export class CallPageResponse {
  @ApiProperty({ type: [CallLogResponse] }) data: CallLogResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

/** Finalized calls only: a call counts once its end has been settled (charged, agent stats). */
export class CallStatsRow {
  @ApiProperty({ example: '2026-11-24', description: 'The day (UTC), agent id or final status' })
  key: string;
  @ApiProperty({ example: 42 }) count: number;
  @ApiProperty({ example: 12600, description: 'Seconds' }) totalDuration: number;
  @ApiProperty({ example: 300 }) avgDuration: number;
  @ApiProperty({ example: 1.26 }) totalCost: number;
  @ApiProperty({ example: 0.9 }) successRate: number;
}

export class CallStatsResponse {
  @ApiProperty({ enum: STATS_GROUPS }) groupBy: StatsGroup;
  @ApiProperty({ type: [CallStatsRow] }) data: CallStatsRow[];
}

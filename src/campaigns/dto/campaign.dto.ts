import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsDate,
  IsIn,
  IsInt,
  IsMongoId,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsCallVariables } from '../../calls/call-variables.js';
import { PageMetaDto, PaginationQueryDto } from '../../common/pagination/pagination.js';
import { WEEKDAYS, type Weekday } from '../campaign-schedule.js';
import {
  CAMPAIGN_STATUSES,
  type CampaignStatus,
  RETRYABLE_OUTCOMES,
  type RetryableOutcome,
} from '../schemas/campaign.schema.js';
import { CONTACT_STATES, type ContactState } from '../schemas/campaign-contact.schema.js';

const CLOCK = /^([01]\d|2[0-4]):[0-5]\d$/;

export class CallingWindowDto {
  @ApiPropertyOptional({
    enum: WEEKDAYS,
    isArray: true,
    default: WEEKDAYS,
    example: ['mon', 'tue', 'wed', 'thu', 'fri'],
  })
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(WEEKDAYS, { each: true })
  days?: Weekday[];

  @ApiProperty({ example: '09:00', description: 'Local time (HH:MM) the window opens' })
  @IsString()
  @Matches(CLOCK, { message: 'from must be HH:MM' })
  from: string;

  @ApiProperty({ example: '21:00', description: 'Local time (HH:MM, 24:00 = midnight) it closes' })
  @IsString()
  @Matches(CLOCK, { message: 'to must be HH:MM' })
  to: string;
}

export class CampaignScheduleDto {
  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'No call before this instant (default: as soon as started)',
  })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'startAt must be an ISO date' })
  startAt?: Date;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'No call from this instant: contacts still waiting then end as `expired`',
  })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'endAt must be an ISO date' })
  endAt?: Date;

  @ApiPropertyOptional({ example: 'Asia/Kolkata', default: 'Asia/Kolkata' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  timezone?: string;

  @ApiPropertyOptional({
    type: [CallingWindowDto],
    description:
      "Calling windows (default every day 09:00-21:00 in the zone, India's commercial calling hours)",
  })
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(14)
  @ValidateNested({ each: true })
  @Type(() => CallingWindowDto)
  windows?: CallingWindowDto[];
}

export class CampaignRetryDto {
  @ApiPropertyOptional({
    minimum: 0,
    maximum: 10,
    default: 2,
    description: 'Calls after the first',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(10)
  attempts?: number;

  @ApiPropertyOptional({ enum: RETRYABLE_OUTCOMES, isArray: true, default: ['no-answer', 'busy'] })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @IsIn(RETRYABLE_OUTCOMES, { each: true })
  on?: RetryableOutcome[];

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 10080,
    default: 60,
    description: 'Minutes between calls to one contact',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_080)
  spacingMinutes?: number;
}

export class CreateCampaignDto {
  @ApiProperty({ example: 'December payment reminders' })
  @IsString()
  @Length(1, 200)
  name: string;

  @ApiProperty({ example: '64f8a1b2c3d4e5f6a7b8c9d1' })
  @IsMongoId({ message: 'agentId must be an ObjectId' })
  agentId: string;

  @ApiProperty({
    type: [String],
    example: ['64f8a1b2c3d4e5f6a7b8c9d2'],
    description: 'Your phone numbers to call from, used in turn (at most 20)',
  })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(20)
  @ArrayUnique()
  @IsMongoId({ each: true, message: 'phoneIds must hold ObjectIds' })
  phoneIds: string[];

  @ApiPropertyOptional({ type: CampaignScheduleDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CampaignScheduleDto)
  schedule?: CampaignScheduleDto;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 5 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  maxConcurrentCalls?: number;

  @ApiPropertyOptional({ type: CampaignRetryDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CampaignRetryDto)
  retry?: CampaignRetryDto;
}

export class ListCampaignsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: CAMPAIGN_STATUSES })
  @IsOptional()
  @IsIn(CAMPAIGN_STATUSES)
  status?: CampaignStatus;
}

export class ListContactsQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ enum: CONTACT_STATES })
  @IsOptional()
  @IsIn(CONTACT_STATES)
  state?: ContactState;
}

export class CampaignWindowResponse {
  @ApiProperty({ enum: WEEKDAYS, isArray: true }) days: Weekday[];
  @ApiProperty({ example: '09:00' }) from: string;
  @ApiProperty({ example: '21:00' }) to: string;
}

export class CampaignScheduleResponse {
  @ApiProperty({ type: String, format: 'date-time' }) startAt: Date;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true }) endAt: Date | null;
  @ApiProperty({ example: 'Asia/Kolkata' }) timezone: string;
  @ApiProperty({ type: [CampaignWindowResponse] }) windows: CampaignWindowResponse[];
}

export class CampaignRetryResponse {
  @ApiProperty({ example: 2 }) attempts: number;
  @ApiProperty({ enum: RETRYABLE_OUTCOMES, isArray: true }) on: RetryableOutcome[];
  @ApiProperty({ example: 60 }) spacingMinutes: number;
}

export class CampaignReasonResponse {
  @ApiProperty({ example: 'CREDITS_EXHAUSTED' }) code: string;
  @ApiProperty({ example: 'No credits left: top up, then resume the campaign' }) message: string;
}

export class CampaignResponse {
  @ApiProperty({ example: '6750a1b2c3d4e5f6a7b8c9d0' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty() agentId: string;
  @ApiProperty({ type: [String] }) phoneIds: string[];
  @ApiProperty({ type: CampaignScheduleResponse }) schedule: CampaignScheduleResponse;
  @ApiProperty({ example: 5 }) maxConcurrentCalls: number;
  @ApiProperty({ type: CampaignRetryResponse }) retry: CampaignRetryResponse;
  @ApiProperty({ enum: CAMPAIGN_STATUSES }) status: CampaignStatus;
  @ApiPropertyOptional({ type: CampaignReasonResponse, nullable: true })
  statusReason: CampaignReasonResponse | null;
  @ApiProperty({ example: 1200, description: 'Contacts accepted' }) contactCount: number;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  startedAt: Date | null;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  endedAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
}

export class CampaignProgressResponse {
  @ApiProperty({
    example: { pending: 900, dialing: 1, calling: 4, completed: 250, failed: 40, blocked: 5 },
    description: 'Contacts by state (states without contacts are 0)',
  })
  counts: Record<ContactState, number>;
  @ApiProperty({ example: 5, description: 'Calls being started or under way' }) inFlight: number;
  @ApiProperty({ example: 31.5, description: 'What its calls cost so far' }) cost: number;
  @ApiProperty({ example: true, description: 'Inside a calling window now' }) windowOpen: boolean;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  nextWindowAt: Date | null;
  @ApiPropertyOptional({
    type: Number,
    nullable: true,
    example: 5400,
    description:
      'Seconds of calling (inside windows) the contacts still open need at the pace so far; null until calls have ended',
  })
  etaSeconds: number | null;
}

export class CampaignDetailResponse extends CampaignResponse {
  @ApiProperty({ type: CampaignProgressResponse }) progress: CampaignProgressResponse;
}

export class CampaignPageResponse {
  @ApiProperty({ type: [CampaignResponse] }) data: CampaignResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

export class ContactInputDto {
  @ApiProperty({
    example: '98765 43210',
    description: 'E.164, or an Indian number as dialled locally',
  })
  @IsString()
  @Length(1, 32)
  phone: string;

  @ApiPropertyOptional({
    example: { customerName: 'Asha', amountDue: '₹1,200' },
    description: "Values for the agent's `{{name}}` placeholders",
  })
  @IsOptional()
  @IsCallVariables()
  variables?: Record<string, string>;
}

export class AddContactsDto {
  @ApiProperty({ type: [ContactInputDto], description: 'At most 1000 per request (CSV for more)' })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => ContactInputDto)
  contacts: ContactInputDto[];
}

export class InvalidRowResponse {
  @ApiProperty({
    example: 17,
    description: 'CSV: the line in the file (the header is 1); JSON: index + 1',
  })
  row: number;
  @ApiProperty({ example: 'phone "12345" is not a valid number' }) reason: string;
}

export class ContactImportResponse {
  @ApiProperty({ example: 1000 }) rows: number;
  @ApiProperty({ example: 990 }) accepted: number;
  @ApiProperty({ example: 4, description: 'Already in the campaign (or repeated in the upload)' })
  duplicate: number;
  @ApiProperty({ example: 3 }) invalid: number;
  @ApiProperty({ example: 3, description: 'On your do-not-call list: skipped' }) blocked: number;
  @ApiProperty({ type: [InvalidRowResponse], description: 'The first 100 invalid rows' })
  invalidRows: InvalidRowResponse[];
}

export class ContactResponse {
  @ApiProperty() id: string;
  @ApiProperty({ example: '+919876543210' }) phone: string;
  @ApiPropertyOptional({ type: Object, nullable: true }) variables: Record<string, string> | null;
  @ApiPropertyOptional({ type: Number, nullable: true }) row: number | null;
  @ApiProperty({ enum: CONTACT_STATES }) state: ContactState;
  @ApiProperty({ example: 1 }) attempts: number;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  nextAttemptAt: Date | null;
  @ApiPropertyOptional({ type: String, nullable: true }) callId: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, example: 'completed' })
  lastStatus: string | null;
  @ApiPropertyOptional({ type: String, nullable: true }) lastError: string | null;
  @ApiProperty({ example: 0.42 }) cost: number;
  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true })
  finishedAt: Date | null;
}

export class ContactPageResponse {
  @ApiProperty({ type: [ContactResponse] }) data: ContactResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

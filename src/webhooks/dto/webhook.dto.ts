import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsMongoId,
  IsOptional,
  IsString,
  Length,
  MaxLength,
} from 'class-validator';
import { PageMetaDto, PaginationQueryDto } from '../../common/pagination/pagination.js';
import {
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDeliveryStatus,
} from '../schemas/webhook-delivery.schema.js';
import {
  type DeliveredEventType,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_PING,
  type WebhookEventType,
} from '../webhook-event-types.js';

const MAX_AGENT_FILTER = 50;

export class CreateWebhookEndpointDto {
  @ApiProperty({
    example: 'https://crm.example.com/hooks/calls',
    description:
      'Where events are POSTed: https in production, no credentials, at most 2048 characters; it must resolve to public addresses',
  })
  @IsString()
  @Length(1, 2048)
  url: string;

  @ApiProperty({
    enum: WEBHOOK_EVENT_TYPES,
    isArray: true,
    example: ['call.status', 'call.ended', 'call.analyzed'],
    description: '`transcript.message` sends every final message live (off unless listed)',
  })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true })
  events: WebhookEventType[];

  @ApiPropertyOptional({
    type: [String],
    example: ['64f8a1b2c3d4e5f6a7b8c9d1'],
    description: 'Only calls of these agents (yours); absent or empty = every agent',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_AGENT_FILTER)
  @ArrayUnique()
  @IsMongoId({ each: true, message: 'agentIds must hold ObjectIds' })
  agentIds?: string[];

  @ApiPropertyOptional({ example: 'CRM sync', maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  description?: string;
}

export class UpdateWebhookEndpointDto extends PartialType(CreateWebhookEndpointDto) {
  @ApiPropertyOptional({
    example: true,
    description: 'Re-enabling an endpoint the platform disabled also clears its failure record',
  })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class WebhookEndpointResponse {
  @ApiProperty() id: string;
  @ApiProperty() url: string;
  @ApiProperty({ type: String, nullable: true }) description: string | null;
  @ApiProperty({ enum: WEBHOOK_EVENT_TYPES, isArray: true }) events: WebhookEventType[];
  @ApiProperty({ type: [String], nullable: true }) agentIds: string[] | null;
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: String, nullable: true, description: 'Why the platform disabled it' })
  disabledReason: string | null;
  @ApiProperty({ type: Date, nullable: true }) disabledAt: Date | null;
  @ApiProperty({
    type: Date,
    nullable: true,
    description: 'First failed attempt since the last delivered one',
  })
  failingSince: Date | null;
  @ApiProperty({
    type: Date,
    nullable: true,
    description: 'Until then the rotated-out secret also signs',
  })
  previousSecretExpiresAt: Date | null;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

export class WebhookEndpointWithSecretResponse extends WebhookEndpointResponse {
  @ApiProperty({
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    description:
      'The signing secret: shown only now. Verify deliveries with any Standard Webhooks library',
  })
  secret: string;
}

export class WebhookEndpointPageResponse {
  @ApiProperty({ type: [WebhookEndpointResponse] }) data: WebhookEndpointResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

const DELIVERED_TYPES: readonly DeliveredEventType[] = [...WEBHOOK_EVENT_TYPES, WEBHOOK_PING];

export class ListDeliveriesQueryDto extends PaginationQueryDto {
  @ApiPropertyOptional({ example: '64f8a1b2c3d4e5f6a7b8c9d1' })
  @IsOptional()
  @IsMongoId({ message: 'endpointId must be an ObjectId' })
  endpointId?: string;

  @ApiPropertyOptional({ enum: DELIVERED_TYPES })
  @IsOptional()
  @IsIn(DELIVERED_TYPES)
  event?: DeliveredEventType;

  @ApiPropertyOptional({ enum: WEBHOOK_DELIVERY_STATUSES })
  @IsOptional()
  @IsIn(WEBHOOK_DELIVERY_STATUSES)
  status?: WebhookDeliveryStatus;
}

export class WebhookDeliveryResponse {
  @ApiProperty() id: string;
  @ApiProperty() endpointId: string;
  @ApiProperty({ example: 'evt_65a1b2c3d4e5f6a7b8c9d0e1', description: 'The webhook-id header' })
  eventId: string;
  @ApiProperty({ enum: DELIVERED_TYPES }) eventType: string;
  @ApiProperty({ type: String, nullable: true }) callId: string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Per call, from 1' })
  sequence: number | null;
  @ApiProperty({ enum: WEBHOOK_DELIVERY_STATUSES }) status: WebhookDeliveryStatus;
  @ApiProperty() attempts: number;
  @ApiProperty() maxAttempts: number;
  @ApiProperty({ type: Number, nullable: true }) lastStatusCode: number | null;
  @ApiProperty({ type: String, nullable: true }) lastError: string | null;
  @ApiProperty({ type: [Number], description: "Each attempt's duration (ms)" })
  durationsMs: number[];
  @ApiProperty({ type: Date, nullable: true }) lastAttemptAt: Date | null;
  @ApiProperty({ type: Date, nullable: true }) nextAttemptAt: Date | null;
  @ApiProperty({ type: Date, nullable: true }) deliveredAt: Date | null;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

export class WebhookDeliveryWithBodyResponse extends WebhookDeliveryResponse {
  @ApiProperty({ description: 'The JSON body as sent (the same on every attempt)' })
  body: string;
}

export class WebhookDeliveryPageResponse {
  @ApiProperty({ type: [WebhookDeliveryResponse] }) data: WebhookDeliveryResponse[];
  @ApiProperty({ type: PageMetaDto }) meta: PageMetaDto;
}

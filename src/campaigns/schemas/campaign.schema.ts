import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { WEEKDAYS, type Weekday } from '../campaign-schedule.js';

export const CAMPAIGN_STATUSES = [
  'draft',
  'scheduled',
  'running',
  'paused',
  'completed',
  'canceled',
] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** The call outcomes a campaign may retry. */
export const RETRYABLE_OUTCOMES = ['no-answer', 'busy', 'failed'] as const;
export type RetryableOutcome = (typeof RETRYABLE_OUTCOMES)[number];

export const CAMPAIGN_EVENT_TYPES = ['campaign.status', 'campaign.completed'] as const;
export type CampaignEventType = (typeof CAMPAIGN_EVENT_TYPES)[number];

@Schema({ _id: false })
export class CampaignWindow {
  @Prop({ type: [String], required: true, enum: WEEKDAYS }) days: Weekday[];
  /** HH:MM, local time of the schedule's zone. */
  @Prop({ type: String, required: true }) from: string;
  @Prop({ type: String, required: true }) to: string;
}

@Schema({ _id: false })
export class CampaignScheduleSettings {
  @Prop({ type: Date, required: true }) startAt: Date;
  @Prop({ type: Date }) endAt?: Date;
  /** IANA time zone of the windows. */
  @Prop({ type: String, required: true }) timezone: string;
  @Prop({ type: [SchemaFactory.createForClass(CampaignWindow)], required: true })
  windows: CampaignWindow[];
}

@Schema({ _id: false })
export class CampaignRetry {
  /** Calls after the first one, at most. */
  @Prop({ type: Number, required: true, min: 0, max: 10 }) attempts: number;
  @Prop({ type: [String], required: true, enum: RETRYABLE_OUTCOMES }) on: RetryableOutcome[];
  @Prop({ type: Number, required: true, min: 1 }) spacingMinutes: number;
}

/** Why the campaign is paused or ended, when not by its owner. */
@Schema({ _id: false })
export class CampaignStatusReason {
  @Prop({ type: String, required: true }) code: string;
  @Prop({ type: String, required: true }) message: string;
}

/** An event for the customer's webhooks, recorded with the change that causes it (outbox). */
@Schema({ _id: false })
export class CampaignWebhookEvent {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true }) eventId: Types.ObjectId;
  @Prop({ type: String, required: true, enum: CAMPAIGN_EVENT_TYPES }) type: CampaignEventType;
  @Prop({ type: Date, required: true }) occurredAt: Date;
  @Prop({ type: String, required: true, enum: CAMPAIGN_STATUSES }) status: CampaignStatus;
  @Prop({ type: SchemaFactory.createForClass(CampaignStatusReason) })
  reason?: CampaignStatusReason;
}

/**
 * A list of people to call with one agent, inside calling windows, at a bounded pace. Its
 * contacts are in `campaigncontacts`; the dispatcher starts their calls.
 */
@Schema({ collection: 'campaigns', timestamps: true })
export class Campaign {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: String, required: true, maxlength: 200 }) name: string;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'Agent' })
  agentId: Types.ObjectId;
  /** The caller ids, used in turn. */
  @Prop({ type: [MongooseSchema.Types.ObjectId], required: true })
  phoneIds: Types.ObjectId[];
  @Prop({ type: SchemaFactory.createForClass(CampaignScheduleSettings), required: true })
  schedule: CampaignScheduleSettings;
  @Prop({ type: Number, required: true, min: 1 }) maxConcurrentCalls: number;
  @Prop({ type: SchemaFactory.createForClass(CampaignRetry), required: true })
  retry: CampaignRetry;
  @Prop({ type: String, required: true, enum: CAMPAIGN_STATUSES, default: 'draft' })
  status: CampaignStatus;
  @Prop({ type: SchemaFactory.createForClass(CampaignStatusReason) })
  statusReason?: CampaignStatusReason;
  /** Contacts accepted so far (bounded by CAMPAIGN_MAX_CONTACTS). */
  @Prop({ type: Number, required: true, min: 0, default: 0 }) contactCount: number;
  @Prop({ type: Date }) startedAt?: Date;
  @Prop({ type: Date }) endedAt?: Date;
  /** When a dispatcher last started calls for it: the least recent goes first (fairness). */
  @Prop({ type: Date }) lastDispatchAt?: Date;
  @Prop({ type: [SchemaFactory.createForClass(CampaignWebhookEvent)], default: undefined })
  webhookEvents?: CampaignWebhookEvent[];
  @Prop({ type: Number, min: 0 }) webhookDispatched?: number;
  @Prop({ type: Boolean }) webhookPending?: boolean;
}

export type CampaignDocument = Campaign & {
  _id: Types.ObjectId;
  createdAt: Date;
  updatedAt: Date;
};

export const CampaignSchema = SchemaFactory.createForClass(Campaign);
CampaignSchema.index({ userId: 1, createdAt: -1 });
CampaignSchema.index({ status: 1, lastDispatchAt: 1 });
CampaignSchema.index({ webhookPending: 1 });

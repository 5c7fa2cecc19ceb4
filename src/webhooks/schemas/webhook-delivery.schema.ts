import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/**
 * One event for one endpoint (unique pair), with every attempt's outcome: the delivery log the
 * customer queries and replays. The body is kept as sent, so a redelivery is byte-identical
 * (same `webhook-id`, fresh timestamp and signature).
 */
@Schema({ collection: 'webhookdeliveries', timestamps: true })
export class WebhookDelivery {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true }) endpointId: Types.ObjectId;
  /** `evt_…`: the `webhook-id` header and the body's `id`. */
  @Prop({ type: String, required: true }) eventId: string;
  @Prop({ type: String, required: true }) eventType: string;
  @Prop({ type: MongooseSchema.Types.ObjectId }) callLogId?: Types.ObjectId;
  @Prop({ type: Number }) sequence?: number;
  @Prop({ type: String, required: true }) body: string;
  @Prop({ type: String, required: true, enum: WEBHOOK_DELIVERY_STATUSES, default: 'pending' })
  status: WebhookDeliveryStatus;
  @Prop({ type: Number, required: true, default: 0 }) attempts: number;
  /** Attempts allowed in all (a redelivery allows one more). */
  @Prop({ type: Number, required: true }) maxAttempts: number;
  @Prop({ type: Number }) lastStatusCode?: number;
  @Prop({ type: String }) lastError?: string;
  /** Each attempt's duration (ms), in order. */
  @Prop({ type: [Number], default: [] }) durationsMs: number[];
  @Prop({ type: Date }) lastAttemptAt?: Date;
  @Prop({ type: Date }) nextAttemptAt?: Date;
  /** While an attempt is in flight: no other worker sends this delivery before then. */
  @Prop({ type: Date }) claimedUntil?: Date;
  @Prop({ type: Date }) deliveredAt?: Date;
}

export type WebhookDeliveryDocument = WebhookDelivery & {
  _id: Types.ObjectId;
  createdAt: Date;
  updatedAt: Date;
};

export const WebhookDeliverySchema = SchemaFactory.createForClass(WebhookDelivery);
WebhookDeliverySchema.index({ eventId: 1, endpointId: 1 }, { unique: true });
WebhookDeliverySchema.index({ userId: 1, createdAt: -1 });
WebhookDeliverySchema.index({ endpointId: 1, createdAt: -1 });
WebhookDeliverySchema.index({ status: 1, nextAttemptAt: 1 });
WebhookDeliverySchema.index({ createdAt: 1 });

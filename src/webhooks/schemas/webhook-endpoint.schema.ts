import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhook-event-types.js';

/** A secret replaced by a rotation: it still signs deliveries until `expiresAt`. */
@Schema({ _id: false })
export class RetiredWebhookSecret {
  /** Sealed like every secret at rest (SecretBoxService, owner = the endpoint id). */
  @Prop({ type: String, required: true }) sealed: string;
  @Prop({ type: Date, required: true }) expiresAt: Date;
}

/**
 * A customer's server that receives events. The signing secret is sealed at rest and shown
 * only when created or rotated.
 */
@Schema({ collection: 'webhookendpoints', timestamps: true })
export class WebhookEndpoint {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: String, required: true, maxlength: 2048 }) url: string;
  @Prop({ type: String, maxlength: 200 }) description?: string;
  @Prop({ type: [String], required: true, enum: WEBHOOK_EVENT_TYPES })
  events: WebhookEventType[];
  /** Only events of these agents; absent = every agent of the user. */
  @Prop({ type: [MongooseSchema.Types.ObjectId], default: undefined })
  agentIds?: Types.ObjectId[];
  @Prop({ type: Boolean, required: true, default: true }) enabled: boolean;
  @Prop({ type: String, required: true }) secret: string;
  @Prop({ type: SchemaFactory.createForClass(RetiredWebhookSecret) })
  previousSecret?: RetiredWebhookSecret;
  /** The first failed attempt since the last delivered one: past the limit, the endpoint is disabled. */
  @Prop({ type: Date }) failingSince?: Date;
  @Prop({ type: String }) disabledReason?: string;
  @Prop({ type: Date }) disabledAt?: Date;
}

export type WebhookEndpointDocument = WebhookEndpoint & {
  _id: Types.ObjectId;
  createdAt: Date;
  updatedAt: Date;
};

export const WebhookEndpointSchema = SchemaFactory.createForClass(WebhookEndpoint);
WebhookEndpointSchema.index({ userId: 1, createdAt: -1 });

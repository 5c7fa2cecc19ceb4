import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { CALL_STATUSES, type CallStatus } from '../../calls/schemas/call-log.schema.js';

/**
 * `pending`: waiting for its next attempt (`nextAttemptAt`); `dialing`: claimed by a dispatcher
 * that is starting its call; `calling`: its call is under way; then one of the ends:
 * `completed` (answered), `failed` (not reached after every attempt allowed), `blocked` (on the
 * do-not-call list), `canceled` (the campaign was), `expired` (the campaign's end came first).
 */
export const CONTACT_STATES = [
  'pending',
  'dialing',
  'calling',
  'completed',
  'failed',
  'blocked',
  'canceled',
  'expired',
] as const;
export type ContactState = (typeof CONTACT_STATES)[number];
export const OPEN_CONTACT_STATES: readonly ContactState[] = ['pending', 'dialing', 'calling'];

/** A dispatcher's hold on one attempt of the contact. */
@Schema({ _id: false })
export class ContactClaim {
  @Prop({ type: String, required: true }) token: string;
  @Prop({ type: Date, required: true }) at: Date;
}

@Schema({ collection: 'campaigncontacts', timestamps: true })
export class CampaignContact {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'Campaign' })
  campaignId: Types.ObjectId;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  /** E.164 */
  @Prop({ type: String, required: true }) phone: string;
  @Prop({ type: MongooseSchema.Types.Mixed }) variables?: Record<string, string>;
  /** Its line in the uploaded CSV (the header is line 1), or its place in a JSON batch (from 1). */
  @Prop({ type: Number, min: 1 }) row?: number;
  /** The CSV upload that brought it (taken back if that upload is refused part-way). */
  @Prop({ type: MongooseSchema.Types.ObjectId }) importId?: Types.ObjectId;
  @Prop({ type: String, required: true, enum: CONTACT_STATES, default: 'pending' })
  state: ContactState;
  /** Attempts claimed so far; the current one's number while dialing or calling. */
  @Prop({ type: Number, required: true, min: 0, default: 0 }) attempts: number;
  @Prop({ type: Date, required: true }) nextAttemptAt: Date;
  @Prop({ type: SchemaFactory.createForClass(ContactClaim) }) claim?: ContactClaim;
  /** The call of the current or last attempt. */
  @Prop({ type: MongooseSchema.Types.ObjectId }) callLogId?: Types.ObjectId;
  /** The final status of the last call. */
  @Prop({ type: String, enum: CALL_STATUSES }) lastStatus?: CallStatus;
  /** Why the last attempt made no call, or why the contact ended without one. */
  @Prop({ type: String }) lastError?: string;
  /** What its calls cost so far. */
  @Prop({ type: Number, required: true, min: 0, default: 0 }) cost: number;
  /** Seconds its calls lasted, all attempts together (the pace estimate's input). */
  @Prop({ type: Number, min: 0 }) callSeconds?: number;
  @Prop({ type: Date }) finishedAt?: Date;
}

export type CampaignContactDocument = CampaignContact & {
  _id: Types.ObjectId;
  createdAt: Date;
  updatedAt: Date;
};

export const CampaignContactSchema = SchemaFactory.createForClass(CampaignContact);
CampaignContactSchema.index({ campaignId: 1, phone: 1 }, { unique: true });
CampaignContactSchema.index({ campaignId: 1, state: 1, nextAttemptAt: 1 });
CampaignContactSchema.index({ campaignId: 1, _id: 1 });
CampaignContactSchema.index({ userId: 1, phone: 1, state: 1 });
CampaignContactSchema.index({ state: 1, 'claim.at': 1 });

import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../webhooks/webhook-event-types.js';

export const CALL_STATUSES = [
  'initiated',
  'ringing',
  'in-progress',
  'completed',
  'failed',
  'no-answer',
  'busy',
  'canceled',
  'user-ended',
  'agent-ended',
] as const;
export type CallStatus = (typeof CALL_STATUSES)[number];
export const TERMINAL_CALL_STATUSES: readonly CallStatus[] = [
  'completed',
  'failed',
  'no-answer',
  'busy',
  'canceled',
  'user-ended',
  'agent-ended',
];
export const CALL_DIRECTIONS = ['inbound', 'outbound'] as const;
export type CallDirection = (typeof CALL_DIRECTIONS)[number];

@Schema({ _id: false })
export class CostBreakdown {
  @Prop({ type: Number, required: true, min: 0 }) stt: number;
  @Prop({ type: Number, required: true, min: 0 }) llm: number;
  @Prop({ type: Number, required: true, min: 0 }) tts: number;
  @Prop({ type: Number, required: true, min: 0 }) telephony: number;
  @Prop({ type: Number, required: true, min: 0 }) total: number;
}

@Schema({ _id: false })
export class CallError {
  @Prop({ type: String, required: true }) code: string;
  @Prop({ type: String, required: true }) message: string;
}

export const SETTLEMENT_STATES = ['pending', 'applied', 'done'] as const;
export type SettlementState = (typeof SETTLEMENT_STATES)[number];

/**
 * Charging progress of a finished call: `pending` = amount fixed (with the terminal status, or
 * before the charge), so a retry charges the same amount; `done` = charged and the call
 * finalized. `applied` (credits taken, call not finalized yet) is only found on calls a crash
 * cut short before finalization recorded the two steps in one write.
 */
@Schema({ _id: false })
export class CallBilling {
  @Prop({ type: String, required: true, enum: SETTLEMENT_STATES }) state: SettlementState;
  @Prop({ type: Number, required: true, min: 0 }) amount: number;
  @Prop({ type: Number, min: 0 }) charged?: number;
  /** What the user's balance could not cover. */
  @Prop({ type: Number, min: 0 }) shortfall?: number;
}

export const PLACEMENT_STATES = [
  'sending',
  'not-sent',
  'unknown',
  'placed',
  'failed',
  'withdrawn',
] as const;
export type PlacementState = (typeof PLACEMENT_STATES)[number];

/**
 * Progress of asking Exotel to ring an outbound call, so that a person is rung at most once:
 * `sending` = claimed, the connect request may be in flight; `not-sent` = Exotel certainly did
 * not act on it (refused connection, 429), so it may be sent again; `unknown` = the answer was
 * lost (timeout, 5xx): Exotel is asked before anything else happens; `placed` = Exotel has the
 * call; `failed` = it will not be placed; `withdrawn` = a hang-up or the reconciliation took
 * the call before any request was sent, so none ever will be.
 */
@Schema({ _id: false })
export class CallPlacement {
  @Prop({ type: String, required: true, enum: PLACEMENT_STATES }) state: PlacementState;
  /** Connect requests sent (at most one unless Exotel certainly did not act on the earlier). */
  @Prop({ type: Number, min: 0 }) requests?: number;
  @Prop({ type: Date }) claimedAt?: Date;
}

/** The reconciliation job's record of a call it could not settle, so it backs off instead of stalling. */
@Schema({ _id: false })
export class CallReconcileState {
  @Prop({ type: Number, required: true, min: 0 }) attempts: number;
  @Prop({ type: Date, required: true }) nextAt: Date;
  @Prop({ type: String }) lastError?: string;
}

/**
 * An event for the customer's webhooks, recorded in the same atomic write as the change that
 * causes it (the call log is its outbox): a crash after the write cannot lose it, since the
 * sweep dispatches whatever is recorded past `webhookDispatched`. Its place in the array is its
 * per-call sequence number (from 1), so entries are only ever appended.
 */
@Schema({ _id: false })
export class CallWebhookEvent {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true }) eventId: Types.ObjectId;
  @Prop({ type: String, required: true, enum: WEBHOOK_EVENT_TYPES }) type: WebhookEventType;
  @Prop({ type: Date, required: true }) occurredAt: Date;
  /** `call.status`: the status the call moved to. */
  @Prop({ type: String, enum: CALL_STATUSES }) status?: CallStatus;
  /** `transcript.message`: the conversation turn (conversationturns). */
  @Prop({ type: MongooseSchema.Types.ObjectId }) turnId?: Types.ObjectId;
}

export const RECORDING_STATES = [
  'pending',
  'stored',
  'missing',
  'too-large',
  'failed',
  'deleted',
] as const;
export type RecordingState = (typeof RECORDING_STATES)[number];

/**
 * Our copy of the carrier's recording. `pending` until the copy job ends; `stored` with the
 * object's key; `missing` (the carrier no longer has it), `too-large` (over
 * RECORDING_MAX_BYTES), `failed` (every attempt failed, `error` says why); `deleted` once the
 * retention job removed the copy.
 */
@Schema({ _id: false })
export class CallRecording {
  @Prop({ type: String, required: true, enum: RECORDING_STATES }) state: RecordingState;
  /** The carrier's URL the copy is made from. */
  @Prop({ type: String, required: true }) sourceUrl: string;
  /** The object's key in the recordings storage. */
  @Prop({ type: String }) key?: string;
  @Prop({ type: Number, min: 0 }) size?: number;
  @Prop({ type: String }) contentType?: string;
  @Prop({ type: Date }) storedAt?: Date;
  @Prop({ type: Date }) deletedAt?: Date;
  @Prop({ type: String }) error?: string;
}

@Schema({ collection: 'calllogs', timestamps: true })
export class CallLog {
  @Prop({ type: String, required: true }) sessionId: string;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'Agent' })
  agentId: Types.ObjectId;
  @Prop({ type: String, required: true }) fromPhone: string;
  @Prop({ type: String, required: true }) toPhone: string;
  @Prop({ type: String, required: true, enum: CALL_DIRECTIONS }) direction: CallDirection;
  @Prop({ type: String, required: true, enum: CALL_STATUSES, default: 'initiated' })
  status: CallStatus;
  @Prop({ type: Date }) startedAt?: Date;
  @Prop({ type: Date }) endedAt?: Date;
  @Prop({ type: Number, min: 0 }) durationSec?: number;
  @Prop({ type: String }) transcript?: string;
  @Prop({ type: String }) recordingUrl?: string;
  @Prop({ type: String }) exotelCallSid?: string;
  @Prop({ type: SchemaFactory.createForClass(CostBreakdown) }) costBreakdown?: CostBreakdown;
  @Prop({ type: MongooseSchema.Types.Mixed }) metadata?: Record<string, unknown>;
  /** The campaign that placed the call and the contact it called (campaign calls only). */
  @Prop({ type: MongooseSchema.Types.ObjectId }) campaignId?: Types.ObjectId;
  @Prop({ type: MongooseSchema.Types.ObjectId }) contactId?: Types.ObjectId;
  @Prop({ type: SchemaFactory.createForClass(CallError) }) error?: CallError;
  @Prop({ type: SchemaFactory.createForClass(CallBilling) }) billing?: CallBilling;
  /** Progress of adding this call to its agent's stats and the daily roll-up (as billing). */
  @Prop({ type: String, enum: SETTLEMENT_STATES }) agentStatsState?: SettlementState;
  @Prop({ type: SchemaFactory.createForClass(CallPlacement) }) placement?: CallPlacement;
  @Prop({ type: SchemaFactory.createForClass(CallReconcileState) }) reconcile?: CallReconcileState;
  /** When POST /calls/:id/hangup asked the carrier to end the call. */
  @Prop({ type: Date }) hangupRequestedAt?: Date;
  /** Set when every end-of-call step (session, transcript, charge, stats) is complete (server time). */
  @Prop({ type: Date }) finalizedAt?: Date;
  /**
   * True from finalization until the marker sweep removed this call's markers from the user,
   * the agent and the roll-up document (MARKER_RETENTION_MS after `finalizedAt`).
   */
  @Prop({ type: Boolean }) markersPending?: boolean;
  /** Webhook events of this call, in order (only while the user has an endpoint for them). */
  @Prop({ type: [SchemaFactory.createForClass(CallWebhookEvent)], default: undefined })
  webhookEvents?: CallWebhookEvent[];
  /** How many of `webhookEvents` were handed to the delivery queue. */
  @Prop({ type: Number, min: 0 }) webhookDispatched?: number;
  /** The post-call analysis is due and not done yet (set when the call is finalized). */
  @Prop({ type: Boolean }) analysisPending?: boolean;
  /** The copy of the carrier's recording (absent for a call without one). */
  @Prop({ type: SchemaFactory.createForClass(CallRecording) }) recording?: CallRecording;
  /** The recording copy is due and not done yet (set when the call is finalized). */
  @Prop({ type: Boolean }) recordingPending?: boolean;
  /** Set with every recorded event, cleared once all are dispatched: what the sweep looks for. */
  @Prop({ type: Boolean }) webhookPending?: boolean;
}

export type CallLogDocument = CallLog & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };

export const CallLogSchema = SchemaFactory.createForClass(CallLog);
CallLogSchema.index({ sessionId: 1 }, { unique: true });
CallLogSchema.index({ userId: 1, createdAt: -1 });
CallLogSchema.index({ agentId: 1, createdAt: -1 });
CallLogSchema.index({ status: 1, createdAt: -1 });
CallLogSchema.index({ direction: 1, createdAt: -1 });
CallLogSchema.index({ fromPhone: 1 });
CallLogSchema.index({ toPhone: 1 });
CallLogSchema.index({ exotelCallSid: 1 });
CallLogSchema.index({ startedAt: -1, endedAt: -1 });

import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';

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
  @Prop({ type: SchemaFactory.createForClass(CallError) }) error?: CallError;
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

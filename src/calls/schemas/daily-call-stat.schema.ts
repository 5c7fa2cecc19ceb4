import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { CALL_STATUSES, type CallStatus } from './call-log.schema.js';

export const DAILY_CALL_STATS_COLLECTION = 'dailycallstats';

/**
 * One user's finalized calls of one UTC day, one agent and one final status, summed: what
 * GET /calls/stats folds, so a statistics request reads a few hundred small documents whatever
 * the number of calls. Call finalization adds each call once (`$inc`, fenced like the agent
 * stats); migration 005 built it from the calls finalized before it existed.
 *
 * The day is the call's `createdAt` day as a 'YYYY-MM-DD' string: the very key the API answers,
 * ordered and range-compared as text, with no time zone for a reader or a tool to get wrong.
 */
@Schema({ collection: DAILY_CALL_STATS_COLLECTION, versionKey: false })
export class DailyCallStat {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: String, required: true }) day: string;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'Agent' })
  agentId: Types.ObjectId;
  @Prop({ type: String, required: true, enum: CALL_STATUSES }) status: CallStatus;
  @Prop({ type: Number, required: true, default: 0 }) count: number;
  @Prop({ type: Number, required: true, default: 0 }) durationSec: number;
  @Prop({ type: Number, required: true, default: 0 }) cost: number;
  @Prop({ type: Number, required: true, default: 0 }) successes: number;
  /** Calls added but not yet settled by their finalizer (the exactly-once marker). */
  @Prop({ type: [String], default: undefined }) pendingCallIds?: string[];
}

export type DailyCallStatDocument = DailyCallStat & { _id: Types.ObjectId };

export const DailyCallStatSchema = SchemaFactory.createForClass(DailyCallStat);
DailyCallStatSchema.index({ userId: 1, day: 1 });
DailyCallStatSchema.index({ userId: 1, day: 1, agentId: 1, status: 1 }, { unique: true });

/** The UTC day of `date` as the roll-up keys it. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

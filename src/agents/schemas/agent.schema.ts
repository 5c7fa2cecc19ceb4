import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { type AgentConfig, AgentConfigSchema } from './agent-config.schema.js';

@Schema({ _id: false })
export class AgentStats {
  @Prop({ type: Number, required: true, default: 0 }) totalCalls: number;
  @Prop({ type: Number, required: true, default: 0 }) totalDuration: number;
  @Prop({ type: Number, required: true, default: 0 }) avgDuration: number;
  @Prop({ type: Number, required: true, default: 0 }) successRate: number;
  /** Calls that ended normally (completed, user-ended, agent-ended): the numerator of successRate. */
  @Prop({ type: Number, default: 0 }) successfulCalls?: number;
}

/** Mean call length in seconds, to the hundredth. */
export const averageDuration = (totalDuration: number, totalCalls: number): number =>
  totalCalls === 0 ? 0 : Math.round((totalDuration / totalCalls) * 100) / 100;

/** Share of calls that ended normally, to four places. */
export const successRate = (successfulCalls: number, totalCalls: number): number =>
  totalCalls === 0 ? 0 : Math.round((successfulCalls / totalCalls) * 10_000) / 10_000;

/**
 * The stats as responses show them: averages derived from the totals, which finalization
 * keeps exact (the stored averages may lag by a call counted concurrently). Stats from before
 * `successfulCalls` was kept have only their stored success rate.
 */
export function currentAgentStats(stats: AgentStats | undefined): AgentStats {
  if (!stats) {
    return zeroAgentStats();
  }
  return {
    ...stats,
    avgDuration: averageDuration(stats.totalDuration, stats.totalCalls),
    successRate:
      stats.successfulCalls === undefined
        ? stats.successRate
        : successRate(stats.successfulCalls, stats.totalCalls),
  };
}

export const zeroAgentStats = (): AgentStats => ({
  totalCalls: 0,
  totalDuration: 0,
  avgDuration: 0,
  successRate: 0,
});

@Schema({ collection: 'agents', timestamps: true })
export class Agent {
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: String, required: true, minlength: 1, maxlength: 100, trim: true }) name: string;
  @Prop({ type: AgentConfigSchema, required: true }) config: AgentConfig;
  @Prop({ type: Boolean, required: true, default: true }) isActive: boolean;
  @Prop({
    type: SchemaFactory.createForClass(AgentStats),
    default: zeroAgentStats,
  })
  stats?: AgentStats;
  /** Calls whose stats were added but not yet settled: exactly-once stats updates. */
  @Prop({ type: [String], default: undefined }) pendingStatCallIds?: string[];
}

export type AgentDocument = Agent & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };

export const AgentSchema = SchemaFactory.createForClass(Agent);
AgentSchema.index({ userId: 1, createdAt: -1 });
AgentSchema.index({ userId: 1, isActive: 1 });
AgentSchema.index({ name: 'text' });

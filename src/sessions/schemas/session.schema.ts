import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema, type Types } from 'mongoose';
import { type AgentConfig, AgentConfigSchema } from '../../agents/schemas/agent-config.schema.js';

export const MESSAGE_ROLES = ['user', 'assistant', 'system'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];
export const SESSION_STATUSES = ['active', 'ended'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

@Schema({ _id: false })
export class ConversationMessage {
  @Prop({ type: String, required: true, enum: MESSAGE_ROLES }) role: MessageRole;
  @Prop({ type: String, required: true }) content: string;
  @Prop({ type: Date, required: true }) timestamp: Date;
}

/** Usage counters the voice runtime reports; they price the call's AI part. */
@Schema({ _id: false })
export class SessionUsage {
  @Prop({ type: Number, default: 0, min: 0 }) sttSeconds: number;
  /** Prompt and completion tokens together (what the LLM rate prices). */
  @Prop({ type: Number, default: 0, min: 0 }) llmTokens: number;
  @Prop({ type: Number, default: 0, min: 0 }) llmPromptTokens: number;
  @Prop({ type: Number, default: 0, min: 0 }) llmCompletionTokens: number;
  @Prop({ type: Number, default: 0, min: 0 }) ttsCharacters: number;
}

/** One conversation turn's latencies (ms), measured by the voice runtime. */
@Schema({ _id: false })
export class TurnLatency {
  @Prop({ type: Number }) sttFinalMs?: number;
  @Prop({ type: Number }) llmFirstTokenMs?: number;
  @Prop({ type: Number }) ttsFirstAudioMs?: number;
  @Prop({ type: Number }) firstAudioSentMs?: number;
}

@Schema({ collection: 'sessions', timestamps: true })
export class Session {
  @Prop({ type: String, required: true }) sessionId: string;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'User' })
  userId: Types.ObjectId;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'Agent' })
  agentId: Types.ObjectId;
  @Prop({ type: MongooseSchema.Types.ObjectId, required: true, ref: 'CallLog' })
  callLogId: Types.ObjectId;
  @Prop({ type: String, required: true }) userPhone: string;
  @Prop({ type: String, required: true }) agentPhone: string;
  /** Snapshot of the agent config (with the phone's override) at call time. */
  @Prop({ type: AgentConfigSchema, required: true }) agentConfig: AgentConfig;
  @Prop({ type: [SchemaFactory.createForClass(ConversationMessage)], default: [] })
  conversationHistory: ConversationMessage[];
  @Prop({ type: String, required: true, enum: SESSION_STATUSES, default: 'active' })
  status: SessionStatus;
  @Prop({ type: MongooseSchema.Types.Mixed }) metadata?: Record<string, unknown>;
  @Prop({ type: String }) exotelCallSid?: string;
  @Prop({ type: SchemaFactory.createForClass(SessionUsage) }) usage?: SessionUsage;
  /** Per-turn latencies of the conversation (the latest, bounded), written when it ends. */
  @Prop({ type: [SchemaFactory.createForClass(TurnLatency)], default: undefined })
  turnLatencies?: TurnLatency[];
  @Prop({ type: Date }) endedAt?: Date;
  @Prop({ type: Date, required: true }) startedAt: Date;
  @Prop({ type: Date, required: true }) lastActivityAt: Date;
}

export type SessionDocument = Session & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };

export const SessionSchema = SchemaFactory.createForClass(Session);
SessionSchema.index({ sessionId: 1 }, { unique: true });
SessionSchema.index({ userId: 1, status: 1 });
SessionSchema.index({ status: 1, lastActivityAt: -1 });
SessionSchema.index({ exotelCallSid: 1 });
SessionSchema.index(
  { updatedAt: 1 },
  { expireAfterSeconds: 86400, partialFilterExpression: { status: 'ended' } },
);

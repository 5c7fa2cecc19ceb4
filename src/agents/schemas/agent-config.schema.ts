import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Schema as MongooseSchema } from 'mongoose';

export const VOICE_PROVIDERS = ['openai', 'elevenlabs', 'cartesia'] as const;
export type VoiceProvider = (typeof VOICE_PROVIDERS)[number];
export const LLM_MODELS = ['gpt-4', 'gpt-3.5-turbo', 'gpt-4-turbo'] as const;
export type LlmModel = (typeof LLM_MODELS)[number];

@Schema({ _id: false })
export class VoiceConfig {
  @Prop({ type: String, required: true, enum: VOICE_PROVIDERS }) provider: VoiceProvider;
  @Prop({ type: String, required: true }) voiceId: string;
  @Prop({ type: String }) model?: string;
  @Prop({ type: MongooseSchema.Types.Mixed }) settings?: Record<string, unknown>;
}

@Schema({ _id: false })
export class LlmConfig {
  @Prop({ type: String, required: true, enum: LLM_MODELS }) model: LlmModel;
  @Prop({ type: Number, required: true, min: 0, max: 2 }) temperature: number;
  @Prop({ type: Number, min: 1, max: 4096 }) maxTokens?: number;
}

@Schema({ _id: false })
export class InterruptionConfig {
  @Prop({ type: Boolean, required: true }) allowed: boolean;
}

@Schema({ _id: false })
export class FlowConfig {
  @Prop({ type: Boolean }) userStartFirst?: boolean;
  @Prop({ type: SchemaFactory.createForClass(InterruptionConfig) })
  interruption?: InterruptionConfig;
  @Prop({ type: Number, min: 0, max: 5000 }) responseDelay?: number;
}

/** What the post-call analysis asks the model; absent parts fall back to defaults or are skipped. */
@Schema({ _id: false })
export class AnalysisConfig {
  @Prop({ type: String, maxlength: 2000 }) summaryPrompt?: string;
  @Prop({ type: String, maxlength: 2000 }) successRubric?: string;
  /** A JSON Schema (checked by IsStructuredDataSchema on the way in); Mixed keeps it verbatim. */
  @Prop({ type: MongooseSchema.Types.Mixed }) structuredDataSchema?: Record<string, unknown>;
}

@Schema({ _id: false })
export class AgentConfig {
  @Prop({ type: String, required: true, minlength: 10, maxlength: 5000 }) prompt: string;
  @Prop({ type: SchemaFactory.createForClass(VoiceConfig), required: true }) voice: VoiceConfig;
  @Prop({ type: String, required: true }) language: string;
  @Prop({ type: SchemaFactory.createForClass(LlmConfig), required: true }) llm: LlmConfig;
  @Prop({ type: String, maxlength: 1000 }) firstMessage?: string;
  @Prop({ type: Number, min: 10, max: 3600 }) sessionTimeout?: number;
  @Prop({ type: SchemaFactory.createForClass(FlowConfig) }) flow?: FlowConfig;
  @Prop({ type: SchemaFactory.createForClass(AnalysisConfig) }) analysis?: AnalysisConfig;
}

export const AgentConfigSchema = SchemaFactory.createForClass(AgentConfig);

/**
 * Free-form values in an agent config (`voice.settings`, `analysis.structuredDataSchema`): an
 * agent patch or a phone override replaces them whole, never merges into them.
 */
export const OPAQUE_AGENT_CONFIG_KEYS: ReadonlySet<string> = new Set([
  'settings',
  'structuredDataSchema',
]);

/** A partial agent config: what a phone may override. */
export type AgentConfigOverride = {
  [Key in keyof AgentConfig]?: AgentConfig[Key] extends object
    ? Partial<AgentConfig[Key]>
    : AgentConfig[Key];
};

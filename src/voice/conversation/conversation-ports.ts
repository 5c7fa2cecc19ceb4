import type { MessageRole } from '../../sessions/schemas/session.schema.js';

/** How a conversation ended, for the call's lifecycle. */
export interface ConversationEnding {
  status: 'completed' | 'user-ended' | 'agent-ended' | 'failed';
  reason: string;
  error?: { code: VoiceErrorCode; message: string };
}

export type VoiceErrorCode = 'STT_UNAVAILABLE' | 'LLM_UNAVAILABLE' | 'TTS_UNAVAILABLE';

/** One turn's latencies (ms), from the end of the caller's speech. */
export interface TurnLatency {
  /** End of caller speech -> the recognizer's final text for the turn. */
  sttFinalMs?: number;
  /** Turn end (final text, plus responseDelay) -> the model's first token. */
  llmFirstTokenMs?: number;
  /** First sentence sent to speech -> its first audio. */
  ttsFirstAudioMs?: number;
  /** End of caller speech -> the agent's first audio sent to the caller. */
  firstAudioSentMs?: number;
}

export interface UsageDelta {
  sttSeconds: number;
  llmTokens: number;
  llmPromptTokens: number;
  llmCompletionTokens: number;
  ttsCharacters: number;
}

/**
 * Where a conversation leaves what lasts: messages and usage on the session (durable), the
 * latency of each turn, and the call's end.
 */
export interface ConversationRecorder {
  /** A message, with the usage that produced it when there is some (one write). */
  appendMessage(role: MessageRole, content: string, usage?: UsageDelta): Promise<void>;
  recordUsage(usage: UsageDelta): Promise<void>;
  recordTurn(latency: TurnLatency): void;
  /** Called once, after every earlier write has completed. */
  ended(ending: ConversationEnding, latencies: TurnLatency[]): Promise<void>;
}

export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the model wrote them (JSON text, possibly invalid). */
  arguments: string;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

export interface ToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface LanguageModelRequest {
  model: string;
  temperature: number;
  maxTokens?: number;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  /** Aborting it stops the stream at once (barge-in, call over). */
  signal?: AbortSignal;
}

export interface LanguageModelUsage {
  promptTokens: number;
  completionTokens: number;
}

export type LanguageModelEvent =
  /** Next piece of the reply text. */
  | { type: 'text'; text: string }
  /** A complete tool call (its arguments fully streamed). */
  | { type: 'tool-call'; call: ToolCall }
  /**
   * The reply is complete. `usage` is the vendor's count when it sent one, else an estimate
   * (`estimated: true`).
   */
  | {
      type: 'done';
      finishReason: string;
      usage: LanguageModelUsage;
      estimated: boolean;
    };

/** A streaming chat model (a vendor adapter implements it). */
export interface LanguageModel {
  readonly vendor: string;
  /**
   * Streams one reply. Failures (refused, unreachable, timeout, malformed stream) are thrown
   * by the iterator as VendorError; an aborted request ends the iteration without an error.
   */
  stream(request: LanguageModelRequest): AsyncIterable<LanguageModelEvent>;
}

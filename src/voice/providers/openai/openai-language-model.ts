import type {
  ChatMessage,
  LanguageModel,
  LanguageModelEvent,
  LanguageModelRequest,
  LanguageModelUsage,
  ToolCall,
} from '../../ports/language-model.port.js';
import { VendorError } from '../../ports/vendor-error.js';
import {
  connectionFailure,
  DEFAULT_OPENAI_BASE_URL,
  droppedConnection,
  failedResponse,
  isRecord,
  OPENAI_VENDOR,
  Watchdog,
} from './openai-http.js';
import { ServerSentEventParser, ServerSentEventTooLongError } from './server-sent-events.js';
import { vendorText } from '../vendor-text.js';

export interface OpenAiLanguageModelOptions {
  apiKey: string;
  /** Any OpenAI-compatible server; default https://api.openai.com/v1. */
  baseUrl?: string;
  /** Bound on the response headers plus the first event; default 8000. */
  firstTokenTimeoutMs?: number;
  /** Bound on the silence between two events; default 8000. */
  idleTimeoutMs?: number;
  /** Bound on the whole streamed body; default 2 MB. */
  maxResponseBytes?: number;
}

/** The usual rule of thumb for English text with OpenAI's tokenizers. */
const CHARACTERS_PER_TOKEN = 4;

function malformed(message: string): VendorError {
  return new VendorError(OPENAI_VENDOR, 'malformed', message);
}

function estimateTokens(characters: number): number {
  return Math.ceil(characters / CHARACTERS_PER_TOKEN);
}

function toOpenAiMessage(message: ChatMessage): Record<string, unknown> {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'assistant':
      if (!message.toolCalls || message.toolCalls.length === 0) {
        return { role: 'assistant', content: message.content };
      }
      return {
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        tool_calls: message.toolCalls.map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: call.name, arguments: call.arguments },
        })),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  }
}

function requestBody(request: LanguageModelRequest): Record<string, unknown> {
  return {
    model: request.model,
    temperature: request.temperature,
    ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
    stream: true,
    stream_options: { include_usage: true },
    messages: request.messages.map(toOpenAiMessage),
    ...(request.tools && request.tools.length > 0
      ? {
          tools: request.tools.map((tool) => ({
            type: 'function',
            function: {
              name: tool.name,
              description: tool.description,
              parameters: tool.parameters,
            },
          })),
        }
      : {}),
  };
}

function promptCharacters(request: LanguageModelRequest): number {
  let characters = request.tools ? JSON.stringify(request.tools).length : 0;
  for (const message of request.messages) {
    characters += message.content.length;
    if (message.role === 'assistant') {
      for (const call of message.toolCalls ?? []) {
        characters += call.name.length + call.arguments.length;
      }
    }
  }
  return characters;
}

function readUsage(value: unknown): LanguageModelUsage | undefined {
  if (
    isRecord(value) &&
    typeof value.prompt_tokens === 'number' &&
    typeof value.completion_tokens === 'number'
  ) {
    return { promptTokens: value.prompt_tokens, completionTokens: value.completion_tokens };
  }
  return undefined;
}

function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw malformed(`${what} is not a string`);
  }
  return value;
}

interface PartialToolCall {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

/** Turns the chunks of one streamed reply into our events. */
class ReplyAssembler {
  finishReason: string | undefined;
  private usage: LanguageModelUsage | undefined;
  private completionCharacters = 0;
  private toolCallsEmitted = false;
  private readonly toolCalls = new Map<number, PartialToolCall>();

  accept(chunk: unknown): LanguageModelEvent[] {
    if (!isRecord(chunk)) {
      throw malformed('an event is not a JSON object');
    }
    const usage = readUsage(chunk.usage);
    if (usage) {
      this.usage = usage;
    }
    if (!Array.isArray(chunk.choices)) {
      if (isRecord(chunk.error)) {
        const message = typeof chunk.error.message === 'string' ? chunk.error.message : '';
        throw new VendorError(
          OPENAI_VENDOR,
          'unavailable',
          `the stream failed: ${vendorText(message)}`,
        );
      }
      if (usage) {
        return [];
      }
      throw malformed('an event has no choices');
    }
    const choice: unknown = chunk.choices[0];
    if (choice === undefined) {
      return [];
    }
    if (!isRecord(choice)) {
      throw malformed('a choice is not an object');
    }
    const events: LanguageModelEvent[] = [];
    const { delta } = choice;
    if (isRecord(delta)) {
      const text = optionalString(delta.content, 'delta.content');
      if (text) {
        this.completionCharacters += text.length;
        events.push({ type: 'text', text });
      }
      if (delta.tool_calls !== undefined && delta.tool_calls !== null) {
        if (!Array.isArray(delta.tool_calls)) {
          throw malformed('delta.tool_calls is not an array');
        }
        delta.tool_calls.forEach((fragment: unknown, position) => {
          this.addToolCallFragment(fragment, position);
        });
      }
    } else if (delta !== undefined && delta !== null) {
      throw malformed('a delta is not an object');
    }
    const finishReason = optionalString(choice.finish_reason, 'finish_reason');
    if (finishReason !== undefined) {
      this.finishReason = finishReason;
      events.push(...this.takeToolCalls());
    }
    return events;
  }

  /** The events that close the reply: tool calls not yet given, then `done`. */
  finish(request: LanguageModelRequest): LanguageModelEvent[] {
    const events = this.takeToolCalls();
    events.push({
      type: 'done',
      finishReason: this.finishReason ?? (this.toolCallsEmitted ? 'tool_calls' : 'stop'),
      usage: this.usage ?? {
        promptTokens: estimateTokens(promptCharacters(request)),
        completionTokens: estimateTokens(this.completionCharacters),
      },
      estimated: this.usage === undefined,
    });
    return events;
  }

  private addToolCallFragment(fragment: unknown, position: number): void {
    if (!isRecord(fragment)) {
      throw malformed('a tool call delta is not an object');
    }
    const index =
      typeof fragment.index === 'number' && Number.isInteger(fragment.index)
        ? fragment.index
        : position;
    const call = this.toolCalls.get(index) ?? { index, id: '', name: '', arguments: '' };
    this.toolCalls.set(index, call);
    const id = optionalString(fragment.id, 'tool_calls.id');
    if (id && call.id === '') {
      call.id = id;
    }
    const { function: target } = fragment;
    if (target === undefined || target === null) {
      return;
    }
    if (!isRecord(target)) {
      throw malformed('tool_calls.function is not an object');
    }
    const name = optionalString(target.name, 'tool_calls.function.name');
    // Only the first delta of a call names it; some compatible servers repeat the name.
    if (name && call.name === '') {
      call.name = name;
    }
    const argumentsText = optionalString(target.arguments, 'tool_calls.function.arguments');
    if (argumentsText) {
      call.arguments += argumentsText;
      this.completionCharacters += argumentsText.length;
    }
  }

  private takeToolCalls(): LanguageModelEvent[] {
    const calls = [...this.toolCalls.values()].sort((first, second) => first.index - second.index);
    this.toolCalls.clear();
    return calls.map((call): LanguageModelEvent => {
      if (call.name === '') {
        throw malformed('a tool call has no function name');
      }
      this.toolCallsEmitted = true;
      this.completionCharacters += call.name.length;
      const toolCall: ToolCall = {
        id: call.id === '' ? `call_${call.index}` : call.id,
        name: call.name,
        arguments: call.arguments,
      };
      return { type: 'tool-call', call: toolCall };
    });
  }
}

/**
 * Chat completions over any OpenAI-compatible `/chat/completions` endpoint, streamed as
 * server-sent events.
 */
export class OpenAiLanguageModel implements LanguageModel {
  readonly vendor = OPENAI_VENDOR;
  private readonly baseUrl: string;
  private readonly firstTokenTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly options: OpenAiLanguageModelOptions) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_OPENAI_BASE_URL).replace(/\/+$/, '');
    this.firstTokenTimeoutMs = options.firstTokenTimeoutMs ?? 8000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 8000;
    this.maxResponseBytes = options.maxResponseBytes ?? 2 * 1024 * 1024;
  }

  stream(request: LanguageModelRequest): AsyncIterable<LanguageModelEvent> {
    return this.streamReply(request);
  }

  private async *streamReply(request: LanguageModelRequest): AsyncGenerator<LanguageModelEvent> {
    const callerSignal = request.signal;
    if (callerSignal?.aborted) {
      return;
    }
    const controller = new AbortController();
    const watchdog = new Watchdog(controller);
    const abort = (): void => controller.abort();
    callerSignal?.addEventListener('abort', abort, { once: true });
    const release = (): void => {
      watchdog.disarm();
      callerSignal?.removeEventListener('abort', abort);
      // Closes the connection if the body is still open; a no-op once it was read to the end.
      controller.abort();
    };
    let sawEvent = false;
    try {
      watchdog.arm(this.firstTokenTimeoutMs);
      const body = await this.openStream(request, controller.signal);
      const reader = body.getReader();
      const parser = new ServerSentEventParser();
      const reply = new ReplyAssembler();
      let receivedBytes = 0;
      let sawDone = false;
      while (!sawDone) {
        if (sawEvent && !watchdog.armed) {
          watchdog.arm(this.idleTimeoutMs);
        }
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        receivedBytes += value.byteLength;
        if (receivedBytes > this.maxResponseBytes) {
          throw malformed(`the reply exceeded ${this.maxResponseBytes} bytes`);
        }
        const events = parser.push(value);
        if (events.length > 0) {
          sawEvent = true;
          // The caller's own pace between two reads is not the vendor's silence.
          watchdog.disarm();
        }
        for (const event of events) {
          if (event.data === '[DONE]') {
            sawDone = true;
            break;
          }
          for (const output of reply.accept(parseJson(event.data))) {
            if (controller.signal.aborted) {
              return;
            }
            yield output;
          }
        }
      }
      if (!sawDone && reply.finishReason === undefined) {
        throw new VendorError(
          OPENAI_VENDOR,
          'unavailable',
          'the stream ended before the reply was complete',
        );
      }
      release();
      yield* reply.finish(request);
    } catch (error) {
      if (callerSignal?.aborted) {
        return;
      }
      if (watchdog.timedOut) {
        throw new VendorError(
          OPENAI_VENDOR,
          'timeout',
          sawEvent
            ? `no data for ${this.idleTimeoutMs} ms mid-reply`
            : `no reply within ${this.firstTokenTimeoutMs} ms`,
        );
      }
      if (error instanceof VendorError) {
        throw error;
      }
      if (error instanceof ServerSentEventTooLongError) {
        throw malformed(error.message);
      }
      throw droppedConnection();
    } finally {
      release();
    }
  }

  private async openStream(
    request: LanguageModelRequest,
    signal: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          'content-type': 'application/json',
          accept: 'text/event-stream',
        },
        body: JSON.stringify(requestBody(request)),
        signal,
      });
    } catch (error) {
      // An abort (ours or the caller's) is classified by the caller of this method.
      throw signal.aborted ? error : connectionFailure(error);
    }
    if (!response.ok) {
      throw await failedResponse(response, this.options.apiKey);
    }
    if (!response.body) {
      throw malformed('the reply has no body');
    }
    if (response.headers.get('content-type')?.includes('application/json')) {
      await response.body.cancel().catch(() => undefined);
      throw malformed('the server answered JSON instead of an event stream');
    }
    return response.body;
  }
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw malformed(`an event is not JSON: ${vendorText(data).slice(0, 40)}`);
  }
}

import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A local stand-in for OpenAI's REST API on 127.0.0.1: streamed chat completions (server-sent
 * `chat.completion.chunk` events, tool-call deltas, the usage-only chunk, `data: [DONE]`) and
 * `/audio/speech` answering raw PCM (16-bit LE mono, 24 kHz) streamed in chunks. Requests need
 * `Authorization: Bearer <key>`; they are recorded, and the next ones can be made to fail.
 */

export const DEFAULT_FAKE_OPENAI_KEY = 'fake-openai-key';
export const FAKE_SPEECH_RATE = 24_000;

export interface FakeToolCall {
  name: string;
  /** An object is sent as its JSON text. */
  arguments: Record<string, unknown> | string;
}

/** How the events travel on the wire, to exercise a client's event-stream parser. */
export interface FakeFraming {
  lineEnding?: '\n' | '\r\n';
  /** A `: keep-alive` comment line before every event (some compatible servers send them). */
  comments?: boolean;
  /** Each event's JSON split over two `data:` lines. */
  multiLineData?: boolean;
  /** Every write cut into pieces of this many bytes (through UTF-8 characters too). */
  bytesPerWrite?: number;
}

export interface FakeChatReply {
  text?: string;
  toolCalls?: FakeToolCall[];
  firstTokenDelayMs?: number;
  tokenDelayMs?: number;
  /** The usage chunk (when the request asks for it): computed when true (default), or these counts. */
  usage?: boolean | { prompt_tokens: number; completion_tokens: number };
  framing?: FakeFraming;
}

export type FakeChatScript = FakeChatReply | ((request: RecordedOpenAiRequest) => FakeChatReply);

export interface FakeSpeechReply {
  /** Answers only the request with this input (requests run in parallel); else the next one. */
  forInput?: string;
  firstAudioDelayMs?: number;
  /** Pause between two audio chunks; default the server's. */
  chunkDelayMs?: number;
  /** Peak of the 440 Hz tone; default 8000. */
  amplitude?: number;
}

/** What the next request(s) get instead of a normal answer (any route). */
export type FakeOpenAiFailure =
  | { status: number; message?: string }
  /** Accepts the request and never answers. */
  | { hang: true }
  /** Answers 200 and the first chunk, then goes silent with the connection open. */
  | { stallAfterFirstChunk: true }
  /** Chat: a `data: not-json` event. */
  | { malformed: true }
  /** Answers 200 and the first chunk, then destroys the socket (no `[DONE]`, no end). */
  | { dropMidStream: true };

export interface RecordedOpenAiRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The JSON body, parsed (the raw text when it is not JSON). */
  body: any;
  /** The `data:` payloads written so far (chat). */
  sentData: string[];
  /** PCM bytes written so far (speech). */
  audioBytes: number;
  /** The whole answer was written. */
  finished: boolean;
  /** Settles when the exchange is over: answered in full, or the connection closed first. */
  outcome: Promise<'completed' | 'closed-early'>;
}

export interface FakeOpenAiOptions {
  apiKey?: string;
  /** Length of the speech for one character of input; default 60. */
  millisecondsPerCharacter?: number;
  /** Size of the speech chunks; default 4801 (odd, so samples straddle chunks). */
  audioChunkBytes?: number;
  /** Pause between two speech chunks; default 1. */
  audioChunkDelayMs?: number;
}

export interface FakeOpenAi {
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string;
  apiKey: string;
  requests: RecordedOpenAiRequest[];
  /** Queues chat replies; an empty queue echoes the last user message. */
  reply(...scripts: FakeChatScript[]): void;
  /** Queues how the next speech requests (or those with a given input) are answered. */
  speak(...replies: FakeSpeechReply[]): void;
  /** The next `times` requests fail this way. */
  failNext(failure: FakeOpenAiFailure, times?: number): void;
  /** PCM bytes the fake answers for this input (before any resampling). */
  speechBytesFor(input: string): number;
  close(): Promise<void>;
}

function openAiError(status: number, message?: string): Record<string, unknown> {
  const shapes: Record<number, { message: string; type: string; code: string | null }> = {
    401: {
      message:
        'Incorrect API key provided: fake-***-key. You can find your API key at https://platform.openai.com/account/api-keys.',
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    },
    429: {
      message: 'Rate limit reached for requests. Please try again in 20ms.',
      type: 'requests',
      code: 'rate_limit_exceeded',
    },
    500: {
      message: 'The server had an error while processing your request. Sorry about that!',
      type: 'server_error',
      code: null,
    },
  };
  const shape = shapes[status] ?? {
    message: 'Invalid request.',
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
  };
  return { error: { ...shape, message: message ?? shape.message, param: null } };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** Token-like pieces: a few characters each, with the spaces before them. */
function textPieces(text: string): string[] {
  return text.match(/\s*\S{1,4}|\s+$/gu) ?? [];
}

function argumentPieces(argumentsText: string): string[] {
  const pieces: string[] = [];
  for (let offset = 0; offset < argumentsText.length; offset += 6) {
    pieces.push(argumentsText.slice(offset, offset + 6));
  }
  return pieces;
}

function lastUserText(body: any): string | undefined {
  const messages: unknown[] = Array.isArray(body?.messages) ? body.messages : [];
  const user = messages.filter((message: any) => message?.role === 'user').pop() as any;
  return typeof user?.content === 'string' ? user.content : undefined;
}

export async function startFakeOpenAi(options: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  const apiKey = options.apiKey ?? DEFAULT_FAKE_OPENAI_KEY;
  const millisecondsPerCharacter = options.millisecondsPerCharacter ?? 60;
  const audioChunkBytes = options.audioChunkBytes ?? 4801;
  const audioChunkDelayMs = options.audioChunkDelayMs ?? 1;
  const requests: RecordedOpenAiRequest[] = [];
  const chatScripts: FakeChatScript[] = [];
  const speechReplies: FakeSpeechReply[] = [];
  const failures: FakeOpenAiFailure[] = [];
  const sockets = new Set<Socket>();
  let completionCount = 0;

  const speechBytesFor = (input: string): number =>
    Math.round((FAKE_SPEECH_RATE * input.length * millisecondsPerCharacter) / 1000) * 2;

  /** Writes unless the client went away; false once it has. */
  const write = (response: ServerResponse, data: string | Buffer): boolean => {
    if (response.destroyed || response.writableEnded) {
      return false;
    }
    response.write(data);
    return true;
  };

  async function streamChat(
    request: RecordedOpenAiRequest,
    response: ServerResponse,
    failure: FakeOpenAiFailure | undefined,
  ): Promise<void> {
    const script = chatScripts.shift();
    const echo = lastUserText(request.body);
    const reply: FakeChatReply =
      (typeof script === 'function' ? script(request) : script) ??
      ({ text: echo ? `You said: ${echo.slice(0, 80)}` : 'Hello from the fake model.' } as const);
    const framing = reply.framing ?? {};
    const lineEnding = framing.lineEnding ?? '\n';
    const includeUsage = request.body?.stream_options?.include_usage === true;
    const id = `chatcmpl-fake${++completionCount}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof request.body?.model === 'string' ? request.body.model : 'gpt-4o-mini';

    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(includeUsage ? { usage: null } : {}),
    });

    const sendEvent = async (data: string): Promise<boolean> => {
      request.sentData.push(data);
      let lines = [data];
      const split = data.indexOf(',"');
      if (framing.multiLineData && split > 0) {
        lines = [data.slice(0, split), data.slice(split)];
      }
      const text =
        (framing.comments ? `: keep-alive${lineEnding}` : '') +
        lines.map((line) => `data: ${line}${lineEnding}`).join('') +
        lineEnding;
      const bytes = Buffer.from(text);
      const size = framing.bytesPerWrite ?? bytes.length;
      for (let offset = 0; offset < bytes.length; offset += size) {
        if (!write(response, bytes.subarray(offset, offset + size))) {
          return false;
        }
        if (size < bytes.length) {
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      return true;
    };

    const payloads: Record<string, unknown>[] = [];
    payloads.push(chunk({ role: 'assistant', content: reply.text ? '' : null, refusal: null }));
    const pieces = textPieces(reply.text ?? '');
    for (const piece of pieces) {
      payloads.push(chunk({ content: piece }));
    }
    let fragments = 0;
    (reply.toolCalls ?? []).forEach((call, index) => {
      const argumentsText =
        typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
      payloads.push(
        chunk({
          tool_calls: [
            {
              index,
              id: `call_fake${completionCount}x${index}`,
              type: 'function',
              function: { name: call.name, arguments: '' },
            },
          ],
        }),
      );
      for (const piece of argumentPieces(argumentsText)) {
        fragments++;
        payloads.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    });
    payloads.push(chunk({}, reply.toolCalls?.length ? 'tool_calls' : 'stop'));
    if (includeUsage && reply.usage !== false) {
      const counts =
        typeof reply.usage === 'object'
          ? reply.usage
          : {
              prompt_tokens: Math.ceil(JSON.stringify(request.body?.messages ?? []).length / 4),
              completion_tokens: pieces.length + fragments,
            };
      payloads.push({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_fake',
        choices: [],
        usage: { ...counts, total_tokens: counts.prompt_tokens + counts.completion_tokens },
      });
    }

    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    });
    if (failure && 'malformed' in failure) {
      await sendEvent('not-json');
      response.end();
      return;
    }
    if (reply.firstTokenDelayMs) {
      await sleep(reply.firstTokenDelayMs);
    }
    for (const [index, payload] of payloads.entries()) {
      if (index > 0 && reply.tokenDelayMs) {
        await sleep(reply.tokenDelayMs);
      }
      if (!(await sendEvent(JSON.stringify(payload)))) {
        return;
      }
      if (failure && 'stallAfterFirstChunk' in failure) {
        return;
      }
      if (failure && 'dropMidStream' in failure) {
        response.socket?.destroy();
        return;
      }
    }
    if (await sendEvent('[DONE]')) {
      response.end();
    }
  }

  async function streamSpeech(
    request: RecordedOpenAiRequest,
    response: ServerResponse,
    failure: FakeOpenAiFailure | undefined,
  ): Promise<void> {
    const { body } = request;
    if (typeof body?.input !== 'string' || body.input === '') {
      sendJson(response, 400, openAiError(400, "Invalid 'input': empty string."));
      return;
    }
    if (typeof body.model !== 'string' || typeof body.voice !== 'string') {
      sendJson(response, 400, openAiError(400, "Missing required parameter: 'model' or 'voice'."));
      return;
    }
    if (body.response_format !== 'pcm') {
      sendJson(response, 400, openAiError(400, 'The fake answers only response_format pcm.'));
      return;
    }
    const index = speechReplies.findIndex(
      (reply) => reply.forInput === undefined || reply.forInput === body.input,
    );
    const reply = index === -1 ? {} : (speechReplies.splice(index, 1)[0] ?? {});
    const amplitude = reply.amplitude ?? 8000;
    const audio = Buffer.alloc(speechBytesFor(body.input));
    for (let sample = 0; sample < audio.length / 2; sample++) {
      const value = amplitude * Math.sin((2 * Math.PI * 440 * sample) / FAKE_SPEECH_RATE);
      audio.writeInt16LE(Math.round(value), sample * 2);
    }
    response.writeHead(200, { 'content-type': 'audio/pcm' });
    if (reply.firstAudioDelayMs) {
      await sleep(reply.firstAudioDelayMs);
    }
    const chunkDelayMs = reply.chunkDelayMs ?? audioChunkDelayMs;
    for (let offset = 0; offset < audio.length; offset += audioChunkBytes) {
      if (offset > 0 && chunkDelayMs > 0) {
        await sleep(chunkDelayMs);
      }
      const piece = audio.subarray(offset, offset + audioChunkBytes);
      if (!write(response, piece)) {
        return;
      }
      request.audioBytes += piece.length;
      if (failure && 'stallAfterFirstChunk' in failure) {
        return;
      }
      if (failure && 'dropMidStream' in failure) {
        response.socket?.destroy();
        return;
      }
    }
    response.end();
  }

  async function handle(
    incoming: IncomingMessage,
    response: ServerResponse,
    rawBody: string,
  ): Promise<void> {
    let body: unknown = rawBody;
    try {
      body = JSON.parse(rawBody);
    } catch {
      // Recorded as text; the routes below refuse it.
    }
    let settle: (outcome: 'completed' | 'closed-early') => void = () => undefined;
    const request: RecordedOpenAiRequest = {
      method: incoming.method ?? '',
      path: (incoming.url ?? '').split('?')[0] ?? '',
      headers: incoming.headers,
      body,
      sentData: [],
      audioBytes: 0,
      finished: false,
      outcome: new Promise((resolve) => (settle = resolve)),
    };
    requests.push(request);
    response.on('finish', () => (request.finished = true));
    response.on('close', () => settle(response.writableFinished ? 'completed' : 'closed-early'));

    const failure = failures.shift();
    if (failure && 'hang' in failure) {
      return;
    }
    if (failure && 'status' in failure) {
      sendJson(response, failure.status, openAiError(failure.status, failure.message));
      return;
    }
    if (incoming.headers.authorization !== `Bearer ${apiKey}`) {
      sendJson(response, 401, openAiError(401));
      return;
    }
    if (typeof body !== 'object' || body === null) {
      sendJson(
        response,
        400,
        openAiError(400, 'We could not parse the JSON body of your request.'),
      );
      return;
    }
    if (request.method === 'POST' && request.path === '/v1/chat/completions') {
      await streamChat(request, response, failure);
    } else if (request.method === 'POST' && request.path === '/v1/audio/speech') {
      await streamSpeech(request, response, failure);
    } else {
      sendJson(response, 404, openAiError(404, `Invalid URL (${request.method} ${request.path})`));
    }
  }

  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      handle(incoming, response, Buffer.concat(chunks).toString('utf8')).catch(() => {
        response.destroy();
      });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    reply: (...scripts) => chatScripts.push(...scripts),
    speak: (...replies) => speechReplies.push(...replies),
    failNext: (failure, times = 1) => {
      for (let count = 0; count < times; count++) {
        failures.push(failure);
      }
    },
    speechBytesFor,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) {
        socket.destroy();
      }
      await closed;
    },
  };
}

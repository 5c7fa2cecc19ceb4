import { createServer, type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/**
 * A local stand-in for Cartesia's text-to-speech WebSocket on 127.0.0.1:
 * `GET /tts/websocket?cartesia_version=...` with the key in the `X-API-Key` header (or the
 * `api_key` query). Generation requests carry `model_id`, `transcript`, `voice {mode:"id", id}`,
 * `output_format {container:"raw", encoding, sample_rate}`, `context_id` and `continue`; each
 * transcript of a context is spoken as it arrives (`{"type":"chunk","data":base64,"done":false,
 * "status_code":206,"step_time","context_id"}`), and after the input with `continue: false` the
 * context ends with `{"type":"done","done":true,"status_code":206,"context_id"}`.
 * `{"context_id","cancel":true}` stops a context's audio. Errors are
 * `{"type":"error","done":true,"status_code","title","message","error_code","context_id"}`.
 * The socket stays open across contexts (the client closes it). The audio is a tone whose
 * length is proportional to the text, at the requested PCM rate. Every connection is recorded;
 * the next ones can be scripted to fail.
 */

export const FAKE_CARTESIA_KEY = 'fake-cartesia-key';

export interface FakeCartesiaOptions {
  /** The only key accepted (default `fake-cartesia-key`). */
  apiKey?: string;
  /** Audio per character of text (default 60 ms). */
  msPerCharacter?: number;
  /** Audio per message (default 100 ms); `chunkBytes` overrides it. */
  chunkMs?: number;
  /** Exact bytes per audio message, e.g. an odd number to split samples across messages. */
  chunkBytes?: number;
  /** Wait before a connection's first audio (default 0). */
  firstAudioDelayMs?: number;
  /** Wait between audio messages (default 0). */
  chunkDelayMs?: number;
  /** Before each chunk, also send a timestamps message and a chunk of another context. */
  interleaveOtherMessages?: boolean;
}

/** How the next connection fails, once. */
export type FakeCartesiaFailure =
  /** The upgrade is answered with this HTTP status (401, 429, 500, 400...). */
  | { status: number }
  /** TCP is accepted but the upgrade is never answered. */
  | { hang: true }
  /** The socket opens and records messages but no audio ever comes. */
  | { silent: true }
  /** The vendor's error message answers the first generation request. */
  | { errorMessage: { message: string; errorCode: string; status: number } }
  /** Something that is not JSON answers the first message. */
  | { malformed: true }
  /** The TCP connection is cut right after the first audio message. */
  | { dropAfterFirstChunk: true };

export interface RecordedCartesiaConnection {
  /** Without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Client messages, parsed (a message that is not JSON is kept as its text). */
  messages: unknown[];
  closed: boolean;
  /** The close code the fake saw (1000 for a client's normal close, 1006 for a cut). */
  closeCode?: number;
}

export interface FakeCartesia {
  /** `ws://127.0.0.1:<port>` */
  baseUrl: string;
  connections: RecordedCartesiaConnection[];
  /** Scripts how the next connection fails (queued: one per call). */
  failNext(failure: FakeCartesiaFailure): void;
  close(): Promise<void>;
}

const SAMPLE_RATES = new Set([8000, 16000, 22050, 24000, 44100, 48000]);

/** Bytes of fake speech for `characters` characters of text. */
export function fakeCartesiaSpeechBytes(
  characters: number,
  sampleRate: number,
  msPerCharacter = 60,
): number {
  return Math.round((characters * msPerCharacter * sampleRate) / 1000) * 2;
}

function tone(bytes: number, sampleRate: number): Buffer {
  const pcm = Buffer.alloc(bytes);
  for (let sample = 0; sample < bytes / 2; sample += 1) {
    const value = Math.round(6000 * Math.sin((2 * Math.PI * 440 * sample) / sampleRate));
    pcm.writeInt16LE(value, sample * 2);
  }
  return pcm;
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) {
    return Buffer.concat(data).toString('utf8');
  }
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function refuseUpgrade(socket: Socket, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** Why a generation request is invalid, or undefined when it is a valid one. */
function invalidRequest(request: Record<string, unknown>): string | undefined {
  const voice = request.voice as Record<string, unknown> | undefined;
  const format = request.output_format as Record<string, unknown> | undefined;
  if (typeof request.model_id !== 'string' || request.model_id.length === 0) {
    return 'model_id is required';
  }
  if (typeof request.transcript !== 'string') {
    return 'transcript is required';
  }
  if (typeof request.context_id !== 'string' || request.context_id.length === 0) {
    return 'context_id is required';
  }
  if (voice?.mode !== 'id' || typeof voice.id !== 'string') {
    return 'voice must be {"mode":"id","id":...}';
  }
  if (
    format?.container !== 'raw' ||
    format.encoding !== 'pcm_s16le' ||
    typeof format.sample_rate !== 'number' ||
    !SAMPLE_RATES.has(format.sample_rate)
  ) {
    return 'output_format must be raw pcm_s16le at a supported sample_rate';
  }
  return undefined;
}

export async function startFakeCartesia(options: FakeCartesiaOptions = {}): Promise<FakeCartesia> {
  const apiKey = options.apiKey ?? FAKE_CARTESIA_KEY;
  const msPerCharacter = options.msPerCharacter ?? 60;
  const connections: RecordedCartesiaConnection[] = [];
  const failures: FakeCartesiaFailure[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_request, response) => {
    response.writeHead(404).end();
  });
  const webSockets = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });

  server.on('upgrade', (request, socket: Socket, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const connection: RecordedCartesiaConnection = {
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: request.headers,
      messages: [],
      closed: false,
    };
    connections.push(connection);
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (connection.closeCode === undefined) {
        connection.closed = true;
      }
    });
    const failure = failures.shift();
    if (failure && 'hang' in failure) {
      // Reading (and dropping) what comes is how the fake notices the client giving up; the
      // HTTP server keeps sockets half-open, so the fake closes its side then.
      socket.resume();
      socket.on('end', () => socket.destroy());
      return;
    }
    if (failure && 'status' in failure) {
      refuseUpgrade(socket, failure.status, 'scripted failure');
      return;
    }
    if (url.pathname !== '/tts/websocket') {
      refuseUpgrade(socket, 404, 'Not found');
      return;
    }
    const key = request.headers['x-api-key'] ?? url.searchParams.get('api_key');
    if (key !== apiKey) {
      refuseUpgrade(socket, 401, 'Invalid API key');
      return;
    }
    if (!url.searchParams.get('cartesia_version') && !request.headers['cartesia-version']) {
      refuseUpgrade(socket, 400, 'Cartesia-Version is required');
      return;
    }
    webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      webSocket.on('close', (code) => {
        connection.closeCode = code;
        connection.closed = true;
      });
      serveContexts(webSocket, socket, connection, failure);
    });
  });

  function serveContexts(
    webSocket: WebSocket,
    socket: Socket,
    connection: RecordedCartesiaConnection,
    failure: FakeCartesiaFailure | undefined,
  ): void {
    const cancelled = new Set<string>();
    let chunksSent = 0;
    let cut = false;
    let speaking = Promise.resolve();
    const isOpen = (): boolean => !cut && webSocket.readyState === webSocket.OPEN;

    const send = (message: Record<string, unknown>): void => {
      webSocket.send(JSON.stringify(message));
    };

    const sendError = (contextId: unknown, status: number, code: string, message: string): void => {
      send({
        type: 'error',
        done: true,
        status_code: status,
        title: 'Request failed',
        message,
        error_code: code,
        request_id: 'fake-request',
        context_id: contextId,
      });
    };

    const speak = async (contextId: string, text: string, sampleRate: number): Promise<void> => {
      const characters = text.trim().length;
      if (characters === 0) {
        return;
      }
      const audio = tone(
        fakeCartesiaSpeechBytes(characters, sampleRate, msPerCharacter),
        sampleRate,
      );
      const chunkBytes =
        options.chunkBytes ?? Math.round(((options.chunkMs ?? 100) * sampleRate) / 1000) * 2;
      for (let offset = 0; offset < audio.length; offset += chunkBytes) {
        const delay = chunksSent === 0 ? options.firstAudioDelayMs : options.chunkDelayMs;
        if (delay) {
          await sleep(delay);
        }
        if (!isOpen() || cancelled.has(contextId)) {
          return;
        }
        if (options.interleaveOtherMessages) {
          const words = { words: ['fake'], start: [0], end: [0.1] };
          send({
            type: 'timestamps',
            done: false,
            status_code: 206,
            context_id: contextId,
            word_timestamps: words,
          });
          const foreign = tone(64, sampleRate).toString('base64');
          send({
            type: 'chunk',
            data: foreign,
            done: false,
            status_code: 206,
            step_time: 1,
            context_id: 'another-context',
          });
        }
        const data = audio.subarray(offset, offset + chunkBytes).toString('base64');
        send({
          type: 'chunk',
          data,
          done: false,
          status_code: 206,
          step_time: 1,
          context_id: contextId,
        });
        chunksSent += 1;
        if (failure && 'dropAfterFirstChunk' in failure) {
          cut = true;
          socket.destroy();
          return;
        }
      }
    };

    webSocket.on('message', (data) => {
      const raw = rawText(data);
      let message: unknown;
      try {
        message = JSON.parse(raw);
      } catch {
        connection.messages.push(raw);
        sendError(undefined, 400, 'invalid_json', 'The message is not valid JSON.');
        return;
      }
      connection.messages.push(message);
      const firstMessage = connection.messages.length === 1;
      if (failure && 'malformed' in failure && firstMessage) {
        webSocket.send('<html>Bad Gateway</html>');
        return;
      }
      const request = (typeof message === 'object' && message !== null ? message : {}) as Record<
        string,
        unknown
      >;
      if (request.cancel === true && typeof request.context_id === 'string') {
        cancelled.add(request.context_id);
        return;
      }
      if (failure && 'errorMessage' in failure && firstMessage) {
        const { status, errorCode, message: text } = failure.errorMessage;
        sendError(request.context_id, status, errorCode, text);
        return;
      }
      if (failure && 'silent' in failure) {
        return;
      }
      const invalid = invalidRequest(request);
      if (invalid) {
        sendError(request.context_id, 400, 'invalid_request', invalid);
        return;
      }
      const contextId = request.context_id as string;
      const text = request.transcript as string;
      const sampleRate = (request.output_format as { sample_rate: number }).sample_rate;
      const last = request.continue !== true;
      speaking = speaking.then(async () => {
        await speak(contextId, text, sampleRate);
        if (last && isOpen() && !cancelled.has(contextId)) {
          send({ type: 'done', done: true, status_code: 206, context_id: contextId });
        }
      });
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `ws://127.0.0.1:${port}`,
    connections,
    failNext(failure) {
      failures.push(failure);
    },
    async close() {
      for (const client of webSockets.clients) {
        client.terminate();
      }
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => {
        webSockets.close(() => {
          resolve();
        });
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

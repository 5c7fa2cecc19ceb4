import { createServer, type IncomingHttpHeaders, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/**
 * A local stand-in for ElevenLabs' `stream-input` text-to-speech WebSocket on 127.0.0.1:
 * `GET /v1/text-to-speech/{voice_id}/stream-input?model_id&output_format` with the key in the
 * `xi-api-key` header; the client's first message is `{"text":" ", voice_settings?,
 * generation_config?}`, then `{"text": "... ", flush?, try_trigger_generation?}` pieces, and
 * `{"text":""}` ends the input. Audio is generated for the buffered text on flush,
 * try_trigger_generation or the end, sent as `{"audio": base64, "isFinal": null, ...}`, then
 * `{"isFinal": true}` and a normal close. Errors are `{"message","error","code":1008}` followed
 * by a 1008 close (a refused key is reported this way after the socket opened). The audio is a
 * tone whose length is proportional to the text, at the requested PCM rate. Every connection
 * is recorded; the next ones can be scripted to fail.
 */

export const FAKE_ELEVENLABS_KEY = 'fake-elevenlabs-key';

export interface FakeElevenLabsOptions {
  /** The only key accepted (default `fake-elevenlabs-key`). */
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
}

/** How the next connection fails, once. */
export type FakeElevenLabsFailure =
  /** The upgrade is answered with this HTTP status (401, 429, 500, 400...). */
  | { status: number }
  /** TCP is accepted but the upgrade is never answered. */
  | { hang: true }
  /** The socket opens and records messages but no audio ever comes. */
  | { silent: true }
  /** The vendor's error message (then a 1008 close) answers the first message. */
  | { errorMessage: { error: string; message: string } }
  /** Something that is not JSON answers the first message. */
  | { malformed: true }
  /** The TCP connection is cut right after the first audio message. */
  | { dropAfterFirstChunk: true };

export interface RecordedElevenLabsConnection {
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

export interface FakeElevenLabs {
  /** `ws://127.0.0.1:<port>` */
  baseUrl: string;
  connections: RecordedElevenLabsConnection[];
  /** Scripts how the next connection fails (queued: one per call). */
  failNext(failure: FakeElevenLabsFailure): void;
  close(): Promise<void>;
}

const STREAM_INPUT_PATH = /^\/v1\/text-to-speech\/([^/]+)\/stream-input$/;
const PCM_FORMAT = /^pcm_(8000|16000|22050|24000|44100)$/;

/** Bytes of fake speech for `characters` characters of text. */
export function fakeElevenLabsSpeechBytes(
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

function refuseUpgrade(socket: Socket, status: number, detail: string): void {
  const body = JSON.stringify({ detail: { status: 'error', message: detail } });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

export async function startFakeElevenLabs(
  options: FakeElevenLabsOptions = {},
): Promise<FakeElevenLabs> {
  const apiKey = options.apiKey ?? FAKE_ELEVENLABS_KEY;
  const msPerCharacter = options.msPerCharacter ?? 60;
  const connections: RecordedElevenLabsConnection[] = [];
  const failures: FakeElevenLabsFailure[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_request, response) => {
    response.writeHead(404).end();
  });
  const webSockets = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });

  server.on('upgrade', (request, socket: Socket, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const connection: RecordedElevenLabsConnection = {
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
    const format = PCM_FORMAT.exec(url.searchParams.get('output_format') ?? '');
    if (!STREAM_INPUT_PATH.test(url.pathname) || !format) {
      refuseUpgrade(socket, STREAM_INPUT_PATH.test(url.pathname) ? 400 : 404, 'not supported');
      return;
    }
    webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      webSocket.on('close', (code) => {
        connection.closeCode = code;
        connection.closed = true;
      });
      const keyAccepted = request.headers['xi-api-key'] === apiKey;
      serveStream(webSocket, socket, connection, {
        sampleRate: Number(format[1]),
        keyAccepted,
        failure,
      });
    });
  });

  interface StreamSetup {
    sampleRate: number;
    keyAccepted: boolean;
    failure: FakeElevenLabsFailure | undefined;
  }

  function serveStream(
    webSocket: WebSocket,
    socket: Socket,
    connection: RecordedElevenLabsConnection,
    setup: StreamSetup,
  ): void {
    const { failure, sampleRate } = setup;
    const chunkBytes =
      options.chunkBytes ?? Math.round(((options.chunkMs ?? 100) * sampleRate) / 1000) * 2;
    let buffered = '';
    let initialised = false;
    let chunksSent = 0;
    let cut = false;
    let speaking = Promise.resolve();
    const isOpen = (): boolean => !cut && webSocket.readyState === webSocket.OPEN;

    const refuse = (error: string, message: string): void => {
      webSocket.send(JSON.stringify({ message, error, code: 1008 }));
      webSocket.close(1008, message.slice(0, 120));
    };

    const speak = async (text: string): Promise<void> => {
      const characters = text.trim().length;
      if (characters === 0) {
        return;
      }
      const audio = tone(
        fakeElevenLabsSpeechBytes(characters, sampleRate, msPerCharacter),
        sampleRate,
      );
      for (let offset = 0; offset < audio.length; offset += chunkBytes) {
        const delay = chunksSent === 0 ? options.firstAudioDelayMs : options.chunkDelayMs;
        if (delay) {
          await sleep(delay);
        }
        if (!isOpen()) {
          return;
        }
        const alignment =
          offset === 0
            ? {
                chars: [...text],
                charStartTimesMs: [...text].map((_, index) => index * msPerCharacter),
                charDurationsMs: [...text].map(() => msPerCharacter),
              }
            : null;
        webSocket.send(
          JSON.stringify({
            audio: audio.subarray(offset, offset + chunkBytes).toString('base64'),
            isFinal: null,
            normalizedAlignment: alignment,
            alignment,
          }),
        );
        chunksSent += 1;
        if (failure && 'dropAfterFirstChunk' in failure) {
          cut = true;
          socket.destroy();
          return;
        }
      }
    };

    const generate = (final: boolean): void => {
      const text = buffered;
      buffered = '';
      speaking = speaking.then(async () => {
        await speak(text);
        if (final && isOpen()) {
          webSocket.send(JSON.stringify({ isFinal: true }));
          webSocket.close(1000);
        }
      });
    };

    webSocket.on('message', (data) => {
      const raw = rawText(data);
      let message: unknown;
      try {
        message = JSON.parse(raw);
      } catch {
        connection.messages.push(raw);
        refuse('invalid_message', 'The message is not valid JSON.');
        return;
      }
      connection.messages.push(message);
      const firstMessage = connection.messages.length === 1;
      if (failure && 'malformed' in failure && firstMessage) {
        webSocket.send('<html>Bad Gateway</html>');
        return;
      }
      if (failure && 'errorMessage' in failure && firstMessage) {
        refuse(failure.errorMessage.error, failure.errorMessage.message);
        return;
      }
      if (!setup.keyAccepted && firstMessage) {
        refuse('invalid_api_key', 'Invalid API key');
        return;
      }
      if (failure && 'silent' in failure) {
        return;
      }
      const fields = (typeof message === 'object' && message !== null ? message : {}) as Record<
        string,
        unknown
      >;
      if (typeof fields.text !== 'string') {
        refuse('invalid_message', 'The message has no text field.');
        return;
      }
      if (!initialised) {
        if (fields.text !== ' ') {
          refuse('invalid_message', 'The initial text that must be sent is a blank space.');
          return;
        }
        initialised = true;
        return;
      }
      if (fields.text === '') {
        generate(true);
        return;
      }
      buffered += fields.text;
      if (fields.flush === true || fields.try_trigger_generation === true) {
        generate(false);
      }
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

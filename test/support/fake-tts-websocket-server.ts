import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/**
 * What the fake streaming text-to-speech vendors share: a WebSocket server on 127.0.0.1 that
 * records every connection, lets the next connections be scripted to fail, and speaks a tone
 * whose length is proportional to the text, at the requested PCM rate, in chunks. Each fake
 * brings its vendor's protocol: which upgrades it accepts and how it answers messages.
 */

export interface FakeTtsOptions {
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

/** How the next connection fails, once; `ErrorMessage` is the vendor's scripted error. */
export type FakeTtsFailure<ErrorMessage> =
  /** The upgrade is answered with this HTTP status (401, 429, 500, 400...). */
  | { status: number }
  /** TCP is accepted but the upgrade is never answered. */
  | { hang: true }
  /** The socket opens and records messages but no audio ever comes. */
  | { silent: true }
  /** The vendor's error message answers the first message. */
  | { errorMessage: ErrorMessage }
  /** Something that is not JSON answers the first message. */
  | { malformed: true }
  /** The TCP connection is cut right after the first audio message. */
  | { dropAfterFirstChunk: true };

export interface RecordedTtsConnection {
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

export interface FakeTtsServer<Failure> {
  /** `ws://127.0.0.1:<port>` */
  baseUrl: string;
  connections: RecordedTtsConnection[];
  /** Scripts how the next connection fails (queued: one per call). */
  failNext(failure: Failure): void;
  close(): Promise<void>;
}

/** One accepted connection, as the vendor's protocol sees it. */
export interface FakeTtsStream<ErrorMessage> {
  readonly webSocket: WebSocket;
  readonly connection: RecordedTtsConnection;
  readonly failure: FakeTtsFailure<ErrorMessage> | undefined;
  /** Open, and not cut by a scripted drop. */
  readonly isOpen: () => boolean;
  /** Sends one JSON message. */
  readonly send: (message: Record<string, unknown>) => void;
  /**
   * Speaks `text` as tone chunks, each given to `sendChunk` with its offset in the audio, with
   * the scripted delays; stops once the socket is gone or `wanted` says no, and cuts the
   * connection after the first chunk when scripted to.
   */
  speak(
    text: string,
    sampleRate: number,
    sendChunk: (audio: Buffer, offset: number) => void,
    wanted?: () => boolean,
  ): Promise<void>;
}

/** How the vendor's protocol answers the client's messages on one connection. */
export interface FakeTtsMessageHandlers {
  /** A message that is not JSON (already recorded). */
  invalidJson(): void;
  /** A JSON message (already recorded; one that is not an object reads as `{}`). */
  message(request: Record<string, unknown>, firstMessage: boolean): void;
}

export type FakeTtsUpgrade<ErrorMessage> =
  | { refuse: number; message: string }
  | { serve(stream: FakeTtsStream<ErrorMessage>): FakeTtsMessageHandlers };

export interface FakeTtsProtocol<ErrorMessage> {
  /** The JSON body of a refused upgrade. */
  refusalBody(message: string): unknown;
  /** Refuses the upgrade (a status and why) or says how to serve the connection. */
  upgrade(request: IncomingMessage, url: URL): FakeTtsUpgrade<ErrorMessage>;
}

/** Bytes of fake speech for `characters` characters of text. */
export function fakeTtsSpeechBytes(
  characters: number,
  sampleRate: number,
  msPerCharacter = 60,
): number {
  return Math.round((characters * msPerCharacter * sampleRate) / 1000) * 2;
}

/** A 440 Hz tone of `bytes` bytes of PCM16 LE. */
export function tone(bytes: number, sampleRate: number): Buffer {
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

function refuseUpgrade(socket: Socket, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}

export async function startFakeTtsServer<ErrorMessage>(
  options: FakeTtsOptions,
  protocol: FakeTtsProtocol<ErrorMessage>,
): Promise<FakeTtsServer<FakeTtsFailure<ErrorMessage>>> {
  const msPerCharacter = options.msPerCharacter ?? 60;
  const connections: RecordedTtsConnection[] = [];
  const failures: FakeTtsFailure<ErrorMessage>[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_request, response) => {
    response.writeHead(404).end();
  });
  const webSockets = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });

  server.on('upgrade', (request, socket: Socket, head: Buffer) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const connection: RecordedTtsConnection = {
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
      refuseUpgrade(socket, failure.status, protocol.refusalBody('scripted failure'));
      return;
    }
    const upgrade = protocol.upgrade(request, url);
    if ('refuse' in upgrade) {
      refuseUpgrade(socket, upgrade.refuse, protocol.refusalBody(upgrade.message));
      return;
    }
    webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      webSocket.on('close', (code) => {
        connection.closeCode = code;
        connection.closed = true;
      });
      const stream = openStream(webSocket, socket, connection, failure);
      receiveMessages(stream, upgrade.serve(stream));
    });
  });

  function openStream(
    webSocket: WebSocket,
    socket: Socket,
    connection: RecordedTtsConnection,
    failure: FakeTtsFailure<ErrorMessage> | undefined,
  ): FakeTtsStream<ErrorMessage> {
    let chunksSent = 0;
    let cut = false;
    const isOpen = (): boolean => !cut && webSocket.readyState === webSocket.OPEN;
    return {
      webSocket,
      connection,
      failure,
      isOpen,
      send: (message) => {
        webSocket.send(JSON.stringify(message));
      },
      async speak(text, sampleRate, sendChunk, wanted = () => true) {
        const characters = text.trim().length;
        if (characters === 0) {
          return;
        }
        const audio = tone(fakeTtsSpeechBytes(characters, sampleRate, msPerCharacter), sampleRate);
        const chunkBytes =
          options.chunkBytes ?? Math.round(((options.chunkMs ?? 100) * sampleRate) / 1000) * 2;
        for (let offset = 0; offset < audio.length; offset += chunkBytes) {
          const delay = chunksSent === 0 ? options.firstAudioDelayMs : options.chunkDelayMs;
          if (delay) {
            await sleep(delay);
          }
          if (!isOpen() || !wanted()) {
            return;
          }
          sendChunk(audio.subarray(offset, offset + chunkBytes), offset);
          chunksSent += 1;
          if (failure && 'dropAfterFirstChunk' in failure) {
            cut = true;
            socket.destroy();
            return;
          }
        }
      },
    };
  }

  function receiveMessages(
    { webSocket, connection, failure }: FakeTtsStream<ErrorMessage>,
    handlers: FakeTtsMessageHandlers,
  ): void {
    webSocket.on('message', (data) => {
      const raw = rawText(data);
      let message: unknown;
      try {
        message = JSON.parse(raw);
      } catch {
        connection.messages.push(raw);
        handlers.invalidJson();
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
      handlers.message(request, firstMessage);
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

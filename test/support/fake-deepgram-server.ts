import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

/**
 * A local stand-in for Deepgram's live transcription WebSocket (`/v1/listen`) on 127.0.0.1. It
 * checks `Authorization: Token <key>` and the query, then "hears" the PCM16 audio it receives:
 * RMS energy per 20 ms frame above a threshold is speech. It answers the way Deepgram does:
 * SpeechStarted, interim Results while speech lasts, a final Results (speech_final) after
 * `endpointing` ms of silence carrying the next scripted transcript, UtteranceEnd after
 * `utterance_end_ms`, and on CloseStream the last final, Metadata and a 1000 close. Like
 * Deepgram it closes with 1011 NET-0001 when nothing arrives within its idle window.
 */

export const DEFAULT_FAKE_DEEPGRAM_KEY = 'fake-deepgram-key';

export interface FakeDeepgramUtterance {
  text: string;
  /** Vendor latency: the final Results (and what follows it) is sent this much later. */
  finalDelayMs?: number;
}

export interface FakeDeepgramOptions {
  apiKey?: string;
  /** What the speaker says, one line per utterance (same queue as `say`). */
  transcripts?: (string | FakeDeepgramUtterance)[];
  /** RMS energy of a 20 ms frame above which it counts as speech (default 500). */
  speechThreshold?: number;
  /** Deepgram's window for receiving audio or KeepAlive before NET-0001 (default 10000). */
  idleTimeoutMs?: number;
  /** Speech time between interim Results (default 100). */
  interimEveryMs?: number;
}

/** How the next connection behaves; each `script` call applies to one further connection. */
export interface FakeDeepgramScript {
  /** Refuse the upgrade with this status and a `dg-error` header (default text per status). */
  status?: number;
  dgError?: string;
  /** Accept the TCP connection but never answer the upgrade. */
  hang?: boolean;
  /** Send a text frame that is not JSON right after the upgrade. */
  malformed?: boolean;
  /** Raw text frames sent right after the upgrade, in order. */
  sendAfterOpen?: string[];
  /** Close with 1011 this long after the upgrade, mid-stream. */
  dropAfterMs?: number;
  /** Stop reading from the socket, as a vendor that does not keep up. */
  stallReading?: boolean;
}

export interface FakeDeepgramConnection {
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** 101 once upgraded, the refusal status, or 0 while the upgrade hangs. */
  status: number;
  audioBytes: number;
  /** Text frames received (KeepAlive, CloseStream, ...), as sent. */
  textMessages: string[];
  /** Messages the fake sent, parsed, in order. */
  sentMessages: Record<string, unknown>[];
  closed: boolean;
  /** The WebSocket close code (1006 when the client dropped the socket without a close frame). */
  closeCode?: number;
}

export interface FakeDeepgram {
  baseUrl: string;
  apiKey: string;
  connections: FakeDeepgramConnection[];
  /** Queues transcripts for the next utterances (any connection); "utterance N" when empty. */
  say(lines: (string | FakeDeepgramUtterance)[]): void;
  script(next: FakeDeepgramScript): void;
  /** Reads a `stallReading` connection again (a stalled reader never sees the client leave). */
  resumeReading(connection: FakeDeepgramConnection): void;
  close(): Promise<void>;
}

const FRAME_MS = 20;
const NET_0001 =
  'NET-0001: Deepgram did not receive audio data or a text message within the timeout window.';

const DEFAULT_DG_ERRORS: Record<number, { code: string; message: string }> = {
  400: { code: 'Bad Request', message: 'Bad Request: the request could not be understood' },
  401: { code: 'INVALID_AUTH', message: 'Invalid credentials.' },
  403: { code: 'INSUFFICIENT_PERMISSIONS', message: 'Insufficient permissions.' },
  429: { code: 'TOO_MANY_REQUESTS', message: 'Too many requests. Please try again later.' },
  500: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error.' },
};

function refuseUpgrade(socket: Socket, status: number, dgError: string | undefined): void {
  const known = DEFAULT_DG_ERRORS[status] ?? { code: 'ERROR', message: 'Request failed.' };
  const message = dgError ?? known.message;
  const requestId = randomUUID();
  const body = JSON.stringify({ err_code: known.code, err_msg: message, request_id: requestId });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      `dg-error: ${message}\r\n` +
      `dg-request-id: ${requestId}\r\n` +
      'content-type: application/json\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'connection: close\r\n\r\n' +
      body,
  );
}

function queryProblem(query: Record<string, string>): string | undefined {
  if (query.encoding !== undefined && query.encoding !== 'linear16') {
    return `Bad Request: unsupported encoding ${query.encoding}`;
  }
  const sampleRate = Number(query.sample_rate);
  if (query.encoding !== undefined && (!Number.isInteger(sampleRate) || sampleRate <= 0)) {
    return 'Bad Request: sample_rate is required with encoding';
  }
  if (query.channels !== undefined && query.channels !== '1') {
    return 'Bad Request: the fake only hears mono audio';
  }
  return undefined;
}

interface SessionConfig {
  speechThreshold: number;
  idleTimeoutMs: number;
  interimEveryMs: number;
  peekTranscript: () => string;
  nextUtterance: () => FakeDeepgramUtterance;
}

/** One accepted `/v1/listen` stream: hears the audio, answers like Deepgram. */
class ListenSession {
  private readonly requestId = randomUUID();
  private readonly sampleRate: number;
  private readonly frameBytes: number;
  private readonly endpointingMs: number | undefined;
  private readonly utteranceEndMs: number | undefined;
  private readonly vadEvents: boolean;
  private readonly interimResults: boolean;
  private pending: Buffer = Buffer.alloc(0);
  private audioMs = 0;
  private speechStartMs: number | undefined;
  private speechMs = 0;
  private silenceMs = 0;
  private lastSpeechEndMs = 0;
  private utteranceEndDue = false;
  private closing = false;
  private outbox: Promise<void> = Promise.resolve();
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly record: FakeDeepgramConnection,
    private readonly config: SessionConfig,
  ) {
    const query = record.query;
    this.sampleRate = Number(query.sample_rate ?? 16000);
    this.frameBytes = Math.round((this.sampleRate * FRAME_MS) / 1000) * 2;
    const endpointing = query.endpointing ?? '10';
    this.endpointingMs = endpointing === 'false' ? undefined : Number(endpointing);
    this.interimResults = query.interim_results === 'true';
    // Deepgram only sends UtteranceEnd with interim results on.
    this.utteranceEndMs =
      query.utterance_end_ms !== undefined && this.interimResults
        ? Number(query.utterance_end_ms)
        : undefined;
    this.vadEvents = query.vad_events === 'true';
    socket.on('message', (data, isBinary) => {
      this.receive(data, isBinary);
    });
    socket.on('close', () => {
      this.stop();
    });
    this.armIdleTimer();
  }

  /** Sends after everything queued before it (so a delayed final keeps its place). */
  later(action: () => void, delayMs = 0): void {
    this.outbox = this.outbox
      .then(() => (delayMs > 0 ? this.delay(delayMs) : undefined))
      .then(() => {
        if (this.socket.readyState === this.socket.OPEN) {
          action();
        }
      });
  }

  sendRaw(text: string): void {
    this.later(() => {
      this.socket.send(text);
    });
  }

  dropAfter(ms: number): void {
    this.timers.add(
      setTimeout(() => {
        this.socket.close(1011, 'NET-0000');
      }, ms),
    );
  }

  stop(): void {
    this.closing = true;
    clearTimeout(this.idleTimer);
    for (const timer of this.timers) {
      clearTimeout(timer);
    }
    this.timers.clear();
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private send(message: Record<string, unknown>, delayMs = 0): void {
    this.later(() => {
      this.record.sentMessages.push(message);
      this.socket.send(JSON.stringify(message));
    }, delayMs);
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.socket.close(1011, NET_0001);
    }, this.config.idleTimeoutMs);
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closing) {
      return;
    }
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    this.armIdleTimer();
    if (!isBinary) {
      this.control(bytes.toString('utf8'));
      return;
    }
    this.record.audioBytes += bytes.length;
    this.pending = Buffer.concat([this.pending, bytes]);
    while (this.pending.length >= this.frameBytes) {
      this.hear(this.pending.subarray(0, this.frameBytes));
      this.pending = this.pending.subarray(this.frameBytes);
    }
  }

  private control(text: string): void {
    this.record.textMessages.push(text);
    let type: unknown;
    try {
      type = (JSON.parse(text) as { type?: unknown }).type;
    } catch {
      return;
    }
    if (type === 'CloseStream') {
      this.closing = true;
      clearTimeout(this.idleTimer);
      if (this.speechStartMs !== undefined) {
        this.sendFinal(false);
      }
      this.send({
        type: 'Metadata',
        transaction_key: 'deprecated',
        request_id: this.requestId,
        sha256: '0'.repeat(64),
        created: new Date().toISOString(),
        duration: this.record.audioBytes / 2 / this.sampleRate,
        channels: 1,
      });
      this.later(() => {
        this.socket.close(1000);
      });
    }
  }

  private hear(frame: Buffer): void {
    let sumOfSquares = 0;
    for (let offset = 0; offset + 1 < frame.length; offset += 2) {
      const sample = frame.readInt16LE(offset);
      sumOfSquares += sample * sample;
    }
    const rms = Math.sqrt(sumOfSquares / (frame.length / 2));
    const frameStartMs = this.audioMs;
    this.audioMs += FRAME_MS;
    if (rms > this.config.speechThreshold) {
      this.heardSpeech(frameStartMs);
    } else {
      this.heardSilence();
    }
  }

  private heardSpeech(frameStartMs: number): void {
    if (this.speechStartMs === undefined) {
      this.speechStartMs = frameStartMs;
      this.speechMs = 0;
      this.utteranceEndDue = false;
      if (this.vadEvents) {
        this.send({ type: 'SpeechStarted', channel: [0, 1], timestamp: frameStartMs / 1000 });
      }
    }
    this.speechMs += FRAME_MS;
    this.silenceMs = 0;
    this.lastSpeechEndMs = this.audioMs;
    if (this.interimResults && this.speechMs % this.config.interimEveryMs === 0) {
      const words = this.config.peekTranscript().split(/\s+/);
      const heard = Math.min(words.length, Math.max(1, Math.round(this.speechMs / 150)));
      this.send(this.results(words.slice(0, heard).join(' '), false, false));
    }
  }

  private heardSilence(): void {
    if (this.speechStartMs !== undefined) {
      this.silenceMs += FRAME_MS;
      if (this.endpointingMs !== undefined && this.silenceMs >= this.endpointingMs) {
        this.sendFinal(true);
      }
      return;
    }
    const gapMs = this.audioMs - this.lastSpeechEndMs;
    if (this.utteranceEndDue && this.utteranceEndMs !== undefined && gapMs >= this.utteranceEndMs) {
      this.utteranceEndDue = false;
      this.send({
        type: 'UtteranceEnd',
        channel: [0, 1],
        last_word_end: this.lastSpeechEndMs / 1000,
      });
    }
  }

  private sendFinal(speechFinal: boolean): void {
    const utterance = this.config.nextUtterance();
    this.send(this.results(utterance.text, true, speechFinal), utterance.finalDelayMs ?? 0);
    this.speechStartMs = undefined;
    this.utteranceEndDue = true;
  }

  private results(
    transcript: string,
    isFinal: boolean,
    speechFinal: boolean,
  ): Record<string, unknown> {
    const startMs = this.speechStartMs ?? this.lastSpeechEndMs;
    const endMs = this.lastSpeechEndMs;
    const words = transcript.split(/\s+/).filter((word) => word !== '');
    const wordMs = (endMs - startMs) / Math.max(1, words.length);
    return {
      type: 'Results',
      channel_index: [0, 1],
      duration: (endMs - startMs) / 1000,
      start: startMs / 1000,
      is_final: isFinal,
      speech_final: speechFinal,
      from_finalize: false,
      channel: {
        alternatives: [
          {
            transcript,
            confidence: 0.98,
            words: words.map((word, index) => ({
              word: word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
              start: (startMs + index * wordMs) / 1000,
              end: (startMs + (index + 1) * wordMs) / 1000,
              confidence: 0.98,
              punctuated_word: word,
            })),
          },
        ],
      },
      metadata: {
        request_id: this.requestId,
        model_info: { name: '2-general-nova', version: '2024-01-18.26916', arch: 'nova-2' },
        model_uuid: 'c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c',
      },
    };
  }
}

export async function startFakeDeepgram(options: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const apiKey = options.apiKey ?? DEFAULT_FAKE_DEEPGRAM_KEY;
  const connections: FakeDeepgramConnection[] = [];
  const transcripts: FakeDeepgramUtterance[] = [];
  const scripts: FakeDeepgramScript[] = [];
  const sockets = new Set<Socket>();
  const sessions = new Set<ListenSession>();
  const webSockets = new Map<FakeDeepgramConnection, WebSocket>();
  let utterancesHeard = 0;

  const say = (lines: (string | FakeDeepgramUtterance)[]): void => {
    transcripts.push(...lines.map((line) => (typeof line === 'string' ? { text: line } : line)));
  };
  say(options.transcripts ?? []);
  const sessionConfig: SessionConfig = {
    speechThreshold: options.speechThreshold ?? 500,
    idleTimeoutMs: options.idleTimeoutMs ?? 10_000,
    interimEveryMs: options.interimEveryMs ?? 100,
    peekTranscript: () => transcripts[0]?.text ?? `utterance ${utterancesHeard + 1}`,
    nextUtterance: () => {
      utterancesHeard += 1;
      return transcripts.shift() ?? { text: `utterance ${utterancesHeard}` };
    },
  };

  const server = createServer((_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain' }).end('Upgrade Required');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const webSocketServer = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  server.on('upgrade', (request, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const record: FakeDeepgramConnection = {
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: request.headers,
      status: 0,
      audioBytes: 0,
      textMessages: [],
      sentMessages: [],
      closed: false,
    };
    connections.push(record);
    socket.on('close', () => {
      // An upgraded connection is marked closed by its WebSocket, once the close code is known.
      if (record.status !== 101) {
        record.closed = true;
      }
    });
    const script = scripts.shift() ?? {};
    // Until upgraded, nothing reads the socket: without this the client's close goes unseen.
    const watchForClose = (): void => {
      socket.on('end', () => socket.destroy());
      socket.resume();
    };
    if (script.hang === true) {
      watchForClose();
      return;
    }
    const refuse = (status: number, dgError?: string): void => {
      record.status = status;
      watchForClose();
      refuseUpgrade(socket, status, dgError);
    };
    if (script.status !== undefined) {
      refuse(script.status, script.dgError);
      return;
    }
    if (request.headers.authorization !== `Token ${apiKey}`) {
      refuse(401);
      return;
    }
    if (record.path !== '/v1/listen') {
      refuse(404, 'Not Found');
      return;
    }
    const problem = queryProblem(record.query);
    if (problem !== undefined) {
      refuse(400, problem);
      return;
    }
    webSocketServer.handleUpgrade(request, socket, head, (webSocket) => {
      record.status = 101;
      webSockets.set(record, webSocket);
      webSocket.on('close', (code) => {
        record.closeCode = code;
        record.closed = true;
        webSockets.delete(record);
      });
      const session = new ListenSession(webSocket, record, sessionConfig);
      sessions.add(session);
      webSocket.on('close', () => sessions.delete(session));
      if (script.stallReading === true) {
        webSocket.pause();
      }
      if (script.malformed === true) {
        session.sendRaw('this is not JSON {');
      }
      for (const text of script.sendAfterOpen ?? []) {
        session.sendRaw(text);
      }
      if (script.dropAfterMs !== undefined) {
        session.dropAfter(script.dropAfterMs);
      }
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `ws://127.0.0.1:${port}`,
    apiKey,
    connections,
    say,
    script: (next) => {
      scripts.push(next);
    },
    resumeReading: (connection) => {
      webSockets.get(connection)?.resume();
    },
    close: async () => {
      for (const session of sessions) {
        session.stop();
      }
      for (const client of webSocketServer.clients) {
        client.terminate();
      }
      for (const socket of sockets) {
        socket.destroy();
      }
      webSocketServer.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

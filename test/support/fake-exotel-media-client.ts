import { randomBytes } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import WebSocket, { type RawData } from 'ws';
import { bytesForDuration, durationOfBytes, silence, tone } from './pcm-audio.js';

/**
 * Exotel's Voicebot applet (bidirectional AgentStream) as a WebSocket client, for tests and
 * benchmarks of our media-stream endpoint. It speaks the documented wire protocol
 * (developer.exotel.com/docs/agentstream/websocket-protocol and .../developer-guide): JSON text
 * frames `connected`, `start`, `media`, `dtmf`, `mark`, `stop` out; `media`, `mark`, `clear` in.
 *
 * Caller audio leaves as 100 ms PCM16 frames, paced at wall-clock speed when `realtime`. Bot
 * audio is "played" through a simulated playout buffer, so marks come back only once the audio
 * before them has played, `clear` drops what has not started playing, and `heardAudio()` is what
 * the caller heard. Every breach of Exotel's rules by the bot is recorded in `violations`.
 */

export type ExotelSampleRate = 8000 | 16000 | 24000;

/** Exotel's chunk rules for audio a bot sends (Stream and Voicebot applet guide). */
export const BOT_CHUNK_MULTIPLE_BYTES = 320;
export const BOT_CHUNK_MINIMUM_BYTES = 3_200;
export const BOT_CHUNK_MAXIMUM_BYTES = 100_000;

const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Exotel gives up on a handshake after 10 s. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const WAIT_POLL_MS = 5;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface FakeExotelOptions {
  /** The bot endpoint, e.g. `ws://127.0.0.1:port/api/v1/telephony/exotel/stream?sample-rate=16000`. */
  url: string;
  headers?: Record<string, string>;
  /** Defaults to the URL's `sample-rate` parameter (where Exotel reads it), else 8000. */
  sampleRate?: ExotelSampleRate;
  callSid?: string;
  accountSid?: string;
  /** Generated (`MZ` + 32 hex digits) when absent. */
  streamSid?: string;
  from?: string;
  to?: string;
  /** Defaults to the URL's query parameters other than `sample-rate`, as Exotel passes them on. */
  customParameters?: Record<string, string>;
  /**
   * true (default): caller audio leaves and bot audio plays at wall-clock pace. false: caller
   * audio leaves as fast as asked and bot audio "plays" the instant it arrives.
   */
  realtime?: boolean;
  /** Speed of simulated playback when realtime (10 plays 1 s of audio in 100 ms). */
  playbackRate?: number;
  /** false: send nothing after the handshake, so a test can send frames before `start`. */
  autoStart?: boolean;
  /** Caller audio per media frame (Exotel: ~100 ms). */
  frameMs?: number;
  /** Bigger frames from the bot close the socket with 1009. */
  maxPayloadBytes?: number;
  handshakeTimeoutMs?: number;
}

/** One frame the bot sent, in arrival order. Times are `performance.now()` milliseconds. */
export interface ReceivedFrame {
  at: number;
  /** Text as received, or the bytes of a binary frame. */
  data: string | Buffer;
  /** The parsed JSON of a text frame; undefined when it is not JSON. */
  message?: unknown;
  /** The `event` of a JSON object frame. */
  event?: string;
}

export interface ReceivedAudio {
  bytes: Buffer;
  at: number;
  durationMs: number;
}

export interface MarkRecord {
  name: string;
  at: number;
}

export type ExotelRuleBreach =
  | 'payload-not-multiple-of-320'
  | 'short-chunk-followed-by-media'
  | 'chunk-over-100kb'
  | 'bad-base64'
  | 'unknown-event'
  | 'not-a-json-object'
  | 'invalid-json'
  | 'wrong-stream-sid'
  | 'binary-frame'
  | 'malformed-event';

export interface Violation {
  kind: ExotelRuleBreach;
  detail: string;
  at: number;
}

/** Time the playout buffer ran dry in the middle of one utterance (before its mark). */
export interface PlaybackGap {
  at: number;
  durationMs: number;
}

/** When caller audio left: audio is captured before it is sent, so `endedAt` is speech end. */
export interface CallerAudioSent {
  /** NaN when no frame left (the call was over). */
  startedAt: number;
  endedAt: number;
  frames: number;
  /** false when the call ended before every frame was sent. */
  complete: boolean;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** The bot's endpoint refused the WebSocket upgrade. */
export class ExotelHandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`the bot endpoint refused the WebSocket upgrade with HTTP ${status}`);
    this.name = 'ExotelHandshakeRefused';
  }
}

interface CallerAudioJob {
  frames: Buffer[];
  sent: number;
  startedAt: number;
  resolve: (sent: CallerAudioSent) => void;
}

interface ScheduledChunk {
  bytes: Buffer;
  durationMs: number;
  startsAt: number;
  endsAt: number;
  utterance: number;
}

interface PendingMark {
  name: string;
  dueAt: number;
  timer: NodeJS.Timeout;
}

interface Waiter {
  check(): void;
  onClosed(): void;
}

export async function connectFakeExotel(
  options: FakeExotelOptions,
): Promise<FakeExotelMediaClient> {
  const socket = new WebSocket(options.url, {
    headers: options.headers,
    maxPayload: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    perMessageDeflate: false,
    handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  });
  const client = new FakeExotelMediaClient(socket, options);
  await new Promise<void>((resolve, reject) => {
    const settle = (error?: Error): void => {
      socket.off('open', onOpen);
      socket.off('error', onError);
      socket.off('unexpected-response', onRefused);
      if (error) {
        reject(error);
      } else {
        resolve();
      }
    };
    const onOpen = (): void => settle();
    const onError = (error: Error): void => settle(error);
    const onRefused = (_request: ClientRequest, response: IncomingMessage): void => {
      settle(new ExotelHandshakeRefused(response.statusCode ?? 0));
      socket.terminate();
    };
    socket.on('open', onOpen);
    socket.on('error', onError);
    socket.on('unexpected-response', onRefused);
  });
  if (options.autoStart ?? true) {
    client.sendStart();
  }
  return client;
}

export class FakeExotelMediaClient {
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string;
  readonly sampleRate: ExotelSampleRate;
  readonly customParameters: Record<string, string>;
  /** Bytes of one caller media frame. */
  readonly frameBytes: number;
  readonly received: ReceivedFrame[] = [];
  /** Valid media payloads from the bot, decoded. */
  readonly audio: ReceivedAudio[] = [];
  readonly marksReceived: MarkRecord[] = [];
  readonly marksEchoed: MarkRecord[] = [];
  /** Arrival times of `clear` events. */
  readonly clears: number[] = [];
  readonly violations: Violation[] = [];
  /** Socket errors, e.g. a frame over `maxPayloadBytes` (the socket closes after one). */
  readonly errors: Error[] = [];
  readonly closed: Promise<CloseInfo>;

  private readonly from: string;
  private readonly to: string;
  private readonly realtime: boolean;
  private readonly playbackRate: number;
  private readonly frameMs: number;
  private sequenceNumber = 0;
  private chunkNumber = 0;
  private callerAudioMs = 0;
  private connectedSent = false;
  private streamStartedAt = performance.now();
  private closedAt: number | undefined;

  private readonly callerAudioJobs: CallerAudioJob[] = [];
  private backgroundSilence = false;
  private pacer: NodeJS.Timeout | undefined;
  private nextFrameAt = 0;

  private readonly playback: ScheduledChunk[] = [];
  private playheadEndsAt = 0;
  private utterance = 0;
  private readonly pendingMarks: PendingMark[] = [];
  private shortChunkBytes: number | undefined;
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly socket: WebSocket,
    options: FakeExotelOptions,
  ) {
    const url = new URL(options.url);
    this.sampleRate = options.sampleRate ?? sampleRateOf(url);
    this.customParameters = options.customParameters ?? customParametersOf(url);
    this.streamSid = options.streamSid ?? `MZ${randomBytes(16).toString('hex')}`;
    this.callSid = options.callSid ?? randomBytes(16).toString('hex');
    this.accountSid = options.accountSid ?? 'fake-account';
    this.from = options.from ?? '+919876543210';
    this.to = options.to ?? '+918047491899';
    this.realtime = options.realtime ?? true;
    this.playbackRate = options.playbackRate ?? 1;
    this.frameMs = options.frameMs ?? 100;
    if (!(this.playbackRate > 0) || !(this.frameMs > 0)) {
      throw new Error('playbackRate and frameMs must be positive');
    }
    this.frameBytes = bytesForDuration(this.frameMs, this.sampleRate);

    socket.on('open', () => {
      this.streamStartedAt = performance.now();
    });
    socket.on('message', (data, isBinary) => {
      try {
        this.onFrame(toBuffer(data), isBinary);
      } catch (error) {
        this.breach('malformed-event', `the fake could not process a frame: ${String(error)}`);
      }
      this.wakeWaiters();
    });
    socket.on('error', (error) => this.errors.push(error));
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.onClosed();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends `connected` (the first time) then `start`; again on each call, for duplicate tests. */
  sendStart(): void {
    if (!this.connectedSent) {
      this.sendJson({ event: 'connected' });
      this.connectedSent = true;
      this.streamStartedAt = performance.now();
    }
    this.sendJson({
      event: 'start',
      sequence_number: this.nextSequenceNumber(),
      stream_sid: this.streamSid,
      start: {
        stream_sid: this.streamSid,
        call_sid: this.callSid,
        account_sid: this.accountSid,
        from: this.from,
        to: this.to,
        custom_parameters: this.customParameters,
        media_format: {
          encoding: 'audio/x-raw',
          sample_rate: String(this.sampleRate),
          bit_rate: '16',
        },
      },
    });
  }

  /** The caller talks: a tone, as media frames. */
  speak(
    ms: number,
    voice: { frequency?: number; amplitude?: number } = {},
  ): Promise<CallerAudioSent> {
    return this.play(tone(ms, this.sampleRate, voice.frequency, voice.amplitude));
  }

  silence(ms: number): Promise<CallerAudioSent> {
    return this.play(silence(ms, this.sampleRate));
  }

  /** Any caller audio (PCM16 LE mono at `sampleRate`); the last frame is padded with silence. */
  play(audio: Buffer): Promise<CallerAudioSent> {
    const frames: Buffer[] = [];
    for (let offset = 0; offset < audio.length; offset += this.frameBytes) {
      const frame = Buffer.alloc(this.frameBytes);
      audio.copy(frame, 0, offset, offset + this.frameBytes);
      frames.push(frame);
    }
    return new Promise((resolve) => {
      const job: CallerAudioJob = { frames, sent: 0, startedAt: Number.NaN, resolve };
      if (!this.realtime || this.closedAt !== undefined) {
        while (job.sent < frames.length) {
          if (!this.sendNextFrameOf(job)) {
            break;
          }
        }
        this.finishJob(job);
        return;
      }
      this.callerAudioJobs.push(job);
      this.startPacer();
    });
  }

  /** Exotel streams silence while nobody speaks; this keeps it going between utterances. */
  startSilence(): void {
    this.backgroundSilence = true;
    this.startPacer();
  }

  stopSilence(): void {
    this.backgroundSilence = false;
  }

  dtmf(digit: string, durationMs = 100): void {
    this.sendJson({
      event: 'dtmf',
      sequence_number: this.nextSequenceNumber(),
      stream_sid: this.streamSid,
      dtmf: { digit, duration: String(durationMs) },
    });
  }

  /** The caller hangs up: `stop`, then a normal close, as Exotel does. */
  stop(reason = 'callended'): Promise<CloseInfo> {
    if (this.isOpen) {
      this.sendJson({
        event: 'stop',
        sequence_number: this.nextSequenceNumber(),
        stream_sid: this.streamSid,
        stop: { call_sid: this.callSid, account_sid: this.accountSid, reason },
      });
      this.socket.close(1000);
    }
    return this.closed;
  }

  /** Sends anything: a string as a text frame, a Buffer as a binary frame. */
  sendRaw(data: string | Buffer): void {
    this.assertOpen();
    this.socket.send(data, { binary: Buffer.isBuffer(data) });
  }

  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.isOpen) {
      this.socket.close(code, reason);
    }
    return this.closed;
  }

  /** The network goes away: no close frame (the bot sees 1006). */
  drop(): Promise<CloseInfo> {
    this.socket.terminate();
    return this.closed;
  }

  /** The first received frame (already here or still to come) that `matches`. */
  async waitFor(
    matches: (frame: ReceivedFrame) => boolean,
    timeoutMs = 2_000,
    what = 'a matching frame from the bot',
  ): Promise<ReceivedFrame> {
    let found: ReceivedFrame | undefined;
    await this.waitUntil(
      () => (found = this.received.find(matches)) !== undefined,
      timeoutMs,
      what,
    );
    return found as ReceivedFrame;
  }

  /** Resolves once `condition` holds (checked on every frame and every few ms). */
  waitUntil(condition: () => boolean, timeoutMs = 2_000, what = 'condition'): Promise<void> {
    return new Promise((resolve, reject) => {
      const failure = (message: string): Error =>
        new Error(`${message} (${this.violations.length} violations so far)`);
      const settle = (error?: Error): void => {
        clearInterval(poll);
        clearTimeout(deadline);
        this.waiters.delete(waiter);
        if (error) {
          reject(error);
        } else {
          resolve();
        }
      };
      const holds = (): boolean | Error => {
        try {
          return condition();
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error));
        }
      };
      const waiter: Waiter = {
        check: () => {
          const result = holds();
          if (result !== false) {
            settle(result === true ? undefined : result);
          }
        },
        onClosed: () => {
          const result = holds();
          settle(result === true ? undefined : failure(`the call ended while waiting for ${what}`));
        },
      };
      const poll = setInterval(() => waiter.check(), WAIT_POLL_MS);
      const deadline = setTimeout(
        () => settle(failure(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      this.waiters.add(waiter);
      if (this.closedAt === undefined) {
        waiter.check();
      } else {
        waiter.onClosed();
      }
    });
  }

  /** Milliseconds of bot audio played so far (playback stops when the call ends). */
  get playedAudioMs(): number {
    const now = this.playbackClock();
    return this.playback.reduce(
      (total, chunk) => total + chunk.durationMs * playedFraction(chunk, now),
      0,
    );
  }

  /** Milliseconds of bot audio received but not played yet. */
  get queuedAudioMs(): number {
    const now = this.playbackClock();
    return this.playback.reduce(
      (total, chunk) => total + chunk.durationMs * (1 - playedFraction(chunk, now)),
      0,
    );
  }

  /** What the caller heard: the bot audio played so far, without what `clear` dropped. */
  heardAudio(): Buffer {
    const now = this.playbackClock();
    return Buffer.concat(
      this.playback.map((chunk) => {
        const bytes = Math.floor((chunk.bytes.length * playedFraction(chunk, now)) / 2) * 2;
        return chunk.bytes.subarray(0, bytes);
      }),
    );
  }

  /**
   * Times the playout buffer ran dry between two chunks of one utterance (no mark or clear in
   * between) for longer than `thresholdMs`: the caller heard a hole in the bot's speech.
   * Meaningful when realtime (otherwise every chunk plays in no time).
   */
  audioGaps(thresholdMs = 0): PlaybackGap[] {
    const gaps: PlaybackGap[] = [];
    for (let index = 1; index < this.playback.length; index += 1) {
      const previous = this.playback[index - 1]!;
      const chunk = this.playback[index]!;
      const durationMs = chunk.startsAt - previous.endsAt;
      if (chunk.utterance === previous.utterance && durationMs > thresholdMs) {
        gaps.push({ at: previous.endsAt, durationMs });
      }
    }
    return gaps;
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    const at = performance.now();
    if (isBinary) {
      this.received.push({ at, data });
      this.breach('binary-frame', `${data.length} bytes; Exotel expects JSON text frames`, at);
      return;
    }
    const text = data.toString('utf8');
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.received.push({ at, data: text });
      this.breach('invalid-json', excerpt(text), at);
      return;
    }
    if (!isObject(message)) {
      this.received.push({ at, data: text, message });
      this.breach('not-a-json-object', excerpt(text), at);
      return;
    }
    const event = typeof message.event === 'string' ? message.event : undefined;
    this.received.push({ at, data: text, message, event });
    this.handleEvent(message, event, at);
  }

  private handleEvent(
    message: Record<string, unknown>,
    event: string | undefined,
    at: number,
  ): void {
    if (event !== 'media' && event !== 'mark' && event !== 'clear') {
      this.breach('unknown-event', `event ${JSON.stringify(event ?? null)}`, at);
      return;
    }
    if (message.stream_sid !== this.streamSid) {
      this.breach('wrong-stream-sid', `${event} for ${JSON.stringify(message.stream_sid)}`, at);
      return;
    }
    switch (event) {
      case 'media':
        this.handleMedia(message.media, at);
        return;
      case 'mark': {
        const name = isObject(message.mark) ? message.mark.name : undefined;
        if (typeof name !== 'string') {
          this.breach('malformed-event', 'mark without a string mark.name', at);
          return;
        }
        this.handleMark(name, at);
        return;
      }
      case 'clear':
        this.handleClear(at);
        return;
    }
  }

  private handleMedia(media: unknown, at: number): void {
    const payload = isObject(media) ? media.payload : undefined;
    if (typeof payload !== 'string' || payload.length === 0) {
      this.breach('malformed-event', 'media without a media.payload', at);
      return;
    }
    if (payload.length % 4 !== 0 || !BASE64.test(payload)) {
      this.breach('bad-base64', excerpt(payload), at);
      return;
    }
    const bytes = Buffer.from(payload, 'base64');
    if (bytes.length % BOT_CHUNK_MULTIPLE_BYTES !== 0) {
      this.breach('payload-not-multiple-of-320', `${bytes.length} bytes`, at);
    }
    if (bytes.length > BOT_CHUNK_MAXIMUM_BYTES) {
      this.breach('chunk-over-100kb', `${bytes.length} bytes`, at);
    }
    if (this.shortChunkBytes !== undefined) {
      this.breach(
        'short-chunk-followed-by-media',
        `a ${this.shortChunkBytes}-byte chunk was not the last before a mark or clear`,
        at,
      );
    }
    this.shortChunkBytes = bytes.length < BOT_CHUNK_MINIMUM_BYTES ? bytes.length : undefined;
    const durationMs = durationOfBytes(bytes.length, this.sampleRate);
    this.audio.push({ bytes, at, durationMs });
    const playMs = this.realtime ? durationMs / this.playbackRate : 0;
    const startsAt = Math.max(at, this.playheadEndsAt);
    this.playheadEndsAt = startsAt + playMs;
    this.playback.push({
      bytes,
      durationMs,
      startsAt,
      endsAt: this.playheadEndsAt,
      utterance: this.utterance,
    });
  }

  private handleMark(name: string, at: number): void {
    this.marksReceived.push({ name, at });
    this.shortChunkBytes = undefined;
    this.utterance += 1;
    if (this.playheadEndsAt <= at) {
      this.echoMark(name);
      return;
    }
    this.scheduleMark(name, this.playheadEndsAt);
  }

  private scheduleMark(name: string, dueAt: number): void {
    const pending: PendingMark = {
      name,
      dueAt,
      timer: setTimeout(
        () => {
          this.pendingMarks.splice(this.pendingMarks.indexOf(pending), 1);
          // Timers may fire a little early; the echo must never precede the end of the audio.
          if (performance.now() < dueAt) {
            this.scheduleMark(name, dueAt);
          } else {
            this.echoMark(name);
          }
        },
        Math.ceil(dueAt - performance.now()),
      ),
    };
    this.pendingMarks.push(pending);
  }

  /**
   * Exotel documents that `clear` drops audio that has not started playing; the chunk playing
   * now finishes. What it does with marks behind the dropped audio is not documented: they are
   * echoed at once (as Twilio does), so a bot waiting for them is never stuck.
   */
  private handleClear(at: number): void {
    this.clears.push(at);
    this.shortChunkBytes = undefined;
    this.utterance += 1;
    const firstUnstarted = this.playback.findIndex((chunk) => chunk.startsAt > at);
    if (firstUnstarted >= 0) {
      this.playback.length = firstUnstarted;
    }
    this.playheadEndsAt = Math.max(at, this.playback.at(-1)?.endsAt ?? at);
    for (const pending of this.pendingMarks.splice(0)) {
      clearTimeout(pending.timer);
      this.echoMark(pending.name);
    }
  }

  private echoMark(name: string): void {
    if (!this.isOpen) {
      return;
    }
    this.sendJson({
      event: 'mark',
      sequence_number: this.nextSequenceNumber(),
      stream_sid: this.streamSid,
      mark: { name },
    });
    this.marksEchoed.push({ name, at: performance.now() });
    this.wakeWaiters();
  }

  private startPacer(): void {
    if (this.pacer !== undefined || this.closedAt !== undefined) {
      return;
    }
    // Audio is captured for a whole frame before Exotel sends it.
    this.nextFrameAt = performance.now() + this.frameMs;
    this.pacer = setTimeout(() => this.paceNextFrame(), this.frameMs);
  }

  private paceNextFrame(): void {
    const early = this.nextFrameAt - performance.now();
    if (early > 0) {
      // Timers may fire a little early; a frame never leaves before its audio was captured.
      this.pacer = setTimeout(() => this.paceNextFrame(), Math.ceil(early));
      return;
    }
    this.pacer = undefined;
    const job = this.callerAudioJobs[0];
    if (job) {
      this.sendNextFrameOf(job);
      if (job.sent === job.frames.length) {
        this.callerAudioJobs.shift();
        this.finishJob(job);
      }
    } else if (this.backgroundSilence) {
      this.sendMediaFrame(Buffer.alloc(this.frameBytes));
    } else {
      return;
    }
    if ((this.callerAudioJobs.length > 0 || this.backgroundSilence) && this.isOpen) {
      this.nextFrameAt += this.frameMs;
      this.pacer = setTimeout(
        () => this.paceNextFrame(),
        Math.max(0, this.nextFrameAt - performance.now()),
      );
    }
  }

  private sendNextFrameOf(job: CallerAudioJob): boolean {
    const frame = job.frames[job.sent];
    if (!frame || !this.sendMediaFrame(frame)) {
      return false;
    }
    if (job.sent === 0) {
      job.startedAt = performance.now();
    }
    job.sent += 1;
    return true;
  }

  private finishJob(job: CallerAudioJob): void {
    job.resolve({
      startedAt: job.startedAt,
      endedAt: job.sent > 0 ? performance.now() : Number.NaN,
      frames: job.sent,
      complete: job.sent === job.frames.length,
    });
  }

  private sendMediaFrame(audio: Buffer): boolean {
    if (!this.isOpen) {
      return false;
    }
    this.chunkNumber += 1;
    this.callerAudioMs += durationOfBytes(audio.length, this.sampleRate);
    const timestamp = this.realtime ? performance.now() - this.streamStartedAt : this.callerAudioMs;
    this.sendJson({
      event: 'media',
      sequence_number: this.nextSequenceNumber(),
      stream_sid: this.streamSid,
      media: {
        chunk: String(this.chunkNumber),
        timestamp: String(Math.round(timestamp)),
        payload: audio.toString('base64'),
      },
    });
    return true;
  }

  private sendJson(message: Record<string, unknown>): void {
    this.assertOpen();
    this.socket.send(JSON.stringify(message));
  }

  private assertOpen(): void {
    if (!this.isOpen) {
      throw new Error('the fake Exotel call is not connected');
    }
  }

  private nextSequenceNumber(): string {
    this.sequenceNumber += 1;
    return String(this.sequenceNumber);
  }

  private breach(kind: ExotelRuleBreach, detail: string, at = performance.now()): void {
    this.violations.push({ kind, detail, at });
  }

  private playbackClock(): number {
    return this.closedAt ?? performance.now();
  }

  private wakeWaiters(): void {
    for (const waiter of [...this.waiters]) {
      waiter.check();
    }
  }

  private onClosed(): void {
    this.closedAt = performance.now();
    clearTimeout(this.pacer);
    this.pacer = undefined;
    this.backgroundSilence = false;
    for (const job of this.callerAudioJobs.splice(0)) {
      this.finishJob(job);
    }
    for (const pending of this.pendingMarks.splice(0)) {
      clearTimeout(pending.timer);
    }
    for (const waiter of [...this.waiters]) {
      waiter.onClosed();
    }
  }
}

function sampleRateOf(url: URL): ExotelSampleRate {
  const rate = Number(url.searchParams.get('sample-rate'));
  return rate === 16000 || rate === 24000 ? rate : 8000;
}

function customParametersOf(url: URL): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (name !== 'sample-rate') {
      parameters[name] = value;
    }
  }
  return parameters;
}

function playedFraction(chunk: ScheduledChunk, now: number): number {
  if (now >= chunk.endsAt) {
    return 1;
  }
  if (now <= chunk.startsAt) {
    return 0;
  }
  return (now - chunk.startsAt) / (chunk.endsAt - chunk.startsAt);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) {
    return Buffer.concat(data);
  }
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

function excerpt(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

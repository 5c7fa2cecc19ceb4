import type { Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type {
  CallAudioListener,
  CallAudioTransport,
  CallStreamIdentity,
} from '../../voice/ports/call-audio.port.js';
import { ExotelAudioChunker } from './exotel-audio-chunker.js';
import {
  clearFrame,
  type InboundFrame,
  markFrame,
  mediaFrame,
  parseInboundFrame,
  type StreamStart,
} from './exotel-media-frames.js';
import { MediaStreamCloseCode } from './media-stream-close-codes.js';

/**
 * A WebSocket close reason from any text: the protocol allows 123 bytes, and `ws` throws on
 * more, so text that came from Exotel (a stop reason) is kept to printable ASCII and cut.
 */
export function closeReason(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}

/** Bounds on one stream, so a hostile or broken peer costs little and ends soon. */
export interface MediaStreamLimits {
  /** Wait for `start` after the socket opens. */
  startTimeoutMs: number;
  /** Frames per second accepted on average (Exotel sends ~10 media frames a second). */
  framesPerSecond: number;
  /** Burst above the average. */
  frameBurst: number;
  /** Malformed frames tolerated (logged and skipped) before the stream is closed. */
  maxBadFrames: number;
  /** Bytes we may have queued on the socket before the peer counts as not reading. */
  maxBufferedBytes: number;
}

export const DEFAULT_MEDIA_STREAM_LIMITS: MediaStreamLimits = {
  startTimeoutMs: 10_000,
  framesPerSecond: 100,
  frameBurst: 200,
  maxBadFrames: 20,
  maxBufferedBytes: 2 * 1024 * 1024,
};

/** What the stream asks of its gateway once `start` arrives: may it go live, and with whom. */
export interface StreamAdmission {
  admit(
    start: StreamStart,
    stream: ExotelMediaStream,
  ): Promise<
    | { admitted: true; identity: CallStreamIdentity; listener: CallAudioListener }
    | { admitted: false; code: number; reason: string }
  >;
  /** The stream closed (whatever the cause); called once. */
  released(stream: ExotelMediaStream): void;
}

type State = 'awaiting-start' | 'admitting' | 'live' | 'closed';

/**
 * One Exotel Voicebot stream: Exotel's frames in, plain audio to the conversation; the
 * conversation's audio out, cut into chunks Exotel accepts. It is the conversation's
 * CallAudioTransport.
 */
export class ExotelMediaStream implements CallAudioTransport {
  private state: State = 'awaiting-start';
  private start?: StreamStart;
  private listener?: CallAudioListener;
  private readonly chunker = new ExotelAudioChunker();
  private readonly marksInFlight = new Set<string>();
  private readonly marksCleared = new Set<string>();
  private readonly marksPlayedEarly: string[] = [];
  private startTimer?: NodeJS.Timeout;
  private badFrames = 0;
  private frameAllowance: number;
  private allowanceAt = Date.now();
  private closeReason = 'socket closed';

  constructor(
    private readonly socket: WebSocket,
    private readonly credentials: Record<string, unknown>,
    private readonly admission: StreamAdmission,
    private readonly logger: Logger,
    private readonly limits: MediaStreamLimits = DEFAULT_MEDIA_STREAM_LIMITS,
  ) {
    this.frameAllowance = limits.frameBurst;
    this.startTimer = setTimeout(() => {
      this.end(MediaStreamCloseCode.startTimeout, 'no start frame in time');
    }, limits.startTimeoutMs);
    socket.on('message', (data, isBinary) => {
      this.receive(data as Buffer, isBinary);
    });
    socket.on('close', () => {
      this.closed();
    });
    socket.on('error', (error) => {
      this.logger.warn(`media stream socket error: ${error.message}`);
    });
  }

  /** The query string the socket was opened with (the signed URL's parameters). */
  get query(): Record<string, unknown> {
    return this.credentials;
  }

  get streamStart(): StreamStart | undefined {
    return this.start;
  }

  get sampleRate(): number {
    return this.start?.sampleRate ?? 8000;
  }

  play(audio: Buffer): void {
    for (const chunk of this.chunker.push(audio)) {
      this.send(mediaFrame(this.streamSid(), chunk));
    }
  }

  mark(name: string): void {
    const last = this.chunker.flush();
    if (last) {
      this.send(mediaFrame(this.streamSid(), last));
    }
    this.marksInFlight.add(name);
    this.send(markFrame(this.streamSid(), name));
  }

  clear(): void {
    this.chunker.reset();
    for (const name of this.marksInFlight) {
      this.marksCleared.add(name);
    }
    this.marksInFlight.clear();
    this.send(clearFrame(this.streamSid()));
  }

  close(reason: string): void {
    this.end(MediaStreamCloseCode.normal, reason);
  }

  /** Closes with a code (refusals, protocol errors); the listener hears `reason`. */
  end(code: number, reason: string): void {
    if (this.state === 'closed') {
      return;
    }
    this.closeReason = reason;
    if (code !== MediaStreamCloseCode.normal) {
      this.logger.warn(`media stream closed (${code}): ${reason}`);
    }
    this.socket.close(code, closeReason(reason));
    this.closed();
  }

  private streamSid(): string {
    return this.start?.streamSid ?? '';
  }

  private send(frame: string): void {
    // While admitting, the conversation may already greet (it starts inside the admission).
    if (this.state !== 'live' && this.state !== 'admitting') {
      return;
    }
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.end(MediaStreamCloseCode.peerNotReading, 'the peer does not read its audio');
      return;
    }
    this.socket.send(frame);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed' || !this.withinFrameRate()) {
      return;
    }
    if (isBinary) {
      this.badFrame('binary frame (Exotel sends JSON text)');
      return;
    }
    const parsed = parseInboundFrame(data.toString('utf8'));
    if (!parsed.ok) {
      this.badFrame(parsed.problem);
      return;
    }
    this.handle(parsed.frame);
  }

  private handle(frame: InboundFrame): void {
    const needsStart = !['connected', 'start', 'stop'].includes(frame.event);
    if (this.state === 'awaiting-start' && needsStart) {
      this.end(MediaStreamCloseCode.protocolError, `${frame.event} before start`);
      return;
    }
    switch (frame.event) {
      case 'connected':
        return;
      case 'start':
        if (this.state !== 'awaiting-start') {
          this.badFrame('a second start frame');
          return;
        }
        this.start = frame.start;
        this.state = 'admitting';
        clearTimeout(this.startTimer);
        void this.admit(frame.start);
        return;
      case 'media':
        // Audio arriving while the session is being checked is not the conversation's yet.
        this.listener?.onAudio(frame.audio);
        return;
      case 'dtmf':
        this.listener?.onDtmf(frame.digit);
        return;
      case 'mark':
        this.markPlayed(frame.name);
        return;
      case 'stop':
        this.end(MediaStreamCloseCode.normal, `stream stopped by Exotel (${frame.reason})`);
        return;
    }
  }

  private async admit(start: StreamStart): Promise<void> {
    try {
      const outcome = await this.admission.admit(start, this);
      // The socket may have closed while the session was checked.
      if (this.state !== 'admitting') {
        if (outcome.admitted) {
          outcome.listener.onClosed(this.closeReason);
        }
        return;
      }
      if (!outcome.admitted) {
        this.end(outcome.code, outcome.reason);
        return;
      }
      this.listener = outcome.listener;
      this.state = 'live';
      for (const name of this.marksPlayedEarly.splice(0)) {
        outcome.listener.onPlayed(name);
      }
    } catch (error) {
      this.logger.error(
        `media stream admission failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      this.end(MediaStreamCloseCode.internalError, 'the call could not be started');
    }
  }

  private markPlayed(name: string): void {
    if (this.marksCleared.delete(name) || !this.marksInFlight.delete(name)) {
      return;
    }
    if (this.listener) {
      this.listener.onPlayed(name);
    } else {
      // Played while the conversation was still starting (a greeting, a fallback line).
      this.marksPlayedEarly.push(name);
    }
  }

  private badFrame(problem: string): void {
    this.badFrames += 1;
    if (this.state === 'awaiting-start' || this.badFrames > this.limits.maxBadFrames) {
      this.end(MediaStreamCloseCode.protocolError, `not Exotel's protocol: ${problem}`);
      return;
    }
    this.logger.warn(`media stream frame skipped: ${problem}`);
  }

  /** Token bucket on frames: a flood closes the stream instead of queueing work. */
  private withinFrameRate(): boolean {
    const now = Date.now();
    this.frameAllowance = Math.min(
      this.limits.frameBurst,
      this.frameAllowance + ((now - this.allowanceAt) / 1000) * this.limits.framesPerSecond,
    );
    this.allowanceAt = now;
    if (this.frameAllowance < 1) {
      this.end(MediaStreamCloseCode.flood, 'more frames than a call sends');
      return false;
    }
    this.frameAllowance -= 1;
    return true;
  }

  private closed(): void {
    if (this.state === 'closed') {
      return;
    }
    const wasLive = this.state === 'live';
    this.state = 'closed';
    clearTimeout(this.startTimer);
    this.chunker.reset();
    if (this.socket.readyState === this.socket.OPEN) {
      this.socket.close(MediaStreamCloseCode.normal);
    }
    this.admission.released(this);
    if (wasLive) {
      this.listener?.onClosed(this.closeReason);
    }
  }
}

import WebSocket from 'ws';
import type { SpeechToTextEvent, SpeechToTextStream } from '../../ports/speech-to-text.port.js';
import { VendorError } from '../../ports/vendor-error.js';
import { DEEPGRAM_VENDOR, interpretDeepgramMessage } from './deepgram-messages.js';
import { vendorText } from '../vendor-text.js';

export interface DeepgramLiveStreamSettings {
  sampleRate: number;
  keepAliveIntervalMs: number;
  finishTimeoutMs: number;
}

/** Audio the socket may hold unsent before the vendor counts as not keeping up. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const KEEP_ALIVE = JSON.stringify({ type: 'KeepAlive' });
const CLOSE_STREAM = JSON.stringify({ type: 'CloseStream' });
const NORMAL_CLOSURE = 1000;
const INTERNAL_ERROR = 1011;

type StreamState = 'streaming' | 'finishing' | 'closed';

function textOf(data: WebSocket.RawData): string {
  if (Array.isArray(data)) {
    return Buffer.concat(data).toString('utf8');
  }
  return (data instanceof ArrayBuffer ? Buffer.from(data) : data).toString('utf8');
}

function failureOfClose(code: number, reason: string): VendorError {
  // NET-0001 is Deepgram saying it received neither audio nor KeepAlive within its window.
  if (code === INTERNAL_ERROR && reason.includes('NET-0001')) {
    return new VendorError(
      DEEPGRAM_VENDOR,
      'timeout',
      'closed the stream: no audio in time (NET-0001)',
    );
  }
  const detail = reason === '' ? '' : `: ${vendorText(reason)}`;
  return new VendorError(DEEPGRAM_VENDOR, 'unavailable', `closed the stream (${code})${detail}`);
}

function failureOfSocket(error: Error & { code?: unknown }): VendorError {
  const code = typeof error.code === 'string' ? error.code : 'unknown';
  // ws names its protocol violations (oversized or invalid frames) WS_ERR_*.
  if (code.startsWith('WS_ERR_')) {
    return new VendorError(DEEPGRAM_VENDOR, 'malformed', `sent an invalid frame (${code})`);
  }
  return new VendorError(DEEPGRAM_VENDOR, 'unavailable', `connection failed (${code})`);
}

/** One open Deepgram live transcription socket, seen as a SpeechToTextStream. */
export class DeepgramLiveStream implements SpeechToTextStream {
  private state: StreamState = 'streaming';
  private bytesSent = 0;
  private readonly keepAliveTimer: NodeJS.Timeout;
  private finishTimer: NodeJS.Timeout | undefined;
  private finished: Promise<void> | undefined;
  private resolveFinished: (() => void) | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly settings: DeepgramLiveStreamSettings,
    private readonly onEvent: (event: SpeechToTextEvent) => void,
  ) {
    socket.on('message', (data, isBinary) => {
      this.receive(data, isBinary);
    });
    socket.on('close', (code, reason) => {
      this.closedByVendor(code, reason.toString('utf8'));
    });
    socket.on('error', (error) => {
      this.fail(failureOfSocket(error));
    });
    // Deepgram closes a stream that gets nothing for ~10 s; silence must not end the call.
    this.keepAliveTimer = setInterval(() => {
      this.sendText(KEEP_ALIVE);
    }, settings.keepAliveIntervalMs);
    this.keepAliveTimer.unref();
  }

  get audioSeconds(): number {
    return this.bytesSent / 2 / this.settings.sampleRate;
  }

  write(audio: Buffer): void {
    // Deepgram closes the stream when it gets an empty binary frame.
    if (this.state !== 'streaming' || audio.length === 0) {
      return;
    }
    if (this.socket.readyState !== WebSocket.OPEN) {
      return;
    }
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.fail(new VendorError(DEEPGRAM_VENDOR, 'timeout', 'is not reading the audio in time'));
      return;
    }
    this.socket.send(audio, { binary: true });
    this.bytesSent += audio.length;
    this.keepAliveTimer.refresh();
  }

  /** Never rejects: a failure while finishing arrives as the `error` event. */
  finish(): Promise<void> {
    if (this.finished !== undefined) {
      return this.finished;
    }
    if (this.state === 'closed') {
      return Promise.resolve();
    }
    this.state = 'finishing';
    clearInterval(this.keepAliveTimer);
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    this.sendText(CLOSE_STREAM);
    this.finishTimer = setTimeout(() => {
      this.shutDown();
    }, this.settings.finishTimeoutMs);
    return this.finished;
  }

  close(): void {
    this.shutDown();
  }

  private sendText(message: string): void {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(message);
    }
  }

  private receive(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.state === 'closed') {
      return;
    }
    if (isBinary) {
      this.fail(new VendorError(DEEPGRAM_VENDOR, 'malformed', 'sent a binary message'));
      return;
    }
    const meaning = interpretDeepgramMessage(textOf(data));
    if (meaning.kind === 'malformed') {
      this.fail(new VendorError(DEEPGRAM_VENDOR, 'malformed', `sent ${meaning.reason}`));
    } else if (meaning.kind === 'event') {
      this.deliver(meaning.event);
    }
  }

  private closedByVendor(code: number, reason: string): void {
    if (this.state === 'closed') {
      return;
    }
    if (this.state === 'finishing' && code === NORMAL_CLOSURE) {
      this.shutDown();
      return;
    }
    this.fail(failureOfClose(code, reason));
  }

  private fail(error: VendorError): void {
    if (this.state === 'closed') {
      return;
    }
    this.shutDown();
    this.deliver({ type: 'error', error });
  }

  private shutDown(): void {
    if (this.state === 'closed') {
      return;
    }
    this.state = 'closed';
    clearInterval(this.keepAliveTimer);
    clearTimeout(this.finishTimer);
    this.socket.terminate();
    this.resolveFinished?.();
  }

  private deliver(event: SpeechToTextEvent): void {
    try {
      this.onEvent(event);
    } catch {
      // A consumer's bug must not escape into the socket's callback and crash every call.
    }
  }
}

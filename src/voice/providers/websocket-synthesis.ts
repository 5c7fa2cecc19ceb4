import type { SpeechSynthesis, TextToSpeechHandlers } from '../ports/text-to-speech.port.js';
import { VendorError, type VendorFailure } from '../ports/vendor-error.js';
import { failureForVendorMessage, VendorSocket } from './websocket-connect.js';
import { vendorText } from './vendor-text.js';

/** Text waiting for the connection to open is bounded: a runaway producer fails the utterance. */
const MAX_QUEUED_CHARACTERS = 20_000;
/** The rates the streaming vendors are asked for: raw PCM at the call's rate, no resampling. */
const SUPPORTED_SAMPLE_RATES = new Set([8000, 16000, 24000]);

/** Why an utterance at this rate is refused before connecting, or undefined when it is fine. */
export function sampleRateRefusal(sampleRate: number): string | undefined {
  return SUPPORTED_SAMPLE_RATES.has(sampleRate)
    ? undefined
    : `sample rate ${sampleRate} is not one of 8000, 16000, 24000`;
}

export interface WebSocketSynthesisSettings {
  vendor: string;
  /** Redacted from any vendor text quoted in an error. */
  apiKey: string;
  /** Time allowed for the WebSocket to open. */
  connectTimeoutMs: number;
  /**
   * Time allowed for the first audio after the first text is sent, and for each next message
   * once the end of the text was sent.
   */
  firstAudioTimeoutMs: number;
}

/** Where an utterance's WebSocket connects. */
export interface SynthesisEndpoint {
  url: string;
  headers: Record<string, string>;
}

/**
 * One utterance over one vendor WebSocket, the lifecycle every streaming vendor shares: text
 * pushed before the connection opens is queued (bounded), the end is sent once all text is, the
 * vendor's silence is bounded while audio is owed, audio is delivered in whole samples, and
 * exactly one of `onDone` / `onError` is called unless the utterance is cancelled first.
 *
 * A vendor subclass says what is the vendor's: where to connect (`connect` or `refuse`, last in
 * its constructor), the shape of its messages, and how a server message is read (calling
 * `receiveAudio`, `receiveEnd`, `receiveVendorError` or `fail`).
 */
export abstract class WebSocketSynthesis implements SpeechSynthesis {
  private socket: VendorSocket | undefined;
  private readonly queue: string[] = [];
  private queuedCharacters = 0;
  private sentCharacters = 0;
  private endRequested = false;
  private endSent = false;
  private textSent = false;
  private audioReceived = false;
  private finished = false;
  private silenceTimer: NodeJS.Timeout | undefined;
  /** The odd byte of a chunk, completed by the next chunk's first byte. */
  private pendingByte: Buffer | undefined;

  protected constructor(
    private readonly settings: WebSocketSynthesisSettings,
    private readonly handlers: TextToSpeechHandlers,
  ) {}

  get characters(): number {
    return this.sentCharacters;
  }

  push(text: string): void {
    if (this.finished || this.endRequested || this.skips(text)) {
      return;
    }
    if (this.socket?.isOpen) {
      this.sendText(text);
      return;
    }
    this.queuedCharacters += text.length;
    if (this.queuedCharacters > MAX_QUEUED_CHARACTERS) {
      this.fail(
        'rejected',
        `more than ${MAX_QUEUED_CHARACTERS} characters pushed before the connection opened`,
      );
      return;
    }
    this.queue.push(text);
  }

  end(): void {
    if (this.finished || this.endRequested) {
      return;
    }
    this.endRequested = true;
    if (this.sentCharacters === 0 && this.queue.length === 0) {
      // Nothing to speak: the vendor would have nothing to finish either.
      setImmediate(() => {
        this.finish();
      });
      return;
    }
    if (this.socket?.isOpen) {
      this.sendEnd();
    }
  }

  cancel(): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    this.stopTimer();
    const message = this.cancelMessage();
    if (message !== undefined) {
      this.socket?.send(message);
    }
    this.socket?.close();
  }

  /** A pushed piece that is not sent at all (default: the empty one). */
  protected skips(text: string): boolean {
    return text.length === 0;
  }

  /** The vendor's first message once the socket opens, if it wants one (default: none). */
  protected openingMessage(): unknown {
    return undefined;
  }

  /** The vendor's message carrying one pushed piece of text. */
  protected abstract textMessage(text: string): unknown;

  /** The vendor's message saying no more text follows. */
  protected abstract endMessage(): unknown;

  /** The vendor's message stopping the generation before the socket closes, if it has one. */
  protected abstract cancelMessage(): unknown;

  /** Reads one text frame from the vendor. */
  protected abstract receiveMessage(text: string): void;

  /** Opens the utterance's socket; called once, last in the subclass constructor. */
  protected connect(endpoint: SynthesisEndpoint): void {
    this.socket = new VendorSocket(
      {
        vendor: this.settings.vendor,
        url: endpoint.url,
        headers: endpoint.headers,
        connectTimeoutMs: this.settings.connectTimeoutMs,
        apiKey: this.settings.apiKey,
      },
      {
        onOpen: () => {
          this.onOpen();
        },
        onMessage: (text) => {
          this.receiveMessage(text);
        },
        onFailure: (error) => {
          this.report(error);
        },
      },
    );
  }

  /** Fails the utterance as `rejected` without connecting (after start() has returned). */
  protected refuse(reason: string): void {
    setImmediate(() => {
      this.fail('rejected', reason);
    });
  }

  /** Audio from the vendor: delivered, and progress for the silence bound. */
  protected receiveAudio(audio: Buffer): void {
    this.audioReceived = true;
    this.deliver(audio);
    // Only audio is progress: other messages do not extend the silence bound.
    this.armTimer();
  }

  /** The vendor says it has spoken everything: the end of the utterance, if its text had ended. */
  protected receiveEnd(whyEarly: string): void {
    if (!this.endSent) {
      this.fail('unavailable', whyEarly);
      return;
    }
    this.finish();
  }

  /** The vendor's own error message, classified by its words (and status, when it gives one). */
  protected receiveVendorError(text: string, status?: number): void {
    const quoted = vendorText(text, this.settings.apiKey);
    this.report(
      new VendorError(
        this.settings.vendor,
        failureForVendorMessage(text, status),
        `the vendor reported an error: ${quoted}`,
        status,
      ),
    );
  }

  protected fail(failure: VendorFailure, message: string): void {
    this.report(new VendorError(this.settings.vendor, failure, message));
  }

  private onOpen(): void {
    const opening = this.openingMessage();
    if (opening !== undefined) {
      this.socket?.send(opening);
    }
    for (const text of this.queue.splice(0)) {
      this.sendText(text);
    }
    this.queuedCharacters = 0;
    if (this.endRequested && !this.finished) {
      this.sendEnd();
    }
  }

  private sendText(text: string): void {
    this.socket?.send(this.textMessage(text));
    this.sentCharacters += text.length;
    this.textSent = true;
    // The first-audio bound runs from the first text; later pieces do not extend it.
    if (!this.silenceTimer) {
      this.armTimer();
    }
  }

  private sendEnd(): void {
    this.socket?.send(this.endMessage());
    this.endSent = true;
    this.armTimer();
  }

  private deliver(audio: Buffer): void {
    let pcm = this.pendingByte ? Buffer.concat([this.pendingByte, audio]) : audio;
    this.pendingByte = undefined;
    if (pcm.length % 2 === 1) {
      this.pendingByte = Buffer.from(pcm.subarray(pcm.length - 1));
      pcm = pcm.subarray(0, pcm.length - 1);
    }
    if (pcm.length > 0) {
      this.handlers.onAudio(pcm);
    }
  }

  /**
   * Bounds the vendor's silence while audio is owed: from the first text to the first audio,
   * and from the end of the text to the vendor's end. Between sentences it may rightly wait.
   */
  private armTimer(): void {
    this.stopTimer();
    if (this.finished) {
      return;
    }
    const owed = (this.textSent && !this.audioReceived) || this.endSent;
    if (!owed) {
      return;
    }
    const limit = this.settings.firstAudioTimeoutMs;
    const why = this.audioReceived
      ? `no progress within ${limit} ms after the end of the text`
      : `no audio within ${limit} ms of the first text`;
    this.silenceTimer = setTimeout(() => {
      this.fail('timeout', why);
    }, limit);
  }

  private stopTimer(): void {
    if (this.silenceTimer) {
      clearTimeout(this.silenceTimer);
      this.silenceTimer = undefined;
    }
  }

  private finish(): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    this.stopTimer();
    this.socket?.close();
    this.handlers.onDone();
  }

  private report(error: VendorError): void {
    if (this.finished) {
      return;
    }
    this.finished = true;
    this.stopTimer();
    this.socket?.close();
    this.handlers.onError(error);
  }
}

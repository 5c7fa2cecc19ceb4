import type { VendorError } from './vendor-error.js';

export interface SpeechToTextOptions {
  /** The agent's language (ISO 639-1, e.g. `en`, `hi`). */
  language: string;
  /** Sample rate of the PCM16 LE mono audio that will be written (8000, 16000 or 24000). */
  sampleRate: number;
  /** Silence (ms) after speech that ends an utterance (the vendor's endpointing). */
  endpointingMs: number;
  /** Silence (ms) after the last word that the vendor reports as the end of a turn, if it can. */
  utteranceEndMs: number;
  /** Vendor model; the adapter's default when absent. */
  model?: string;
}

export type SpeechToTextEvent =
  /** The vendor heard speech begin (fast signal for barge-in). */
  | { type: 'speech-started' }
  /** A hypothesis that may still change. */
  | { type: 'interim'; text: string }
  /**
   * A stable piece of the transcript. `endOfTurn` is set when the vendor also says the speaker
   * stopped (endpointing): the user's turn is over.
   */
  | { type: 'final'; text: string; endOfTurn: boolean }
  /** The vendor's end-of-turn signal without new text (e.g. Deepgram's UtteranceEnd). */
  | { type: 'end-of-turn' }
  /** The stream failed and is closed; no event follows. */
  | { type: 'error'; error: VendorError };

/** One live recognition stream, for one call. */
export interface SpeechToTextStream {
  /** Caller audio, PCM16 LE mono at the stream's sample rate; never blocks. */
  write(audio: Buffer): void;
  /** No more audio: the vendor flushes its last results, then the stream closes. */
  finish(): Promise<void>;
  /** Drops the stream now (call over, or the vendor is being replaced). */
  close(): void;
  /** Seconds of audio sent to the vendor so far (what it bills). */
  readonly audioSeconds: number;
}

/** Streaming speech-to-text (a vendor adapter implements it). */
export interface SpeechToText {
  readonly vendor: string;
  /**
   * Opens a stream; resolves once the vendor accepted it (so a refused key or an unreachable
   * vendor rejects here, with a VendorError). Events after that arrive through `onEvent`.
   */
  open(
    options: SpeechToTextOptions,
    onEvent: (event: SpeechToTextEvent) => void,
  ): Promise<SpeechToTextStream>;
}

import type { VendorError } from './vendor-error.js';

export interface TextToSpeechOptions {
  voiceId: string;
  model?: string;
  /** Vendor-specific voice settings from the agent (stability, speed, ...). */
  settings?: Record<string, unknown>;
  language: string;
  /** Sample rate the audio must come out at (PCM16 LE mono); the adapter resamples if needed. */
  sampleRate: number;
}

export interface TextToSpeechHandlers {
  /** Next piece of audio, PCM16 LE mono at the requested rate (any length, even bytes). */
  onAudio(audio: Buffer): void;
  /** All text pushed before `end()` has been spoken; nothing follows. */
  onDone(): void;
  /** The utterance failed; nothing follows. */
  onError(error: VendorError): void;
}

/**
 * One utterance of the agent (one reply), fed sentence by sentence so its first audio comes
 * before the reply is complete.
 */
export interface SpeechSynthesis {
  /** Appends text to the utterance (a sentence or more; whitespace is kept as given). */
  push(text: string): void;
  /** No more text: `onDone` follows the audio of what was pushed. */
  end(): void;
  /** Stops now (barge-in): no handler is called after this. */
  cancel(): void;
  /** Characters sent to the vendor so far (what it bills). */
  readonly characters: number;
}

/** Streaming text-to-speech (a vendor adapter implements it). */
export interface TextToSpeech {
  readonly vendor: string;
  /** Starts an utterance; connection failures arrive through `onError`, never thrown. */
  start(options: TextToSpeechOptions, handlers: TextToSpeechHandlers): SpeechSynthesis;
}

import type {
  SpeechSynthesis,
  TextToSpeech,
  TextToSpeechHandlers,
  TextToSpeechOptions,
} from '../../ports/text-to-speech.port.js';
import { VendorError, type VendorFailure } from '../../ports/vendor-error.js';
import {
  failureForVendorMessage,
  VendorSocket,
  vendorTextForMessage,
} from '../websocket-connect.js';

const VENDOR = 'elevenlabs';

export interface ElevenLabsTextToSpeechOptions {
  apiKey: string;
  /** WebSocket origin, e.g. `wss://api.elevenlabs.io`. */
  baseUrl: string;
  /** Time allowed for the WebSocket to open (default 5000). */
  connectTimeoutMs?: number;
  /**
   * Time allowed for the first audio after the first text is sent, and for each next message
   * once the end of the text was sent (default 8000).
   */
  firstAudioTimeoutMs?: number;
  /** Model when the agent names none (default `eleven_turbo_v2_5`). */
  defaultModel?: string;
}

const SUPPORTED_SAMPLE_RATES = new Set([8000, 16000, 24000]);
const VOICE_ID = /^[A-Za-z0-9]{1,64}$/;
const LANGUAGE_CODE = /^[a-z]{2,3}$/;
/** The models documented to take `language_code`; for the others the language is implied. */
const MODELS_WITH_LANGUAGE_CODE = new Set(['eleven_turbo_v2_5', 'eleven_flash_v2_5']);
/**
 * Characters buffered before ElevenLabs generates on its own. Every push is flushed anyway, so
 * this only splits a long push into earlier audio; values must lie in 50..500.
 */
const CHUNK_LENGTH_SCHEDULE = [120, 160, 250, 290];
/** Documented ranges; a value outside one is dropped rather than sent for the vendor to refuse. */
const NUMBER_SETTINGS: ReadonlyArray<readonly [string, number, number]> = [
  ['stability', 0, 1],
  ['similarity_boost', 0, 1],
  ['style', 0, 1],
  ['speed', 0.7, 1.2],
];
const BOOLEAN_SETTINGS = ['use_speaker_boost'];
/** Text waiting for the connection to open is bounded: a runaway producer fails the utterance. */
const MAX_QUEUED_CHARACTERS = 20_000;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * ElevenLabs streaming text-to-speech over the `stream-input` WebSocket.
 *
 * One utterance is one WebSocket connection: simple, and a failing or cancelled call cannot
 * disturb another one. Sharing a connection between utterances (the multi-context endpoint) is
 * a later optimisation.
 */
export class ElevenLabsTextToSpeech implements TextToSpeech {
  readonly vendor = VENDOR;
  private readonly connectTimeoutMs: number;
  private readonly firstAudioTimeoutMs: number;
  private readonly defaultModel: string;

  constructor(private readonly options: ElevenLabsTextToSpeechOptions) {
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.firstAudioTimeoutMs = options.firstAudioTimeoutMs ?? 8000;
    this.defaultModel = options.defaultModel ?? 'eleven_turbo_v2_5';
  }

  start(options: TextToSpeechOptions, handlers: TextToSpeechHandlers): SpeechSynthesis {
    return new ElevenLabsUtterance(
      {
        apiKey: this.options.apiKey,
        baseUrl: this.options.baseUrl,
        connectTimeoutMs: this.connectTimeoutMs,
        firstAudioTimeoutMs: this.firstAudioTimeoutMs,
        model: options.model ?? this.defaultModel,
      },
      options,
      handlers,
    );
  }
}

interface UtteranceConfig {
  apiKey: string;
  baseUrl: string;
  connectTimeoutMs: number;
  firstAudioTimeoutMs: number;
  model: string;
}

/** Only the documented voice settings, each with the type and range ElevenLabs accepts. */
function elevenLabsVoiceSettings(
  settings: Record<string, unknown> | undefined,
): Record<string, number | boolean> {
  const voiceSettings: Record<string, number | boolean> = {};
  for (const [key, lowest, highest] of NUMBER_SETTINGS) {
    const value = settings?.[key];
    if (typeof value === 'number' && value >= lowest && value <= highest) {
      voiceSettings[key] = value;
    }
  }
  for (const key of BOOLEAN_SETTINGS) {
    const value = settings?.[key];
    if (typeof value === 'boolean') {
      voiceSettings[key] = value;
    }
  }
  return voiceSettings;
}

function streamInputUrl(config: UtteranceConfig, options: TextToSpeechOptions): string {
  const base = config.baseUrl.replace(/\/+$/, '');
  const query = new URLSearchParams({
    model_id: config.model,
    output_format: `pcm_${options.sampleRate}`,
  });
  const language = options.language.toLowerCase();
  if (MODELS_WITH_LANGUAGE_CODE.has(config.model) && LANGUAGE_CODE.test(language)) {
    query.set('language_code', language);
  }
  const voice = encodeURIComponent(options.voiceId);
  return `${base}/v1/text-to-speech/${voice}/stream-input?${query.toString()}`;
}

type ServerMessage =
  | { kind: 'audio'; audio: Buffer | undefined; isFinal: boolean }
  | { kind: 'error'; text: string }
  | { kind: 'malformed'; why: string };

function readServerMessage(text: string): ServerMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'malformed', why: 'a message is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { kind: 'malformed', why: 'a message is not a JSON object' };
  }
  const message = parsed as Record<string, unknown>;
  if (
    typeof message.error === 'string' ||
    (typeof message.message === 'string' && !('audio' in message))
  ) {
    const parts = [message.error, message.message].filter((part) => typeof part === 'string');
    return { kind: 'error', text: parts.join(': ') };
  }
  const { audio, isFinal } = message;
  if (!('audio' in message) && !('isFinal' in message)) {
    return { kind: 'malformed', why: 'a message has neither audio nor isFinal' };
  }
  if (audio !== undefined && audio !== null && typeof audio !== 'string') {
    return { kind: 'malformed', why: 'audio is not a string' };
  }
  if (isFinal !== undefined && isFinal !== null && typeof isFinal !== 'boolean') {
    return { kind: 'malformed', why: 'isFinal is not a boolean' };
  }
  if (typeof audio === 'string' && !BASE64.test(audio)) {
    return { kind: 'malformed', why: 'audio is not base64' };
  }
  return {
    kind: 'audio',
    audio: typeof audio === 'string' && audio.length > 0 ? Buffer.from(audio, 'base64') : undefined,
    isFinal: isFinal === true,
  };
}

class ElevenLabsUtterance implements SpeechSynthesis {
  private readonly socket: VendorSocket | undefined;
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

  constructor(
    private readonly config: UtteranceConfig,
    options: TextToSpeechOptions,
    private readonly handlers: TextToSpeechHandlers,
  ) {
    const refusal = refusalBeforeConnecting(options);
    if (refusal) {
      setImmediate(() => {
        this.fail('rejected', refusal);
      });
      return;
    }
    this.socket = new VendorSocket(
      {
        vendor: VENDOR,
        url: streamInputUrl(config, options),
        headers: { 'xi-api-key': config.apiKey },
        connectTimeoutMs: config.connectTimeoutMs,
        apiKey: config.apiKey,
      },
      {
        onOpen: () => {
          this.onOpen(options);
        },
        onMessage: (text) => {
          this.onMessage(text);
        },
        onFailure: (error) => {
          this.report(error);
        },
      },
    );
  }

  get characters(): number {
    return this.sentCharacters;
  }

  push(text: string): void {
    if (this.finished || this.endRequested || text.trim().length === 0) {
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
    this.socket?.close();
  }

  private onOpen(options: TextToSpeechOptions): void {
    const voiceSettings = elevenLabsVoiceSettings(options.settings);
    this.socket?.send({
      text: ' ',
      ...(Object.keys(voiceSettings).length > 0 ? { voice_settings: voiceSettings } : {}),
      generation_config: { chunk_length_schedule: CHUNK_LENGTH_SCHEDULE },
    });
    for (const text of this.queue.splice(0)) {
      this.sendText(text);
    }
    this.queuedCharacters = 0;
    if (this.endRequested && !this.finished) {
      this.sendEnd();
    }
  }

  private sendText(text: string): void {
    // ElevenLabs wants every piece to end with a space so words never run together.
    const spaced = /\s$/.test(text) ? text : `${text} `;
    // flush makes ElevenLabs speak this piece now rather than wait for more text to buffer.
    this.socket?.send({ text: spaced, flush: true });
    this.sentCharacters += text.length;
    this.textSent = true;
    // The first-audio bound runs from the first text; later pieces do not extend it.
    if (!this.silenceTimer) {
      this.armTimer();
    }
  }

  private sendEnd(): void {
    this.socket?.send({ text: '' });
    this.endSent = true;
    this.armTimer();
  }

  private onMessage(text: string): void {
    const message = readServerMessage(text);
    switch (message.kind) {
      case 'malformed':
        this.fail('malformed', message.why);
        return;
      case 'error': {
        const quoted = vendorTextForMessage(message.text, this.config.apiKey);
        this.fail(failureForVendorMessage(message.text), `the vendor reported an error: ${quoted}`);
        return;
      }
      case 'audio':
        break;
    }
    if (message.audio) {
      this.audioReceived = true;
      this.deliver(message.audio);
      if (this.finished) {
        return;
      }
      // Only audio is progress: other messages do not extend the silence bound.
      this.armTimer();
    }
    if (message.isFinal) {
      if (!this.endSent) {
        this.fail('unavailable', 'the vendor ended the stream before the end of the text');
        return;
      }
      this.finish();
    }
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
   * and from the end of the text to the final message. Between sentences it may rightly wait.
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
    const limit = this.config.firstAudioTimeoutMs;
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

  private fail(failure: VendorFailure, message: string): void {
    this.report(new VendorError(VENDOR, failure, message));
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

function refusalBeforeConnecting(options: TextToSpeechOptions): string | undefined {
  if (!VOICE_ID.test(options.voiceId)) {
    return 'the voice id is not a plain ElevenLabs id (letters and digits, at most 64)';
  }
  if (!SUPPORTED_SAMPLE_RATES.has(options.sampleRate)) {
    return `sample rate ${options.sampleRate} is not one of 8000, 16000, 24000`;
  }
  return undefined;
}

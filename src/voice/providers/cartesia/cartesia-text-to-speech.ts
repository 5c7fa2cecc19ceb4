import { randomUUID } from 'node:crypto';
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

const VENDOR = 'cartesia';

export interface CartesiaTextToSpeechOptions {
  apiKey: string;
  /** WebSocket origin, e.g. `wss://api.cartesia.ai`. */
  baseUrl: string;
  /** Cartesia-Version, the API version the integration was tested with (default `2025-04-16`). */
  version?: string;
  /** Time allowed for the WebSocket to open (default 5000). */
  connectTimeoutMs?: number;
  /**
   * Time allowed for the first audio after the first text is sent, and for each next message
   * once the end of the text was sent (default 8000).
   */
  firstAudioTimeoutMs?: number;
  /** Model when the agent names none (default `sonic-3`). */
  defaultModel?: string;
}

const SUPPORTED_SAMPLE_RATES = new Set([8000, 16000, 24000]);
const LANGUAGE_CODE = /^[a-z]{2}$/;
const EMOTION = /^[A-Za-z][A-Za-z/]{0,31}$/;
const SPEED_WORDS = new Set(['slow', 'normal', 'fast']);
/** Text waiting for the connection to open is bounded: a runaway producer fails the utterance. */
const MAX_QUEUED_CHARACTERS = 20_000;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Cartesia streaming text-to-speech over the `/tts/websocket` API, one context per utterance,
 * each pushed piece a continuation of it.
 *
 * One utterance is one WebSocket connection: simple, and a failing or cancelled call cannot
 * disturb another one. Multiplexing utterances as contexts of one shared connection is a later
 * optimisation.
 */
export class CartesiaTextToSpeech implements TextToSpeech {
  readonly vendor = VENDOR;
  private readonly config: Omit<UtteranceConfig, 'model'>;
  private readonly defaultModel: string;

  constructor(options: CartesiaTextToSpeechOptions) {
    this.config = {
      apiKey: options.apiKey,
      baseUrl: options.baseUrl,
      version: options.version ?? '2025-04-16',
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      firstAudioTimeoutMs: options.firstAudioTimeoutMs ?? 8000,
    };
    this.defaultModel = options.defaultModel ?? 'sonic-3';
  }

  start(options: TextToSpeechOptions, handlers: TextToSpeechHandlers): SpeechSynthesis {
    const config = { ...this.config, model: options.model ?? this.defaultModel };
    return new CartesiaUtterance(config, options, handlers);
  }
}

interface UtteranceConfig {
  apiKey: string;
  baseUrl: string;
  version: string;
  connectTimeoutMs: number;
  firstAudioTimeoutMs: number;
  model: string;
}

/**
 * The fields every generation request of the context repeats (Cartesia requires them equal on
 * each continuation): voice, format, language and the documented voice controls, each kept
 * only with a valid type and range.
 */
function generationFields(
  config: UtteranceConfig,
  options: TextToSpeechOptions,
  contextId: string,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    model_id: config.model,
    voice: { mode: 'id', id: options.voiceId },
    output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: options.sampleRate },
    context_id: contextId,
  };
  const language = options.language.toLowerCase();
  if (LANGUAGE_CODE.test(language)) {
    fields.language = language;
  }
  const settings = options.settings ?? {};
  const generationConfig: Record<string, unknown> = {};
  const { speed, volume, emotion } = settings;
  if (typeof speed === 'number' && speed >= 0.6 && speed <= 1.5) {
    generationConfig.speed = speed;
  } else if (typeof speed === 'string' && SPEED_WORDS.has(speed)) {
    // The word form is the older models' speed control.
    fields.speed = speed;
  }
  if (typeof volume === 'number' && volume >= 0.5 && volume <= 2) {
    generationConfig.volume = volume;
  }
  if (typeof emotion === 'string' && EMOTION.test(emotion)) {
    generationConfig.emotion = emotion;
  }
  if (Object.keys(generationConfig).length > 0) {
    fields.generation_config = generationConfig;
  }
  return fields;
}

type ServerMessage =
  | { kind: 'chunk'; audio: Buffer }
  | { kind: 'done' }
  | { kind: 'error'; text: string; status: number | undefined }
  | { kind: 'ignored' }
  | { kind: 'malformed'; why: string };

function readServerMessage(text: string, contextId: string): ServerMessage {
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
  if (typeof message.type !== 'string') {
    return { kind: 'malformed', why: 'a message has no type' };
  }
  if (typeof message.context_id === 'string' && message.context_id !== contextId) {
    return { kind: 'ignored' };
  }
  switch (message.type) {
    case 'chunk':
      if (typeof message.data !== 'string' || !BASE64.test(message.data)) {
        return { kind: 'malformed', why: 'a chunk has no base64 data' };
      }
      return { kind: 'chunk', audio: Buffer.from(message.data, 'base64') };
    case 'done':
      return { kind: 'done' };
    case 'error': {
      const parts = [message.title, message.message, message.error, message.error_code];
      const words = parts.filter((part) => typeof part === 'string').join(': ');
      const status = typeof message.status_code === 'number' ? message.status_code : undefined;
      return { kind: 'error', text: words, status };
    }
    default:
      // Timestamps, flush acknowledgements and types added later carry no audio.
      return { kind: 'ignored' };
  }
}

class CartesiaUtterance implements SpeechSynthesis {
  private readonly contextId = randomUUID();
  private readonly fields: Record<string, unknown>;
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
    this.fields = generationFields(config, options, this.contextId);
    if (!SUPPORTED_SAMPLE_RATES.has(options.sampleRate)) {
      setImmediate(() => {
        this.fail('rejected', `sample rate ${options.sampleRate} is not one of 8000, 16000, 24000`);
      });
      return;
    }
    const query = new URLSearchParams({ cartesia_version: config.version });
    this.socket = new VendorSocket(
      {
        vendor: VENDOR,
        url: `${config.baseUrl.replace(/\/+$/, '')}/tts/websocket?${query.toString()}`,
        // A header keeps the key out of URLs (and so out of proxies' and servers' access logs).
        headers: { 'X-API-Key': config.apiKey },
        connectTimeoutMs: config.connectTimeoutMs,
        apiKey: config.apiKey,
      },
      {
        onOpen: () => {
          this.onOpen();
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
    if (this.finished || this.endRequested || text.length === 0) {
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
    // Cancelling the context stops the generation (and its billing) before the socket goes.
    this.socket?.send({ context_id: this.contextId, cancel: true });
    this.socket?.close();
  }

  private onOpen(): void {
    for (const text of this.queue.splice(0)) {
      this.sendText(text);
    }
    this.queuedCharacters = 0;
    if (this.endRequested && !this.finished) {
      this.sendEnd();
    }
  }

  private sendText(text: string): void {
    // Continuations are joined verbatim by Cartesia, so the text goes exactly as pushed.
    this.socket?.send({ ...this.fields, transcript: text, continue: true });
    this.sentCharacters += text.length;
    this.textSent = true;
    // The first-audio bound runs from the first text; later pieces do not extend it.
    if (!this.silenceTimer) {
      this.armTimer();
    }
  }

  private sendEnd(): void {
    this.socket?.send({ ...this.fields, transcript: '', continue: false });
    this.endSent = true;
    this.armTimer();
  }

  private onMessage(text: string): void {
    const message = readServerMessage(text, this.contextId);
    switch (message.kind) {
      case 'malformed':
        this.fail('malformed', message.why);
        return;
      case 'error': {
        const quoted = vendorTextForMessage(message.text, this.config.apiKey);
        const failure = failureForVendorMessage(message.text, message.status);
        this.report(
          new VendorError(
            VENDOR,
            failure,
            `the vendor reported an error: ${quoted}`,
            message.status,
          ),
        );
        return;
      }
      case 'done':
        if (!this.endSent) {
          this.fail('unavailable', 'the vendor ended the context before the end of the text');
          return;
        }
        this.finish();
        return;
      case 'chunk':
        this.audioReceived = true;
        this.deliver(message.audio);
        // Only audio is progress: other messages do not extend the silence bound.
        this.armTimer();
        return;
      case 'ignored':
        return;
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
   * and from the end of the text to the done message. Between sentences it may rightly wait.
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

import { randomUUID } from 'node:crypto';
import type {
  SpeechSynthesis,
  TextToSpeech,
  TextToSpeechHandlers,
  TextToSpeechOptions,
} from '../../ports/text-to-speech.port.js';
import { isBase64, readJsonObject } from '../websocket-connect.js';
import { sampleRateRefusal, WebSocketSynthesis } from '../websocket-synthesis.js';

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

const LANGUAGE_CODE = /^[a-z]{2}$/;
const EMOTION = /^[A-Za-z][A-Za-z/]{0,31}$/;
const SPEED_WORDS = new Set(['slow', 'normal', 'fast']);

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
  const read = readJsonObject(text);
  if (read.kind === 'malformed') {
    return read;
  }
  const { message } = read;
  if (typeof message.type !== 'string') {
    return { kind: 'malformed', why: 'a message has no type' };
  }
  if (typeof message.context_id === 'string' && message.context_id !== contextId) {
    return { kind: 'ignored' };
  }
  switch (message.type) {
    case 'chunk':
      if (typeof message.data !== 'string' || !isBase64(message.data)) {
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

class CartesiaUtterance extends WebSocketSynthesis {
  private readonly contextId = randomUUID();
  private readonly fields: Record<string, unknown>;

  constructor(
    config: UtteranceConfig,
    options: TextToSpeechOptions,
    handlers: TextToSpeechHandlers,
  ) {
    super({ vendor: VENDOR, ...config }, handlers);
    this.fields = generationFields(config, options, this.contextId);
    const refusal = sampleRateRefusal(options.sampleRate);
    if (refusal !== undefined) {
      this.refuse(refusal);
      return;
    }
    const query = new URLSearchParams({ cartesia_version: config.version });
    this.connect({
      url: `${config.baseUrl.replace(/\/+$/, '')}/tts/websocket?${query.toString()}`,
      // A header keeps the key out of URLs (and so out of proxies' and servers' access logs).
      headers: { 'X-API-Key': config.apiKey },
    });
  }

  protected override textMessage(text: string): unknown {
    // Continuations are joined verbatim by Cartesia, so the text goes exactly as pushed.
    return { ...this.fields, transcript: text, continue: true };
  }

  protected override endMessage(): unknown {
    return { ...this.fields, transcript: '', continue: false };
  }

  protected override cancelMessage(): unknown {
    // Cancelling the context stops the generation (and its billing) before the socket goes.
    return { context_id: this.contextId, cancel: true };
  }

  protected override receiveMessage(text: string): void {
    const message = readServerMessage(text, this.contextId);
    switch (message.kind) {
      case 'malformed':
        this.fail('malformed', message.why);
        return;
      case 'error':
        this.receiveVendorError(message.text, message.status);
        return;
      case 'done':
        this.receiveEnd('the vendor ended the context before the end of the text');
        return;
      case 'chunk':
        this.receiveAudio(message.audio);
        return;
      case 'ignored':
        return;
    }
  }
}

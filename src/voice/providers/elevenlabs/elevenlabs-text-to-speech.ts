import type {
  SpeechSynthesis,
  TextToSpeech,
  TextToSpeechHandlers,
  TextToSpeechOptions,
} from '../../ports/text-to-speech.port.js';
import { isBase64, readJsonObject } from '../websocket-connect.js';
import { sampleRateRefusal, WebSocketSynthesis } from '../websocket-synthesis.js';

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
  const read = readJsonObject(text);
  if (read.kind === 'malformed') {
    return read;
  }
  const { message } = read;
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
  if (typeof audio === 'string' && !isBase64(audio)) {
    return { kind: 'malformed', why: 'audio is not base64' };
  }
  return {
    kind: 'audio',
    audio: typeof audio === 'string' && audio.length > 0 ? Buffer.from(audio, 'base64') : undefined,
    isFinal: isFinal === true,
  };
}

class ElevenLabsUtterance extends WebSocketSynthesis {
  constructor(
    config: UtteranceConfig,
    private readonly options: TextToSpeechOptions,
    handlers: TextToSpeechHandlers,
  ) {
    super({ vendor: VENDOR, ...config }, handlers);
    const refusal = refusalBeforeConnecting(options);
    if (refusal !== undefined) {
      this.refuse(refusal);
      return;
    }
    this.connect({
      url: streamInputUrl(config, options),
      headers: { 'xi-api-key': config.apiKey },
    });
  }

  protected override skips(text: string): boolean {
    // Whitespace alone is not sent either.
    return text.trim().length === 0;
  }

  protected override openingMessage(): unknown {
    const voiceSettings = elevenLabsVoiceSettings(this.options.settings);
    return {
      text: ' ',
      ...(Object.keys(voiceSettings).length > 0 ? { voice_settings: voiceSettings } : {}),
      generation_config: { chunk_length_schedule: CHUNK_LENGTH_SCHEDULE },
    };
  }

  protected override textMessage(text: string): unknown {
    // ElevenLabs wants every piece to end with a space so words never run together.
    const spaced = /\s$/.test(text) ? text : `${text} `;
    // flush makes ElevenLabs speak this piece now rather than wait for more text to buffer.
    return { text: spaced, flush: true };
  }

  protected override endMessage(): unknown {
    return { text: '' };
  }

  protected override cancelMessage(): unknown {
    // stream-input has no cancel message: closing the socket is what stops it.
    return undefined;
  }

  protected override receiveMessage(text: string): void {
    const message = readServerMessage(text);
    switch (message.kind) {
      case 'malformed':
        this.fail('malformed', message.why);
        return;
      case 'error':
        this.receiveVendorError(message.text);
        return;
      case 'audio':
        break;
    }
    if (message.audio) {
      this.receiveAudio(message.audio);
    }
    if (message.isFinal) {
      this.receiveEnd('the vendor ended the stream before the end of the text');
    }
  }
}

function refusalBeforeConnecting(options: TextToSpeechOptions): string | undefined {
  if (!VOICE_ID.test(options.voiceId)) {
    return 'the voice id is not a plain ElevenLabs id (letters and digits, at most 64)';
  }
  return sampleRateRefusal(options.sampleRate);
}

import { PcmResampler } from '../../audio/resample.js';
import type {
  SpeechSynthesis,
  TextToSpeech,
  TextToSpeechHandlers,
  TextToSpeechOptions,
} from '../../ports/text-to-speech.port.js';
import { VendorError } from '../../ports/vendor-error.js';
import {
  connectionFailure,
  DEFAULT_OPENAI_BASE_URL,
  droppedConnection,
  failedResponse,
  OPENAI_VENDOR,
  Watchdog,
} from './openai-http.js';

export interface OpenAiTextToSpeechOptions {
  apiKey: string;
  /** Any OpenAI-compatible server; default https://api.openai.com/v1. */
  baseUrl?: string;
  /** Bound on a sentence's response headers plus its first audio; default 8000. */
  firstAudioTimeoutMs?: number;
  /** Bound on the silence between two pieces of a sentence's audio; default 8000. */
  idleTimeoutMs?: number;
  /** Model when the agent names none; default `tts-1`. */
  defaultModel?: string;
  /** Bound on one sentence's audio; default 16 MB (about 5.8 minutes at 24 kHz). */
  maxAudioBytesPerSentence?: number;
}

/** OpenAI's `pcm` format: 16-bit signed little-endian mono at 24 kHz, no header. */
const OPENAI_PCM_RATE = 24_000;
/** The sentence being heard plus the next one, so the next one's first audio is ready in time. */
const CONCURRENT_REQUESTS = 2;
const MIN_SPEED = 0.25;
const MAX_SPEED = 4;

interface ResolvedOptions {
  apiKey: string;
  baseUrl: string;
  firstAudioTimeoutMs: number;
  idleTimeoutMs: number;
  defaultModel: string;
  maxAudioBytesPerSentence: number;
}

/** Text-to-speech over OpenAI's `/audio/speech`: one request per pushed text, played in order. */
export class OpenAiTextToSpeech implements TextToSpeech {
  readonly vendor = OPENAI_VENDOR;
  private readonly options: ResolvedOptions;

  constructor(options: OpenAiTextToSpeechOptions) {
    this.options = {
      apiKey: options.apiKey,
      baseUrl: (options.baseUrl ?? DEFAULT_OPENAI_BASE_URL).replace(/\/+$/, ''),
      firstAudioTimeoutMs: options.firstAudioTimeoutMs ?? 8000,
      idleTimeoutMs: options.idleTimeoutMs ?? 8000,
      defaultModel: options.defaultModel ?? 'tts-1',
      maxAudioBytesPerSentence: options.maxAudioBytesPerSentence ?? 16 * 1024 * 1024,
    };
  }

  start(options: TextToSpeechOptions, handlers: TextToSpeechHandlers): SpeechSynthesis {
    return new OpenAiSpeechSynthesis(this.options, options, handlers);
  }
}

interface Sentence {
  text: string;
  controller: AbortController;
  watchdog: Watchdog;
  resampler: PcmResampler;
  started: boolean;
  /** Some audio arrived: the idle bound applies from then on. */
  heard: boolean;
  complete: boolean;
  /** Audio that arrived while an earlier sentence was still playing. */
  waiting: Buffer[];
}

class OpenAiSpeechSynthesis implements SpeechSynthesis {
  characters = 0;
  /** Sentences not yet fully delivered, in push order; the first one is playing. */
  private readonly sentences: Sentence[] = [];
  private ended = false;
  /** Cancelled, failed or done: no handler is called any more. */
  private stopped = false;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly speech: TextToSpeechOptions,
    private readonly handlers: TextToSpeechHandlers,
  ) {}

  push(text: string): void {
    // OpenAI refuses an empty input; a blank piece has nothing to say anyway.
    if (this.stopped || this.ended || text.trim() === '') {
      return;
    }
    const controller = new AbortController();
    this.sentences.push({
      text,
      controller,
      watchdog: new Watchdog(controller),
      resampler: new PcmResampler(OPENAI_PCM_RATE, this.speech.sampleRate),
      started: false,
      heard: false,
      complete: false,
      waiting: [],
    });
    this.startRequests();
  }

  end(): void {
    if (this.stopped || this.ended) {
      return;
    }
    this.ended = true;
    // Never call a handler from inside the caller's own call.
    queueMicrotask(() => this.advance());
  }

  cancel(): void {
    this.stop();
  }

  private stop(): void {
    this.stopped = true;
    for (const sentence of this.sentences.splice(0)) {
      sentence.watchdog.disarm();
      sentence.controller.abort();
    }
  }

  private startRequests(): void {
    for (const sentence of this.sentences.slice(0, CONCURRENT_REQUESTS)) {
      if (!sentence.started) {
        sentence.started = true;
        this.characters += sentence.text.length;
        this.speak(sentence).catch((error: unknown) => this.fail(sentence, error));
      }
    }
  }

  private async speak(sentence: Sentence): Promise<void> {
    const { options } = this;
    sentence.watchdog.arm(options.firstAudioTimeoutMs);
    const body = await this.request(sentence);
    const reader = body.getReader();
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      received += value.byteLength;
      if (received > options.maxAudioBytesPerSentence) {
        throw new VendorError(
          OPENAI_VENDOR,
          'malformed',
          `a sentence's audio exceeded ${options.maxAudioBytesPerSentence} bytes`,
        );
      }
      sentence.heard = true;
      sentence.watchdog.arm(options.idleTimeoutMs);
      this.deliver(sentence, sentence.resampler.push(Buffer.from(value)));
    }
    sentence.watchdog.disarm();
    this.deliver(sentence, sentence.resampler.flush());
    sentence.complete = true;
    this.advance();
  }

  private async request(sentence: Sentence): Promise<ReadableStream<Uint8Array>> {
    const { signal } = sentence.controller;
    const speed = this.speech.settings?.speed;
    let response: Response;
    try {
      response = await fetch(`${this.options.baseUrl}/audio/speech`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          model: this.speech.model ?? this.options.defaultModel,
          voice: this.speech.voiceId,
          input: sentence.text,
          response_format: 'pcm',
          ...(typeof speed === 'number' && speed >= MIN_SPEED && speed <= MAX_SPEED
            ? { speed }
            : {}),
        }),
        signal,
      });
    } catch (error) {
      throw signal.aborted ? error : connectionFailure(error);
    }
    if (!response.ok) {
      throw await failedResponse(response, this.options.apiKey);
    }
    const type = response.headers.get('content-type') ?? '';
    if (!response.body || type.includes('json') || type.startsWith('text/')) {
      await response.body?.cancel().catch(() => undefined);
      throw new VendorError(OPENAI_VENDOR, 'malformed', `expected PCM audio, got '${type}'`);
    }
    return response.body;
  }

  /** Plays audio of the sentence now playing; keeps a later sentence's audio for its turn. */
  private deliver(sentence: Sentence, audio: Buffer): void {
    if (this.stopped || audio.length === 0) {
      return;
    }
    if (sentence === this.sentences[0]) {
      this.call(() => this.handlers.onAudio(audio));
    } else {
      sentence.waiting.push(audio);
    }
  }

  /** Moves past finished sentences, plays what the next one already has, reports the end. */
  private advance(): void {
    while (!this.stopped && this.sentences[0]?.complete) {
      this.sentences.shift();
      // `at` rather than `[0]`: the type checker would still think the shifted one is there.
      for (const audio of this.sentences.at(0)?.waiting.splice(0) ?? []) {
        this.call(() => this.handlers.onAudio(audio));
      }
    }
    if (this.stopped) {
      return;
    }
    this.startRequests();
    if (this.ended && this.sentences.length === 0) {
      this.stopped = true;
      this.call(() => this.handlers.onDone());
    }
  }

  private fail(sentence: Sentence, error: unknown): void {
    if (this.stopped) {
      return;
    }
    const failure = sentence.watchdog.timedOut
      ? new VendorError(
          OPENAI_VENDOR,
          'timeout',
          sentence.heard
            ? `no audio for ${this.options.idleTimeoutMs} ms mid-sentence`
            : `no audio within ${this.options.firstAudioTimeoutMs} ms`,
        )
      : error instanceof VendorError
        ? error
        : droppedConnection();
    this.stop();
    this.call(() => this.handlers.onError(failure));
  }

  /**
   * Runs a handler. One that throws ends the utterance (its requests are aborted) rather than
   * escaping into a network callback, where it would crash the process.
   */
  private call(handler: () => void): void {
    try {
      handler();
    } catch {
      this.stop();
    }
  }
}

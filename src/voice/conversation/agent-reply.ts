import type {
  ChatMessage,
  LanguageModel,
  LanguageModelUsage,
  ToolDefinition,
} from '../ports/language-model.port.js';
import type { CallAudioTransport } from '../ports/call-audio.port.js';
import type {
  SpeechSynthesis,
  TextToSpeech,
  TextToSpeechOptions,
} from '../ports/text-to-speech.port.js';
import { VendorError } from '../ports/vendor-error.js';
import { SentenceSplitter } from './sentence-splitter.js';

export const END_CALL_TOOL: ToolDefinition = {
  name: 'end_call',
  description:
    'Hang up the phone call. Say goodbye first (in the same reply); call it when the conversation is complete or the caller asks to end it.',
  parameters: {
    type: 'object',
    properties: { reason: { type: 'string', description: 'Why the call ends, in a few words' } },
    additionalProperties: false,
  },
};

/** Extra wait for the carrier's mark echoes beyond the audio's own length. */
const PLAYBACK_GRACE_MS = 3_000;

export interface AgentReplyRequest {
  model: string;
  temperature: number;
  maxTokens?: number;
  messages: ChatMessage[];
  voice: TextToSpeechOptions;
}

/** Moments of a reply the conversation measures (milliseconds, from `now()`). */
export interface ReplyTimings {
  firstTokenAt?: number;
  firstSentenceAt?: number;
  firstAudioAt?: number;
}

export type ReplyOutcome =
  /** Everything was said and (as far as the carrier tells) heard. */
  | { kind: 'spoken'; text: string; endCall: boolean }
  /** Cut short (barge-in): `heard` is what the caller heard before it stopped. */
  | { kind: 'interrupted'; heard: string }
  /** A vendor failed for good; `heard` is what had been played by then. */
  | { kind: 'failed'; vendor: 'llm' | 'tts'; error: VendorError; heard: string };

interface Sentence {
  text: string;
  mark: string;
  synthesis?: SpeechSynthesis;
  pending: Buffer[];
  audioBytes: number;
  attempts: number;
  done: boolean;
  played: boolean;
  /** When its playback started, as far as we can tell (previous mark echoed, or first audio). */
  playingSince?: number;
}

export interface AgentReplyDependencies {
  llm: LanguageModel;
  tts: TextToSpeech;
  transport: CallAudioTransport;
  now: () => number;
}

/**
 * One reply of the agent: the model's text streamed, cut into sentences, each sentence
 * synthesized as soon as it is complete (all in parallel) and played in order, with a mark
 * after each, so the caller hears the first sentence while the model is still writing and a
 * barge-in knows which sentences were heard.
 */
export class AgentReply {
  readonly timings: ReplyTimings = {};
  readonly usage: LanguageModelUsage = { promptTokens: 0, completionTokens: 0 };
  private readonly abort = new AbortController();
  private readonly sentences: Sentence[] = [];
  private playing = 0;
  private textDone = false;
  private endCall = false;
  private fullText = '';
  private audioBytesSent = 0;
  private settled = false;
  private settle!: (outcome: ReplyOutcome) => void;
  private readonly outcome: Promise<ReplyOutcome>;
  private playbackTimer?: NodeJS.Timeout;

  constructor(
    private readonly id: string,
    private readonly request: AgentReplyRequest,
    private readonly dependencies: AgentReplyDependencies,
  ) {
    this.outcome = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** Characters sent to the speech vendor so far (all attempts). */
  get ttsCharacters(): number {
    return this.sentences.reduce(
      (sum, sentence) => sum + sentence.text.length * Math.max(sentence.attempts, 0),
      0,
    );
  }

  /** Some of this reply's audio has been sent to the caller. */
  get audible(): boolean {
    return this.audioBytesSent > 0;
  }

  /** Runs the reply to its end (spoken, interrupted or failed). */
  run(): Promise<ReplyOutcome> {
    void this.generate();
    return this.outcome;
  }

  /** Barge-in: stops the model and the speech, drops queued audio; the outcome says what was heard. */
  interrupt(): void {
    if (this.settled) {
      return;
    }
    if (this.audible) {
      this.dependencies.transport.clear();
    }
    this.finish({ kind: 'interrupted', heard: this.heardText() });
  }

  /** The carrier played everything before `mark`. */
  onPlayed(mark: string): void {
    const index = this.sentences.findIndex((sentence) => sentence.mark === mark);
    if (index < 0) {
      return;
    }
    const now = this.dependencies.now();
    for (const sentence of this.sentences.slice(0, index + 1)) {
      sentence.played = true;
    }
    const next = this.sentences[index + 1];
    if (next && next.playingSince === undefined && next.audioBytes > 0) {
      next.playingSince = now;
    }
    this.settleIfHeard();
  }

  private async generate(): Promise<void> {
    const splitter = new SentenceSplitter();
    for (let attempt = 1; ; attempt += 1) {
      try {
        for await (const event of this.dependencies.llm.stream({
          model: this.request.model,
          temperature: this.request.temperature,
          maxTokens: this.request.maxTokens,
          messages: this.request.messages,
          tools: [END_CALL_TOOL],
          signal: this.abort.signal,
        })) {
          if (this.settled) {
            return;
          }
          if (event.type === 'text') {
            this.timings.firstTokenAt ??= this.dependencies.now();
            this.fullText += event.text;
            splitter.push(event.text).forEach((sentence) => this.addSentence(sentence));
          } else if (event.type === 'tool-call') {
            this.endCall ||= event.call.name === END_CALL_TOOL.name;
          } else {
            this.usage.promptTokens += event.usage.promptTokens;
            this.usage.completionTokens += event.usage.completionTokens;
          }
        }
        break;
      } catch (error) {
        const vendorError = asVendorError(error, this.dependencies.llm.vendor);
        // Safe to ask again only while nothing of the first answer has been used.
        if (attempt === 1 && vendorError.retryable && this.fullText === '' && !this.settled) {
          continue;
        }
        this.fail('llm', vendorError);
        return;
      }
    }
    if (this.settled) {
      return;
    }
    const rest = splitter.flush();
    if (rest !== undefined) {
      this.addSentence(rest);
    }
    this.textDone = true;
    this.advance();
  }

  private addSentence(text: string): void {
    const sentence: Sentence = {
      text,
      mark: `${this.id}.${this.sentences.length}`,
      pending: [],
      audioBytes: 0,
      attempts: 0,
      done: false,
      played: false,
    };
    this.timings.firstSentenceAt ??= this.dependencies.now();
    this.sentences.push(sentence);
    this.synthesize(sentence);
  }

  private synthesize(sentence: Sentence): void {
    sentence.attempts += 1;
    const synthesis = this.dependencies.tts.start(this.request.voice, {
      onAudio: (audio) => {
        if (this.settled || sentence.synthesis !== synthesis) {
          return;
        }
        sentence.audioBytes += audio.length;
        sentence.pending.push(audio);
        this.advance();
      },
      onDone: () => {
        if (this.settled || sentence.synthesis !== synthesis) {
          return;
        }
        sentence.done = true;
        this.advance();
      },
      onError: (error) => {
        if (this.settled || sentence.synthesis !== synthesis) {
          return;
        }
        if (sentence.attempts === 1 && error.retryable && sentence.audioBytes === 0) {
          this.synthesize(sentence);
          return;
        }
        this.fail('tts', error);
      },
    });
    sentence.synthesis = synthesis;
    synthesis.push(sentence.text);
    synthesis.end();
  }

  /** Sends what the sentence at the head of playback has, and moves on when it is complete. */
  private advance(): void {
    for (;;) {
      const sentence = this.sentences[this.playing];
      if (!sentence) {
        break;
      }
      for (const audio of sentence.pending) {
        this.send(sentence, audio);
      }
      sentence.pending = [];
      if (!sentence.done) {
        return;
      }
      if (sentence.audioBytes > 0) {
        this.dependencies.transport.mark(sentence.mark);
      } else {
        sentence.played = true;
      }
      this.playing += 1;
    }
    if (this.textDone) {
      this.awaitPlayback();
    }
  }

  private send(sentence: Sentence, audio: Buffer): void {
    const now = this.dependencies.now();
    this.timings.firstAudioAt ??= now;
    if (sentence.playingSince === undefined && (this.playing === 0 || this.previousPlayed())) {
      sentence.playingSince = now;
    }
    this.audioBytesSent += audio.length;
    this.dependencies.transport.play(audio);
  }

  private previousPlayed(): boolean {
    return this.sentences[this.playing - 1]?.played ?? true;
  }

  /** All text is said: settle once the caller has heard it (marks), or the audio's time is up. */
  private awaitPlayback(): void {
    if (this.settleIfHeard() || this.playbackTimer) {
      return;
    }
    const sampleRate = this.dependencies.transport.sampleRate;
    const unplayedMs = this.sentences
      .filter((sentence) => !sentence.played)
      .reduce((sum, sentence) => sum + (sentence.audioBytes / 2 / sampleRate) * 1000, 0);
    this.playbackTimer = setTimeout(() => {
      this.sentences.forEach((sentence) => {
        sentence.played = true;
      });
      this.settleIfHeard();
    }, unplayedMs + PLAYBACK_GRACE_MS);
  }

  private settleIfHeard(): boolean {
    if (!this.textDone || this.playing < this.sentences.length) {
      return false;
    }
    if (this.sentences.some((sentence) => !sentence.played)) {
      return false;
    }
    this.finish({ kind: 'spoken', text: this.fullText.trim(), endCall: this.endCall });
    return true;
  }

  private fail(vendor: 'llm' | 'tts', error: VendorError): void {
    if (this.audible) {
      this.dependencies.transport.clear();
    }
    this.finish({ kind: 'failed', vendor, error, heard: this.heardText() });
  }

  private finish(outcome: ReplyOutcome): void {
    if (this.settled) {
      return;
    }
    this.settled = true;
    clearTimeout(this.playbackTimer);
    this.abort.abort();
    for (const sentence of this.sentences) {
      if (!sentence.done) {
        sentence.synthesis?.cancel();
      }
    }
    this.settle(outcome);
  }

  /**
   * What the caller heard: every sentence whose mark came back, and of the one playing, the
   * share of its words its playing time covers.
   */
  private heardText(): string {
    const sampleRate = this.dependencies.transport.sampleRate;
    const now = this.dependencies.now();
    const heard: string[] = [];
    for (const sentence of this.sentences) {
      if (sentence.played) {
        heard.push(sentence.text);
        continue;
      }
      if (sentence.playingSince !== undefined && sentence.audioBytes > 0) {
        const durationMs = (sentence.audioBytes / 2 / sampleRate) * 1000;
        const share = Math.min(1, (now - sentence.playingSince) / durationMs);
        const words = sentence.text.split(/\s+/);
        const spoken = words.slice(0, Math.floor(words.length * share)).join(' ');
        if (spoken !== '') {
          heard.push(`${spoken}…`);
        }
      }
      break;
    }
    return heard.join(' ');
  }
}

function asVendorError(error: unknown, vendor: string): VendorError {
  return error instanceof VendorError
    ? error
    : new VendorError(vendor, 'malformed', error instanceof Error ? error.message : String(error));
}

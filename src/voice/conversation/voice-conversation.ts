import type { Logger } from '@nestjs/common';
import type { AgentConfig } from '../../agents/schemas/agent-config.schema.js';
import { pcmLevel, SPEECH_LEVEL } from '../audio/pcm-level.js';
import type { CallAudioListener, CallAudioTransport } from '../ports/call-audio.port.js';
import type {
  ChatMessage,
  LanguageModel,
  LanguageModelEvent,
} from '../ports/language-model.port.js';
import type {
  SpeechToText,
  SpeechToTextEvent,
  SpeechToTextStream,
} from '../ports/speech-to-text.port.js';
import type { TextToSpeech, TextToSpeechOptions } from '../ports/text-to-speech.port.js';
import { VendorError } from '../ports/vendor-error.js';
import { AgentReply, type ReplyOutcome } from './agent-reply.js';
import type {
  ConversationEnding,
  ConversationRecorder,
  TurnLatency,
  UsageDelta,
  VoiceErrorCode,
} from './conversation-ports.js';

/** Said when a vendor fails for good, if speech still works; then the call ends. */
export const FALLBACK_LINE =
  "I'm sorry, I'm having technical trouble and can't continue right now. Please call again later. Goodbye.";
/** Digits typed within this gap form one keypad entry. */
const DTMF_GAP_MS = 1_500;
/** Turn latencies kept per call (the session keeps them; a long call keeps the latest). */
const MAX_TURN_LATENCIES = 100;
const GUIDANCE =
  'You are speaking with the caller on a phone call: answer in short, natural spoken sentences, ' +
  'with no markdown, lists or emoji. When the conversation is complete or the caller wants to ' +
  'hang up, say a short goodbye and call the end_call tool in the same reply.';

export interface ConversationVendors {
  stt: SpeechToText;
  llm: LanguageModel;
  tts: TextToSpeech;
}

export interface ConversationSettings {
  sessionId: string;
  agent: AgentConfig;
  /** Earlier messages of the session (a reconnected stream continues the conversation). */
  history: ChatMessage[];
  /** Silence on both sides that ends the call, when the agent sets none. */
  defaultSessionTimeoutSeconds: number;
  /** Time left until the call's time limit. */
  timeLeftMs: number;
  endpointingMs: number;
  utteranceEndMs: number;
}

interface UserTurn {
  /** Last caller audio above the speech threshold (ms). */
  speechEndAt?: number;
  finalAt?: number;
}

/**
 * One call's conversation: caller audio to speech-to-text; each finished caller turn to the
 * model; the reply spoken sentence by sentence (AgentReply); barge-in, first message, response
 * delay, silence timeout, time limit, end_call, keypad input; every message and all usage
 * recorded on the session as it happens.
 */
export class VoiceConversation implements CallAudioListener {
  private stt?: SpeechToTextStream;
  private sttRetried = false;
  private reply?: AgentReply;
  /** The current reply's run, through its outcome being recorded. */
  private replyFinished?: Promise<void>;
  private replies = 0;
  private readonly history: ChatMessage[];
  private heardParts: string[] = [];
  private turn: UserTurn = {};
  /** A caller turn ended while an uninterruptible reply was playing. */
  private answerPending = false;
  /** Caller turns heard during that reply, added to the conversation after it. */
  private readonly heldCallerTurns: string[] = [];
  private ended = false;
  private writes: Promise<void> = Promise.resolve();
  private sttSecondsRecorded = 0;
  /** Audio seconds of recognizer streams already replaced (a reopened stream counts from 0). */
  private sttSecondsOfClosedStreams = 0;
  private readonly latencies: TurnLatency[] = [];
  private silenceTimer?: NodeJS.Timeout;
  private timeLimitTimer?: NodeJS.Timeout;
  private delayTimer?: NodeJS.Timeout;
  private dtmfTimer?: NodeJS.Timeout;
  private digits = '';
  private lastSpeechAt?: number;

  constructor(
    private readonly settings: ConversationSettings,
    private readonly vendors: ConversationVendors,
    private readonly transport: CallAudioTransport,
    private readonly recorder: ConversationRecorder,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {
    const system = [settings.agent.prompt, GUIDANCE, `Language: ${settings.agent.language}.`];
    this.history = [{ role: 'system', content: system.join('\n\n') }, ...settings.history];
  }

  private get interruptible(): boolean {
    return this.settings.agent.flow?.interruption?.allowed ?? true;
  }

  async start(): Promise<void> {
    this.timeLimitTimer = setTimeout(() => {
      void this.end({ status: 'agent-ended', reason: 'call time limit reached' });
    }, this.settings.timeLeftMs);
    this.armSilence();
    if (!(await this.openStt())) {
      return;
    }
    const greeting = this.settings.agent.firstMessage?.trim();
    if (greeting && !this.settings.agent.flow?.userStartFirst) {
      this.speak(greeting);
    }
  }

  onAudio(audio: Buffer): void {
    if (this.ended) {
      return;
    }
    if (pcmLevel(audio) >= SPEECH_LEVEL) {
      this.lastSpeechAt = this.now();
    }
    this.stt?.write(audio);
  }

  onDtmf(digit: string): void {
    if (this.ended) {
      return;
    }
    // Keys typed over the agent stop it like speech would (when it may be interrupted).
    this.callerSpeaking();
    this.digits += digit;
    clearTimeout(this.dtmfTimer);
    const complete = () => {
      const entry = this.digits;
      this.digits = '';
      this.userTurnEnded(`[keypad] ${entry}`);
    };
    if (digit === '#') {
      complete();
    } else {
      this.dtmfTimer = setTimeout(complete, DTMF_GAP_MS);
    }
  }

  onPlayed(markName: string): void {
    this.armSilence();
    this.reply?.onPlayed(markName);
  }

  onClosed(reason: string): void {
    const byCaller = reason.startsWith('stream stopped by Exotel');
    void this.end({ status: byCaller ? 'user-ended' : 'completed', reason });
  }

  private async openStt(): Promise<boolean> {
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      try {
        this.stt = await this.vendors.stt.open(
          {
            language: this.settings.agent.language,
            sampleRate: this.transport.sampleRate,
            endpointingMs: this.settings.endpointingMs,
            utteranceEndMs: this.settings.utteranceEndMs,
          },
          (event) => {
            this.onSpeechEvent(event);
          },
        );
        return !this.ended;
      } catch (error) {
        const vendorError = asVendorError(error, this.vendors.stt.vendor);
        if (attempt === 1 && vendorError.retryable && !this.ended) {
          continue;
        }
        await this.failWithFallback('STT_UNAVAILABLE', vendorError);
        return false;
      }
    }
    return false;
  }

  private onSpeechEvent(event: SpeechToTextEvent): void {
    if (this.ended) {
      return;
    }
    switch (event.type) {
      case 'speech-started':
        this.callerSpeaking();
        return;
      case 'interim':
        this.callerSpeaking();
        return;
      case 'final':
        // A recognizer that works again earns a fresh retry for its next failure.
        this.sttRetried = false;
        this.callerSpeaking();
        this.heardParts.push(event.text);
        this.turn.finalAt = this.now();
        if (event.endOfTurn) {
          this.takeCallerTurn();
        }
        return;
      case 'end-of-turn':
        this.takeCallerTurn();
        return;
      case 'error':
        void this.sttFailed(event.error);
        return;
    }
  }

  /** The caller is talking: the silence clock restarts, and an interruptible reply stops. */
  private callerSpeaking(): void {
    this.armSilence();
    clearTimeout(this.delayTimer);
    if (this.reply && this.interruptible) {
      this.reply.interrupt();
    }
  }

  private takeCallerTurn(): void {
    const text = this.heardParts.join(' ').trim();
    this.heardParts = [];
    if (text !== '') {
      this.userTurnEnded(text);
    }
  }

  private userTurnEnded(text: string): void {
    this.turn.speechEndAt = this.lastSpeechAt;
    if (this.reply) {
      // Said while a reply plays on (not interruptible): it follows that reply in the
      // conversation, and is answered once the reply has been said.
      this.heldCallerTurns.push(text);
      this.answerPending = true;
      return;
    }
    this.addCallerTurn(text);
    this.scheduleAnswer();
  }

  private addCallerTurn(text: string): void {
    this.history.push({ role: 'user', content: text });
    this.record('user', text);
  }

  private scheduleAnswer(): void {
    clearTimeout(this.delayTimer);
    const delay = this.settings.agent.flow?.responseDelay ?? 0;
    if (delay > 0) {
      this.delayTimer = setTimeout(() => {
        this.answer();
      }, delay);
    } else {
      this.answer();
    }
  }

  private answer(): void {
    if (this.ended || this.reply) {
      return;
    }
    this.speak();
  }

  /** Runs one reply: the model's (no text given) or a fixed line (greeting). */
  private speak(fixedText?: string): void {
    const turn = this.turn;
    this.turn = {};
    const answeredAt = this.now();
    this.replies += 1;
    const llm = fixedText === undefined ? this.vendors.llm : fixedLine(fixedText);
    const reply = new AgentReply(
      `r${this.replies}`,
      {
        model: this.settings.agent.llm.model,
        temperature: this.settings.agent.llm.temperature,
        maxTokens: this.settings.agent.llm.maxTokens,
        messages: [...this.history],
        voice: this.voice(),
      },
      { llm, tts: this.vendors.tts, transport: this.transport, now: this.now },
    );
    this.reply = reply;
    this.armSilence();
    this.replyFinished = reply
      .run()
      .then((outcome) => this.replied(reply, outcome, turn, answeredAt, fixedText));
  }

  private async replied(
    reply: AgentReply,
    outcome: ReplyOutcome,
    turn: UserTurn,
    answeredAt: number,
    fixedText: string | undefined,
  ): Promise<void> {
    if (this.reply === reply) {
      this.reply = undefined;
    }
    this.armSilence();
    if (fixedText === undefined) {
      this.measure(reply, turn, answeredAt);
    }
    const said = outcome.kind === 'spoken' ? outcome.text : outcome.heard;
    if (said !== '') {
      this.history.push({ role: 'assistant', content: said });
    }
    this.recordReply(said, reply);
    this.heldCallerTurns.splice(0).forEach((text) => {
      this.addCallerTurn(text);
    });
    if (this.ended) {
      return;
    }
    if (outcome.kind === 'failed') {
      const code: VoiceErrorCode = outcome.vendor === 'llm' ? 'LLM_UNAVAILABLE' : 'TTS_UNAVAILABLE';
      await this.failWithFallback(code, outcome.error);
      return;
    }
    if (outcome.kind === 'spoken' && outcome.endCall) {
      await this.end({ status: 'agent-ended', reason: 'the agent ended the call' });
      return;
    }
    if (this.answerPending) {
      this.answerPending = false;
      this.scheduleAnswer();
    }
  }

  private measure(reply: AgentReply, turn: UserTurn, answeredAt: number): void {
    const { firstTokenAt, firstSentenceAt, firstAudioAt } = reply.timings;
    const latency: TurnLatency = {
      sttFinalMs: since(turn.speechEndAt, turn.finalAt),
      llmFirstTokenMs: since(answeredAt, firstTokenAt),
      ttsFirstAudioMs: since(firstSentenceAt, firstAudioAt),
      firstAudioSentMs: since(turn.speechEndAt, firstAudioAt),
    };
    if (Object.values(latency).every((value) => value === undefined)) {
      return;
    }
    if (this.latencies.length >= MAX_TURN_LATENCIES) {
      this.latencies.shift();
    }
    this.latencies.push(latency);
    this.recorder.recordTurn(latency);
  }

  private async sttFailed(error: VendorError): Promise<void> {
    this.stt?.close();
    this.sttSecondsOfClosedStreams += this.stt?.audioSeconds ?? 0;
    this.stt = undefined;
    if (!this.sttRetried && error.retryable) {
      this.sttRetried = true;
      this.logger.warn(`speech-to-text stream lost (${error.message}); reopening it`);
      await this.openStt();
      return;
    }
    await this.failWithFallback('STT_UNAVAILABLE', error);
  }

  /** A vendor failed for good: say so if speech still works, then end the call. */
  private async failWithFallback(code: VoiceErrorCode, error: VendorError): Promise<void> {
    if (this.ended) {
      return;
    }
    this.logger.warn(`${code}: ${error.message}`);
    const ending: ConversationEnding = {
      status: 'failed',
      reason: `${code}: ${error.message}`,
      error: { code, message: error.message },
    };
    this.reply?.interrupt();
    this.reply = undefined;
    if (code !== 'TTS_UNAVAILABLE') {
      const line = new AgentReply(
        'fallback',
        {
          model: this.settings.agent.llm.model,
          temperature: 0,
          messages: [],
          voice: this.voice(),
        },
        {
          llm: fixedLine(FALLBACK_LINE),
          tts: this.vendors.tts,
          transport: this.transport,
          now: this.now,
        },
      );
      this.reply = line;
      const outcome = await line.run();
      this.reply = undefined;
      this.recordReply(outcome.kind === 'spoken' ? outcome.text : outcome.heard, line);
    }
    await this.end(ending);
  }

  /** Ends the conversation once: stops everything, waits for the writes, reports the end. */
  private async end(ending: ConversationEnding): Promise<void> {
    if (this.ended) {
      return;
    }
    this.ended = true;
    for (const timer of [this.silenceTimer, this.timeLimitTimer, this.delayTimer, this.dtmfTimer]) {
      clearTimeout(timer);
    }
    // The interrupted reply records what was heard before the writes are drained.
    const finishing = this.reply ? this.replyFinished : undefined;
    this.reply?.interrupt();
    await finishing?.catch(() => undefined);
    this.stt?.close();
    this.recordUsage();
    this.transport.close(ending.reason);
    await this.writes;
    await this.recorder.ended(ending, this.latencies).catch((error: unknown) => {
      this.logger.error(`could not report the end of the call: ${String(error)}`);
    });
  }

  /** The agent's voice, at the stream's sample rate. */
  private voice(): TextToSpeechOptions {
    const { voice, language } = this.settings.agent;
    return {
      voiceId: voice.voiceId,
      model: voice.model,
      settings: voice.settings,
      language,
      sampleRate: this.transport.sampleRate,
    };
  }

  private armSilence(): void {
    if (this.ended) {
      return;
    }
    clearTimeout(this.silenceTimer);
    const seconds =
      this.settings.agent.sessionTimeout ?? this.settings.defaultSessionTimeoutSeconds;
    this.silenceTimer = setTimeout(() => {
      if (this.reply) {
        // The agent is still talking: that is not silence.
        this.armSilence();
        return;
      }
      void this.end({ status: 'agent-ended', reason: `no one spoke for ${seconds} s` });
    }, seconds * 1000);
  }

  private record(role: 'user' | 'assistant', content: string): void {
    this.enqueueWrite(() => this.recorder.appendMessage(role, content));
  }

  /** A reply's words and what it cost (with the caller audio heard since), in one write. */
  private recordReply(said: string, reply: AgentReply): void {
    const usage = this.usageSince(reply);
    if (said !== '') {
      this.enqueueWrite(() => this.recorder.appendMessage('assistant', said, usage));
    } else if (hasUsage(usage)) {
      this.enqueueWrite(() => this.recorder.recordUsage(usage));
    }
  }

  private recordUsage(): void {
    const usage = this.usageSince();
    if (hasUsage(usage)) {
      this.enqueueWrite(() => this.recorder.recordUsage(usage));
    }
  }

  /** Usage not recorded yet: caller audio since the last record, and the reply's own. */
  private usageSince(reply?: AgentReply): UsageDelta {
    const audioSeconds = this.sttSecondsOfClosedStreams + (this.stt?.audioSeconds ?? 0);
    const sttSeconds = Math.max(0, audioSeconds - this.sttSecondsRecorded);
    this.sttSecondsRecorded = audioSeconds;
    const prompt = reply?.usage.promptTokens ?? 0;
    const completion = reply?.usage.completionTokens ?? 0;
    return {
      sttSeconds,
      llmTokens: prompt + completion,
      llmPromptTokens: prompt,
      llmCompletionTokens: completion,
      ttsCharacters: reply?.ttsCharacters ?? 0,
    };
  }

  /** Writes run one after another, in the order the conversation made them. */
  private enqueueWrite(write: () => Promise<void>): void {
    this.writes = this.writes
      .then(afterPendingIo)
      .then(write)
      .catch((error: unknown) => {
        this.logger.warn(`conversation write failed: ${String(error)}`);
      });
  }
}

/**
 * Resolves once the I/O already due has been handled: a write queued while a reply starts runs
 * after the vendor requests went out, not before them.
 */
function afterPendingIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A "model" that answers with a fixed line (greeting, fallback): same path to speech. */
function fixedLine(text: string): LanguageModel {
  return {
    vendor: 'fixed',
    stream: () =>
      eventsOf([
        { type: 'text', text },
        {
          type: 'done',
          finishReason: 'stop',
          usage: { promptTokens: 0, completionTokens: 0 },
          estimated: false,
        },
      ]),
  };
}

function eventsOf(events: LanguageModelEvent[]): AsyncIterable<LanguageModelEvent> {
  let next = 0;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        Promise.resolve(
          next < events.length
            ? { done: false, value: events[next++] as LanguageModelEvent }
            : { done: true, value: undefined },
        ),
    }),
  };
}

function hasUsage(usage: UsageDelta): boolean {
  return usage.sttSeconds > 0 || usage.llmTokens > 0 || usage.ttsCharacters > 0;
}

function since(from: number | undefined, to: number | undefined): number | undefined {
  return from === undefined || to === undefined ? undefined : Math.max(0, Math.round(to - from));
}

function asVendorError(error: unknown, vendor: string): VendorError {
  return error instanceof VendorError
    ? error
    : new VendorError(
        vendor,
        'unavailable',
        error instanceof Error ? error.message : String(error),
      );
}

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SentenceSplitter } from '../../src/voice/conversation/sentence-splitter.js';
import {
  type FakeDeepgram,
  type FakeDeepgramConnection,
  startFakeDeepgram,
} from '../../test/support/fake-deepgram-server.js';
import {
  connectFakeExotel,
  type FakeExotelMediaClient,
} from '../../test/support/fake-exotel-media-client.js';
import {
  type FakeOpenAi,
  type RecordedOpenAiRequest,
  startFakeOpenAi,
} from '../../test/support/fake-openai-server.js';
import {
  agentReply,
  CALLER,
  type CallReport,
  callerLine,
  callerLineId,
  FAKE_DELAYS,
  FAKE_VOICE,
  type FromFakes,
  GREETING,
  type LiveCallTarget,
  replyId,
  type ToFakes,
  type TurnReport,
  type TurnStages,
} from './voice-protocol.js';

/**
 * bench:voice's second process: the fake vendors (Deepgram, OpenAI chat and speech) and the
 * fake Exotel callers, so that none of their CPU, memory or event-loop time is the app's. It
 * is started with child_process.fork by voice.bench.ts and only talks to it over IPC; every
 * moment of a turn is taken here, on one clock.
 */

/** This process never outlives a bench run, even if the app process hangs. */
const HARD_LIMIT_MS = 15 * 60_000;
const POLL_MS = 20;

interface Final {
  at: number;
  text: string;
}

interface ChatMoments {
  arrivedAt: number;
  firstTokenAt?: number;
}

interface SpeechMoments {
  arrivedAt: number;
  firstAudioAt?: number;
}

interface OpenedCall {
  client: FakeExotelMediaClient;
  openedAt: number;
  finals: Final[];
}

interface CallPlan {
  pausesMs: number[];
  speechMs: number[];
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

function send(message: FromFakes): void {
  process.send?.(message);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A small seeded generator (mulberry32), so every run paces its callers the same way. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Resolves once `condition` holds; polls every `everyMs`, gives up after `timeoutMs`. */
function until(
  condition: () => boolean,
  timeoutMs: number,
  what: string,
  everyMs = POLL_MS,
): Promise<void> {
  if (condition()) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve();
      } else if (performance.now() - startedAt > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }
    }, everyMs);
  });
}

/** The sentences the app will cut `text` into (so the mark closing a reply is known). */
function sentenceCount(text: string): number {
  const splitter = new SentenceSplitter();
  const sentences = splitter.push(text);
  return sentences.length + (splitter.flush() === undefined ? 0 : 1);
}

function lastUserText(body: any): string | undefined {
  const messages: unknown[] = Array.isArray(body?.messages) ? body.messages : [];
  const user = messages.filter((message: any) => message?.role === 'user').at(-1) as any;
  return typeof user?.content === 'string' ? user.content : undefined;
}

class Fakes {
  /** When each chat request (by the order number of its caller line) arrived, first token left. */
  private readonly chats = new Map<number, ChatMoments>();
  /** When each reply's first speech request arrived, its first audio left. */
  private readonly speeches = new Map<number, SpeechMoments>();
  private nextLineId = 1000;
  private unscriptedFinals = 0;
  private busy = false;
  private readonly greetingMark = `r1.${sentenceCount(GREETING) - 1}`;
  private readonly replyMarkIndex = sentenceCount(agentReply(1000)) - 1;

  constructor(
    readonly deepgram: FakeDeepgram,
    readonly openai: FakeOpenAi,
  ) {
    openai.reply(this.answer);
    const requests = openai.requests;
    const push = requests.push.bind(requests);
    requests.push = (...items: RecordedOpenAiRequest[]): number => {
      for (const request of items) {
        this.watch(request);
      }
      return push(...items);
    };
  }

  /** The fake model's answer to every chat request (it queues itself again for the next one). */
  private readonly answer = (request: RecordedOpenAiRequest) => {
    this.openai.reply(this.answer);
    const id = callerLineId(lastUserText(request.body) ?? '');
    return {
      text: id === undefined ? 'Sorry, could you say that again?' : agentReply(id),
      firstTokenDelayMs: FAKE_DELAYS.llmFirstTokenMs,
    };
  };

  /** Times a request of the fake OpenAI: its arrival, and its first token or first audio out. */
  private watch(request: RecordedOpenAiRequest): void {
    const arrivedAt = performance.now();
    if (request.path === '/v1/chat/completions') {
      const id = callerLineId(lastUserText(request.body) ?? '');
      if (id === undefined) {
        return;
      }
      const moments: ChatMoments = { arrivedAt };
      this.chats.set(id, moments);
      const data = request.sentData;
      const pushData = data.push.bind(data);
      data.push = (...items: string[]): number => {
        moments.firstTokenAt ??= performance.now();
        return pushData(...items);
      };
    } else if (request.path === '/v1/audio/speech') {
      const id = replyId(String(request.body?.input ?? ''));
      if (id === undefined) {
        return;
      }
      const moments: SpeechMoments = { arrivedAt };
      this.speeches.set(id, moments);
      let bytes = request.audioBytes;
      Object.defineProperty(request, 'audioBytes', {
        configurable: true,
        enumerable: true,
        get: () => bytes,
        set: (value: number) => {
          if (bytes === 0 && value > 0) {
            moments.firstAudioAt = performance.now();
          }
          bytes = value;
        },
      });
    }
  }

  /** Times the finals one fake Deepgram connection sends. */
  private watchFinals(connection: FakeDeepgramConnection): Final[] {
    const finals: Final[] = [];
    const messages = connection.sentMessages;
    const push = messages.push.bind(messages);
    messages.push = (...items: Record<string, unknown>[]): number => {
      for (const item of items) {
        const transcript = (item as any).channel?.alternatives?.[0]?.transcript;
        if (item.type === 'Results' && item.is_final === true && typeof transcript === 'string') {
          finals.push({ at: performance.now(), text: transcript });
          if (callerLineId(transcript) === undefined) {
            this.unscriptedFinals += 1;
          }
        }
      }
      return push(...items);
    };
    return finals;
  }

  run(message: Extract<ToFakes, { type: 'run' }>): void {
    if (this.busy) {
      send({ type: 'failed', message: 'a level is already running' });
      return;
    }
    this.busy = true;
    this.runLevel(message.level, message.seed, message.calls)
      .catch((error: unknown) => {
        send({ type: 'failed', message: describe(error) });
      })
      .finally(() => {
        this.busy = false;
      });
  }

  private async runLevel(level: number, seed: number, calls: LiveCallTarget[]): Promise<void> {
    // Scripts for every turn of the level with room to spare (left-overs serve the next level).
    for (let line = 0; line < calls.length * CALLER.turns * 2 + 20; line += 1) {
      this.deepgram.say([
        { text: callerLine(this.nextLineId), finalDelayMs: FAKE_DELAYS.sttFinalMs },
      ]);
      this.nextLineId += 1;
    }
    const speechRequests = calls.length * (1 + CALLER.turns * sentenceCount(agentReply(1)));
    for (let reply = 0; reply < speechRequests * 2 + 50; reply += 1) {
      this.openai.speak({
        firstAudioDelayMs: FAKE_DELAYS.ttsFirstAudioMs,
        chunkDelayMs: FAKE_VOICE.chunkDelayMs,
      });
    }
    const random = seededRandom(seed);
    const plans = calls.map((): CallPlan => {
      const pausesMs: number[] = [];
      const speechMs: number[] = [];
      for (let turn = 0; turn < CALLER.turns; turn += 1) {
        const spread = turn === 0 ? random() * CALLER.firstTurnSpreadMs : 0;
        pausesMs.push(
          Math.round(
            CALLER.pauseMs.min + random() * (CALLER.pauseMs.max - CALLER.pauseMs.min) + spread,
          ),
        );
        speechMs.push(
          CALLER.speechMs[Math.floor(random() * CALLER.speechMs.length)] ?? CALLER.speechMs[0],
        );
      }
      return { pausesMs, speechMs };
    });

    const connectionsBefore = this.deepgram.connections.length;
    const turnsGate = deferred();
    const hangUpGate = deferred();
    const greeted: Array<Promise<void>> = [];
    const turnsDone: Array<Promise<void>> = [];
    const conversations: Array<Promise<CallReport>> = [];
    const spacingMs = CALLER.rampMs / calls.length;
    const rampStartedAt = performance.now();
    let opened = 0;
    for (const [index, target] of calls.entries()) {
      const due = rampStartedAt + index * spacingMs - performance.now();
      if (due > 0) {
        await sleep(due);
      }
      const callGreeted = deferred();
      const callDone = deferred();
      greeted.push(callGreeted.promise);
      turnsDone.push(callDone.promise);
      // One call at a time until its speech-to-text stream is open: the STT connection the
      // fake Deepgram sees next is this call's, which ties its finals to this caller.
      let call: OpenedCall;
      try {
        call = await this.openCall(target);
        opened += 1;
      } catch (error) {
        callGreeted.resolve();
        callDone.resolve();
        conversations.push(
          Promise.resolve({
            ok: false,
            problem: `could not start: ${describe(error)}`,
            turns: [],
            gapsMs: [],
            utterances: 0,
            violations: [],
          }),
        );
        continue;
      }
      const plan = plans[index] ?? { pausesMs: [], speechMs: [] };
      conversations.push(
        this.converse(call, plan, {
          greeted: callGreeted,
          turnsDone: callDone,
          turnsGate: turnsGate.promise,
          hangUpGate: hangUpGate.promise,
        }),
      );
    }
    const sttConnections = this.deepgram.connections.length - connectionsBefore;

    await Promise.all(greeted);
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const cpuBefore = process.cpuUsage();
    const turnsStartedAt = performance.now();
    send({ type: 'turns-started', level });
    turnsGate.resolve();
    await Promise.all(turnsDone);
    const wallMs = performance.now() - turnsStartedAt;
    const cpu = process.cpuUsage(cpuBefore);
    lag.disable();
    send({ type: 'turns-done', level });
    hangUpGate.resolve();
    const reports = await Promise.all(conversations);
    if (sttConnections !== opened) {
      // A call opened a second STT stream (a retry): the finals of the calls after it may be
      // tied to the wrong caller, so their stage breakdown is left out.
      for (const report of reports) {
        for (const turn of report.turns) {
          delete turn.stages;
        }
      }
    }
    send({
      type: 'report',
      level,
      calls: reports,
      fakes: {
        cpuMs: (cpu.user + cpu.system) / 1000,
        wallMs,
        lagP99Ms: Math.max(0, lag.percentile(99) / 1e6 - 10),
        unscriptedFinals: this.unscriptedFinals,
      },
    });
  }

  private async openCall(target: LiveCallTarget): Promise<OpenedCall> {
    const before = this.deepgram.connections.length;
    const openedAt = performance.now();
    const client = await connectFakeExotel({
      url: target.streamUrl,
      callSid: target.callSid,
      realtime: true,
      playbackRate: 1,
    });
    try {
      client.startSilence();
      await until(
        () => this.deepgram.connections.length > before || !client.isOpen,
        CALLER.stepTimeoutMs,
        'its speech-to-text stream',
        2,
      );
      const connection = this.deepgram.connections[before];
      if (!connection) {
        throw new Error('the stream closed before speech-to-text opened');
      }
      return { client, openedAt, finals: this.watchFinals(connection) };
    } catch (error) {
      await hangUp(client);
      throw error;
    }
  }

  private async converse(
    call: OpenedCall,
    plan: CallPlan,
    gates: {
      greeted: Deferred;
      turnsDone: Deferred;
      turnsGate: Promise<void>;
      hangUpGate: Promise<void>;
    },
  ): Promise<CallReport> {
    const { client } = call;
    const report: CallReport = { ok: false, turns: [], gapsMs: [], utterances: 0, violations: [] };
    try {
      await this.played(client, this.greetingMark, 'the greeting');
      const firstAudio = client.audio[0];
      report.greetingMs = firstAudio ? firstAudio.at - call.openedAt : undefined;
      gates.greeted.resolve();
      await gates.turnsGate;
      for (let turn = 0; turn < CALLER.turns; turn += 1) {
        await sleep(plan.pausesMs[turn] ?? CALLER.pauseMs.min);
        const speechMs = plan.speechMs[turn] ?? CALLER.speechMs[0];
        const audioBefore = client.audio.length;
        const speech = await client.speak(speechMs);
        if (!speech.complete) {
          throw new Error(`the call ended while the caller spoke (turn ${turn + 1})`);
        }
        await this.played(client, `r${turn + 2}.${this.replyMarkIndex}`, `reply ${turn + 1}`);
        const heard = client.audio.slice(audioBefore).find((audio) => audio.at > speech.endedAt);
        if (!heard) {
          throw new Error(`no reply audio reached the caller after turn ${turn + 1}`);
        }
        const measured: TurnReport = { speechMs, latencyMs: heard.at - speech.endedAt };
        const stages = this.stagesOf(call.finals, speech.endedAt, heard.at);
        if (stages) {
          measured.stages = stages;
        }
        report.turns.push(measured);
      }
      gates.turnsDone.resolve();
      await gates.hangUpGate;
      const closed = await hangUp(client);
      report.closeCode = closed?.code;
      report.ok = true;
    } catch (error) {
      report.problem = describe(error);
      await hangUp(client);
    } finally {
      // A call that failed never holds the others back.
      gates.greeted.resolve();
      gates.turnsDone.resolve();
    }
    report.gapsMs = client.audioGaps(0).map((gap) => gap.durationMs);
    report.utterances = client.marksReceived.length;
    report.violations = client.violations.map((violation) => violation.kind);
    return report;
  }

  /** Waits for the caller to have heard everything up to `mark` (its echo). */
  private async played(client: FakeExotelMediaClient, mark: string, what: string): Promise<void> {
    await until(
      () => !client.isOpen || client.marksEchoed.some((echo) => echo.name === mark),
      CALLER.stepTimeoutMs,
      `${what} to play`,
    );
    if (!client.marksEchoed.some((echo) => echo.name === mark)) {
      const closed = await client.closed;
      throw new Error(`the app closed the call (${closed.code} ${closed.reason}) before ${what}`);
    }
  }

  /** The moments of one turn, from the final that followed the speech to the caller's audio. */
  private stagesOf(
    finals: Final[],
    speechEndedAt: number,
    heardAt: number,
  ): TurnStages | undefined {
    const final = finals.find((candidate) => candidate.at > speechEndedAt);
    const id = final ? callerLineId(final.text) : undefined;
    if (!final || id === undefined) {
      return undefined;
    }
    const chat = this.chats.get(id);
    const speech = this.speeches.get(id);
    if (
      chat?.firstTokenAt === undefined ||
      speech?.firstAudioAt === undefined ||
      speech.firstAudioAt > heardAt
    ) {
      return undefined;
    }
    return {
      speechEndToFinal: final.at - speechEndedAt,
      finalToChat: chat.arrivedAt - final.at,
      chatToFirstToken: chat.firstTokenAt - chat.arrivedAt,
      firstTokenToSpeech: speech.arrivedAt - chat.firstTokenAt,
      speechToFirstAudio: speech.firstAudioAt - speech.arrivedAt,
      firstAudioToCaller: heardAt - speech.firstAudioAt,
    };
  }
}

/** Exotel's hang-up (stop, then close), bounded: a peer that never closes is dropped. */
async function hangUp(
  client: FakeExotelMediaClient,
): Promise<{ code: number; reason: string } | undefined> {
  try {
    const stopped = client.isOpen ? client.stop() : client.closed;
    const timedOut = sleep(5_000).then(() => undefined);
    const closed = await Promise.race([stopped, timedOut]);
    if (closed === undefined) {
      await client.drop();
    }
    return closed;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  if (!process.send) {
    throw new Error('voice-fakes runs as the child process of bench:voice (child_process.fork)');
  }
  setTimeout(() => {
    process.exit(3);
  }, HARD_LIMIT_MS).unref();
  const deepgram = await startFakeDeepgram();
  const openai = await startFakeOpenAi({
    millisecondsPerCharacter: FAKE_VOICE.msPerCharacter,
    audioChunkBytes: FAKE_VOICE.chunkBytes,
    audioChunkDelayMs: FAKE_VOICE.chunkDelayMs,
  });
  const fakes = new Fakes(deepgram, openai);
  const stop = async (): Promise<void> => {
    await Promise.all([deepgram.close(), openai.close()]).catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (message: ToFakes) => {
    if (message.type === 'run') {
      fakes.run(message);
    } else {
      void stop();
    }
  });
  // The app process went away (ended or crashed): nothing left to serve.
  process.on('disconnect', () => {
    void stop();
  });
  send({
    type: 'ready',
    deepgram: { baseUrl: deepgram.baseUrl, apiKey: deepgram.apiKey },
    openai: { baseUrl: openai.baseUrl, apiKey: openai.apiKey },
  });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: describe(error) });
  process.exitCode = 1;
  setTimeout(() => process.exit(), 1000).unref();
});

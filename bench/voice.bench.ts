import { createHash, randomBytes, randomInt } from 'node:crypto';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { type EventLoopUtilization, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ObjectId } from 'mongodb';
import {
  DatabaseCommandCounter,
  type DatabaseCommandCounts,
} from '../src/infra/commands/database-command-counter.js';
import { type BenchApp, startBenchApp } from './support/app.js';
import {
  busyCoresSince,
  http,
  type MachineCpu,
  machineCpu,
  percentile,
} from './support/bench-tools.js';
import { BenchChild } from './support/child-process.js';
import { readBenchEnvironment } from './support/bench-environment.js';
import { type BenchDatabases, cleanBenchRedis, startBenchDatabases } from './support/databases.js';
import { textTable } from './support/report.js';
import {
  CALLER,
  type CallReport,
  FAKE_DELAYS,
  FAKE_VOICE,
  type FakesLoad,
  FIXED_DELAY_MS,
  type FromFakes,
  GREETING,
  type LiveCallTarget,
  type ToFakes,
  type TurnStages,
} from './support/voice-protocol.js';

/**
 * The voice runtime under 10, 50, 100 and 200 simultaneous calls in one process (all roles:
 * api, worker, media) against fake vendors with fixed delays. The fakes (Deepgram, OpenAI chat
 * and speech) and the fake Exotel callers run in a child process, so the app process's CPU,
 * memory and event loop are the app's alone. Each call: greeting, then CALLER.turns turns of
 * real-time caller speech with silence between, then the caller hangs up; every call of a
 * level is live during all of the level's turns. Per level: orchestration overhead per turn
 * (turn latency at the caller minus the fakes' fixed delays), holes in the agent's audio at
 * the caller, the app's event-loop lag, CPU and RSS per call, MongoDB and Redis commands.
 *
 * Usage: npm run bench:voice [-- LEVEL ...]  (levels 1 to 200, up to 4; default 10 50 100 200)
 */
const DEFAULT_LEVELS = [10, 50, 100, 200];
const GOAL_LEVEL = 100;
const GOALS = { overheadP99Ms: 5 };
/** Lag is what the monitor's 10 ms timer measures beyond its own period. */
const LAG_RESOLUTION_MS = 10;
const IDLE_BASELINE_MS = 3_000;
const SETUP_IN_FLIGHT = 8;
const LEVEL_TIMEOUT_MS = 240_000;
const FINALIZE_TIMEOUT_MS = 120_000;
const START_CREDITS = 1_000_000;
const SEED = 20_240_601;
/** The whole run's bound: far past what four levels take, so the bench always ends. */
const HARD_LIMIT_MS = 15 * 60_000;

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function levelsFromArguments(argv: string[]): number[] {
  if (argv.length === 0) {
    return DEFAULT_LEVELS;
  }
  const levels = argv.map(Number);
  const valid = (level: number): boolean => Number.isInteger(level) && level >= 1 && level <= 200;
  if (levels.length > 4 || !levels.every(valid)) {
    throw new Error(`levels must be up to 4 integers from 1 to 200 (got "${argv.join(' ')}")`);
  }
  return levels;
}

// ---------------------------------------------------------------------------------------------
// The fakes process
// ---------------------------------------------------------------------------------------------

/** The child process holding the fakes, and its IPC channel. */
type FakesProcess = BenchChild<FromFakes, ToFakes>;

function startFakesProcess(): FakesProcess {
  return BenchChild.start<FromFakes, ToFakes>(
    new URL('./support/voice-fakes.js', import.meta.url),
    'fakes',
  );
}

// ---------------------------------------------------------------------------------------------
// The account and its calls (set up through the HTTP API, as a customer and Exotel would)
// ---------------------------------------------------------------------------------------------

interface VoiceAccount {
  userId: string;
  webhookToken: string;
  phoneNumber: string;
}

interface OpenedCall extends LiveCallTarget {
  callLogId: string;
  sessionId: string;
}

/** A customer with credits, an agent speaking with the OpenAI voice, and its number. */
async function createAccount(bench: BenchApp): Promise<VoiceAccount> {
  const registered = await http(bench.baseUrl, 'POST', '/auth/register', {
    body: {
      email: `bench_voice_${randomBytes(4).toString('hex')}@example.com`,
      password: randomBytes(12).toString('base64url'),
      name: 'Bench Voice',
    },
  });
  const token = registered.accessToken as string;
  const userId = registered.user.id as string;
  await bench.db
    .collection('users')
    .updateOne({ _id: new ObjectId(userId) }, { $set: { credits: START_CREDITS } });
  const webhooks = await http(bench.baseUrl, 'GET', '/users/me/webhooks', { token });
  const webhookToken = String(webhooks.incomingCallUrl).split('/').at(-1) ?? '';
  const agent = await http(bench.baseUrl, 'POST', '/agents', {
    token,
    body: {
      name: 'Bench Voice Agent',
      config: {
        prompt: 'You are the support agent of XYZ Company. Help callers with their orders.',
        voice: { provider: 'openai', voiceId: 'alloy' },
        language: 'en',
        llm: { model: 'gpt-4', temperature: 0.7, maxTokens: 200 },
        firstMessage: GREETING,
        sessionTimeout: 300,
        flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 0 },
      },
    },
  });
  const phoneNumber = `+9198${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
  await http(bench.baseUrl, 'POST', '/phones', {
    token,
    body: { number: phoneNumber, country: 'IN', agentId: agent.id },
  });
  return { userId, webhookToken, phoneNumber };
}

/** Exotel's two requests for an inbound call: the incoming webhook, then the Voicebot URL. */
async function openCall(bench: BenchApp, account: VoiceAccount): Promise<OpenedCall> {
  const callSid = `CA${randomBytes(12).toString('hex')}`;
  const incoming = await http(
    bench.baseUrl,
    'GET',
    `/telephony/exotel/incoming/${account.webhookToken}`,
    {
      query: {
        CallSid: callSid,
        CallFrom: `09${String(randomInt(100_000_000, 999_999_999))}`,
        CallTo: `0${account.phoneNumber.slice(3)}`,
      },
    },
  );
  const voicebot = await http(
    bench.baseUrl,
    'GET',
    `/telephony/exotel/voicebot/${account.webhookToken}`,
    { query: { CallSid: callSid } },
  );
  // The URL names PUBLIC_BASE_URL's host; the callers reach the app where it listens.
  const signed = new URL(String(voicebot.url));
  const app = new URL(bench.baseUrl);
  return {
    callSid,
    callLogId: String(incoming.callLogId),
    sessionId: String(incoming.sessionId),
    streamUrl: `ws://${app.host}${signed.pathname}${signed.search}`,
  };
}

async function openCalls(
  bench: BenchApp,
  account: VoiceAccount,
  count: number,
): Promise<OpenedCall[]> {
  const calls: OpenedCall[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      calls.push(await openCall(bench, account));
    }
  };
  await Promise.all(Array.from({ length: Math.min(SETUP_IN_FLIGHT, count) }, lane));
  return calls;
}

// ---------------------------------------------------------------------------------------------
// Measuring one level
// ---------------------------------------------------------------------------------------------

interface IdleBaseline {
  lagP99Ms: number;
  cpuMsPerSecond: number;
  utilization: number;
  rss: number;
  /** Cores the whole machine kept busy meanwhile (databases, other processes). */
  machineBusyCores: number;
}

interface LevelResult {
  level: number;
  reports: CallReport[];
  fakes: FakesLoad;
  setupMs: number;
  /** From the first caller connecting to the last call finalized. */
  lifeWallMs: number;
  lifeCpuMs: number;
  /** From every call greeted to every call's last turn done. */
  turnsWallMs: number;
  turnsCpuMs: number;
  turnsUtilization: number;
  lagP99Ms: number;
  lagMaxMs: number;
  rssPeak: number;
  /** Cores the whole machine kept busy during the turns (app, fakes, databases, the rest). */
  machineBusyCores: number;
  turnCommands: DatabaseCommandCounts;
  callCommands: DatabaseCommandCounts;
  finalized: number;
  endedByCaller: number;
  finalizeMs: number;
  /** The app's own per-turn figure (session.turnLatencies): caller speech end -> audio sent. */
  appFirstAudioSentMs: number[];
}

async function measureIdle(durationMs: number): Promise<IdleBaseline> {
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const machineBefore = machineCpu();
  const startedAt = performance.now();
  lag.enable();
  await sleep(durationMs);
  lag.disable();
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - startedAt;
  return {
    lagP99Ms: lagOf(lag.percentile(99)),
    cpuMsPerSecond: ((cpu.user + cpu.system) / 1000 / wallMs) * 1000,
    utilization: performance.eventLoopUtilization(eluBefore).utilization,
    rss: process.memoryUsage().rss,
    machineBusyCores: busyCoresSince(machineBefore),
  };
}

function lagOf(nanoseconds: number): number {
  return Math.max(0, nanoseconds / 1e6 - LAG_RESOLUTION_MS);
}

async function waitForFinalized(
  bench: BenchApp,
  calls: OpenedCall[],
  timeoutMs: number,
): Promise<number> {
  const ids = calls.map((call) => new ObjectId(call.callLogId));
  const deadline = performance.now() + timeoutMs;
  let finalized = 0;
  while (performance.now() < deadline) {
    finalized = await bench.db
      .collection('calllogs')
      .countDocuments({ _id: { $in: ids }, finalizedAt: { $exists: true } });
    if (finalized === calls.length) {
      break;
    }
    await sleep(250);
  }
  return finalized;
}

async function runLevel(
  bench: BenchApp,
  fakes: FakesProcess,
  account: VoiceAccount,
  level: number,
  opened: OpenedCall[],
): Promise<LevelResult> {
  const counter = bench.app.get(DatabaseCommandCounter);
  const setupStartedAt = performance.now();
  const calls = await openCalls(bench, account, level);
  opened.push(...calls);
  const setupMs = performance.now() - setupStartedAt;
  await sleep(500);

  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  interface Moment {
    at: number;
    cpu: NodeJS.CpuUsage;
    elu: EventLoopUtilization;
    commands: DatabaseCommandCounts;
  }
  let turnsStarted: (Moment & { machine: MachineCpu }) | undefined;
  let turnsEnded: (Moment & { machineBusyCores: number }) | undefined;
  const stopListening = fakes.listen((message) => {
    if (message.type === 'turns-started') {
      lag.reset();
      lag.enable();
      turnsStarted = {
        at: performance.now(),
        cpu: process.cpuUsage(),
        elu: performance.eventLoopUtilization(),
        commands: counter.snapshot(),
        machine: machineCpu(),
      };
    } else if (message.type === 'turns-done' && turnsStarted) {
      lag.disable();
      turnsEnded = {
        at: performance.now(),
        cpu: process.cpuUsage(turnsStarted.cpu),
        elu: performance.eventLoopUtilization(turnsStarted.elu),
        commands: counter.since(turnsStarted.commands),
        machineBusyCores: busyCoresSince(turnsStarted.machine),
      };
    }
  });
  let rssPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    const memory = process.memoryUsage();
    rssPeak = Math.max(rssPeak, memory.rss);
  }, 200);
  const cpuBefore = process.cpuUsage();
  const commandsBefore = counter.snapshot();
  const startedAt = performance.now();
  try {
    const reported = fakes.next('report', LEVEL_TIMEOUT_MS);
    fakes.send({
      type: 'run',
      level,
      seed: SEED + level,
      calls: calls.map(({ streamUrl, callSid }) => ({ streamUrl, callSid })),
    });
    const report = await reported;
    const hungUpAt = performance.now();
    const finalized = await waitForFinalized(bench, calls, FINALIZE_TIMEOUT_MS);
    const finalizedAt = performance.now();
    const lifeCpu = process.cpuUsage(cpuBefore);
    const callCommands = counter.since(commandsBefore);
    if (!turnsStarted || !turnsEnded) {
      throw new Error('the fakes process did not report the start and end of the turns');
    }
    const callLogIds = calls.map((call) => new ObjectId(call.callLogId));
    const endedByCaller = await bench.db
      .collection('calllogs')
      .countDocuments({ _id: { $in: callLogIds }, status: 'user-ended' });
    const appFirstAudioSentMs: number[] = [];
    for await (const session of bench.db
      .collection('sessions')
      .find(
        { sessionId: { $in: calls.map((call) => call.sessionId) } },
        { projection: { turnLatencies: 1 } },
      )) {
      for (const latency of (session.turnLatencies ?? []) as Array<Record<string, unknown>>) {
        if (typeof latency.firstAudioSentMs === 'number') {
          appFirstAudioSentMs.push(latency.firstAudioSentMs);
        }
      }
    }
    return {
      level,
      reports: report.calls,
      fakes: report.fakes,
      setupMs,
      lifeWallMs: finalizedAt - startedAt,
      lifeCpuMs: (lifeCpu.user + lifeCpu.system) / 1000,
      turnsWallMs: turnsEnded.at - turnsStarted.at,
      turnsCpuMs: (turnsEnded.cpu.user + turnsEnded.cpu.system) / 1000,
      turnsUtilization: turnsEnded.elu.utilization,
      lagP99Ms: lagOf(lag.percentile(99)),
      lagMaxMs: lagOf(lag.max),
      rssPeak,
      machineBusyCores: turnsEnded.machineBusyCores,
      turnCommands: turnsEnded.commands,
      callCommands,
      finalized,
      endedByCaller,
      finalizeMs: finalizedAt - hungUpAt,
      appFirstAudioSentMs,
    };
  } finally {
    clearInterval(sampler);
    lag.disable();
    stopListening();
  }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

function ms(value: number, digits = 1): string {
  return Number.isNaN(value) ? '-' : value.toFixed(digits);
}

/** The report's tables, indented under their headings. */
function table(header: string[], rows: string[][]): string {
  return textTable(header, rows, '  ');
}

interface LevelFigures {
  result: LevelResult;
  turns: number;
  callsOk: number;
  latencies: number[];
  overheads: number[];
  gaps: number[];
  utterances: number;
  cpuMsPerCall: number;
  rssMbPerCall: number;
}

function figuresOf(result: LevelResult, idle: IdleBaseline): LevelFigures {
  const turns = result.reports.flatMap((report) => report.turns);
  const latencies = turns.map((turn) => turn.latencyMs);
  const idleCpuMs = (idle.cpuMsPerSecond * result.lifeWallMs) / 1000;
  return {
    result,
    turns: turns.length,
    callsOk: result.reports.filter((report) => report.ok).length,
    latencies,
    overheads: latencies.map((latency) => latency - FIXED_DELAY_MS),
    gaps: result.reports.flatMap((report) => report.gapsMs),
    utterances: result.reports.reduce((sum, report) => sum + report.utterances, 0),
    cpuMsPerCall: (result.lifeCpuMs - idleCpuMs) / result.level,
    rssMbPerCall: (result.rssPeak - idle.rss) / 2 ** 20 / result.level,
  };
}

function commandLine(counts: DatabaseCommandCounts, units: number): string {
  const per = (value: number): string => (units === 0 ? '-' : (value / units).toFixed(2));
  const breakdown = (byName: Record<string, number>): string =>
    Object.entries(byName)
      .sort(([, left], [, right]) => right - left)
      .map(([name, count]) => `${name} ${per(count)}`)
      .join(', ');
  return (
    `MongoDB ${per(counts.mongoTotal)} (${breakdown(counts.mongo) || 'none'}); ` +
    `Redis ${per(counts.redisTotal)} (${breakdown(counts.redis) || 'none'})`
  );
}

const STAGES: Array<{ key: keyof TurnStages; title: string; fixedMs: number; whose: string }> = [
  {
    key: 'speechEndToFinal',
    title: 'caller speech end -> STT final out',
    fixedMs: FAKE_DELAYS.endpointingMs + FAKE_DELAYS.sttFinalMs,
    whose: 'fakes + app (caller audio relayed to STT)',
  },
  { key: 'finalToChat', title: 'STT final -> chat request in', fixedMs: 0, whose: 'app' },
  {
    key: 'chatToFirstToken',
    title: 'chat request -> first token out',
    fixedMs: FAKE_DELAYS.llmFirstTokenMs,
    whose: 'fake model',
  },
  {
    key: 'firstTokenToSpeech',
    title: 'first token -> speech request in',
    fixedMs: 0,
    whose: 'app',
  },
  {
    key: 'speechToFirstAudio',
    title: 'speech request -> first audio out',
    fixedMs: FAKE_DELAYS.ttsFirstAudioMs,
    whose: 'fake speech',
  },
  { key: 'firstAudioToCaller', title: 'first audio -> caller hears it', fixedMs: 0, whose: 'app' },
];

function machineNotes(databases: BenchDatabases): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `  node ${process.version} on ${process.platform}/${process.arch}, ${availableParallelism()} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
    `  MongoDB: ${databases.mongoKind}; Redis: ${databases.redisUrl}`,
    '  app: one process, all roles (api, worker, media), production settings, log level warn;',
    '       fakes (Deepgram, OpenAI chat + speech) and the Exotel callers: a child process',
    `  fixed fake delays: endpointing ${FAKE_DELAYS.endpointingMs} ms (VOICE_ENDPOINTING_MS) + STT final ${FAKE_DELAYS.sttFinalMs} ms + LLM first token ${FAKE_DELAYS.llmFirstTokenMs} ms + TTS first audio ${FAKE_DELAYS.ttsFirstAudioMs} ms = ${FIXED_DELAY_MS} ms per turn`,
    `  voice: ${FAKE_VOICE.msPerCharacter} ms of audio per character, streamed at ${(FAKE_VOICE.chunkBytes / 48 / FAKE_VOICE.chunkDelayMs).toFixed(1)}x real time; callers: 8 kHz, real time, greeting + ${CALLER.turns} turns of ${CALLER.speechMs[0]}-${CALLER.speechMs.at(-1) ?? 0} ms speech after ${CALLER.pauseMs.min}-${CALLER.pauseMs.max} ms of silence, connected over >= ${CALLER.rampMs / 1000} s`,
  ].join('\n');
}

function printLevels(all: LevelFigures[], idle: IdleBaseline): void {
  print(
    `\nper level (turns window: every call greeted -> every call's last turn done; overhead = turn latency - ${FIXED_DELAY_MS} ms of fake delays)`,
  );
  print(
    table(
      [
        'calls',
        'turns',
        'overhead p50',
        'overhead p99',
        'audio gaps',
        'gap p99',
        'loop lag p99',
        'CPU/call',
        'RSS/call',
      ],
      all.map((figures) => [
        String(figures.result.level),
        String(figures.turns),
        `${ms(percentile(figures.overheads, 0.5))} ms`,
        `${ms(percentile(figures.overheads, 0.99))} ms`,
        `${figures.gaps.length}/${figures.utterances}`,
        figures.gaps.length === 0 ? '-' : `${ms(percentile(figures.gaps, 0.99))} ms`,
        `${ms(figures.result.lagP99Ms)} ms`,
        `${ms(figures.cpuMsPerCall, 0)} ms`,
        `${ms(figures.rssMbPerCall, 2)} MB`,
      ]),
    ),
  );
  print(
    "  audio gaps: holes in the caller's playback inside one sentence / sentences played; loop lag: the app's event loop; CPU/call: app process, first caller connected -> last call finalized, minus the idle app's rate; RSS/call: the app's peak RSS during the level minus the idle app's, / calls",
  );

  print('\nlatency detail');
  print(
    table(
      [
        'calls',
        'latency p50',
        'latency p99',
        'latency max',
        "app's own overhead p50 / p99",
        'greeting p50 / p99',
        'loop lag max',
        'setup',
        'finalize',
      ],
      all.map((figures) => {
        const { result } = figures;
        const greetings = result.reports.flatMap((report) =>
          report.greetingMs === undefined ? [] : [report.greetingMs],
        );
        const appOverheads = result.appFirstAudioSentMs.map((value) => value - FIXED_DELAY_MS);
        return [
          String(result.level),
          `${ms(percentile(figures.latencies, 0.5))} ms`,
          `${ms(percentile(figures.latencies, 0.99))} ms`,
          `${ms(percentile(figures.latencies, 1))} ms`,
          `${ms(percentile(appOverheads, 0.5), 0)} / ${ms(percentile(appOverheads, 0.99), 0)} ms`,
          `${ms(percentile(greetings, 0.5), 0)} / ${ms(percentile(greetings, 0.99), 0)} ms`,
          `${ms(result.lagMaxMs)} ms`,
          `${(result.setupMs / 1000).toFixed(1)} s`,
          `${(result.finalizeMs / 1000).toFixed(1)} s`,
        ];
      }),
    ),
  );
  print(
    "  app's own overhead: session.turnLatencies.firstAudioSentMs (the app's clock, from the last loud caller frame it read to the first reply audio it handed to the socket) - the fake delays; greeting: stream opened -> first greeting audio at the caller; setup: Exotel's incoming + Voicebot requests for every call; finalize: last hang-up -> every call finalized",
  );

  print('\nCPU during the turns (cores busy; 1.00 = one core all the time)');
  print(
    table(
      ['calls', 'app ELU', 'app', 'fakes', 'databases + rest', 'machine', 'fakes lag p99'],
      all.map(({ result }) => {
        const app = result.turnsCpuMs / result.turnsWallMs;
        const fakes = result.fakes.cpuMs / result.fakes.wallMs;
        return [
          String(result.level),
          `${(result.turnsUtilization * 100).toFixed(0)}%`,
          app.toFixed(2),
          fakes.toFixed(2),
          (result.machineBusyCores - app - fakes).toFixed(2),
          `${result.machineBusyCores.toFixed(2)} of ${availableParallelism()}`,
          `${ms(result.fakes.lagP99Ms)} ms`,
        ];
      }),
    ),
  );
  print(
    "  app ELU: share of the time the app's event loop was busy; databases + rest: the MongoDB-wire server, Redis and anything else running on the machine; a machine near all its cores busy delays every process, the app and the fakes alike (fakes lag p99: the timing noise floor of every figure above)",
  );

  print('\nwhere a turn goes (ms, p50 / p99 per level; moments taken in the fakes process)');
  const stageRows = STAGES.map((stage) => [
    stage.title,
    stage.whose,
    stage.fixedMs === 0 ? '-' : String(stage.fixedMs),
    ...all.map((figures) => {
      const values = figures.result.reports.flatMap((report) =>
        report.turns.flatMap((turn) => (turn.stages ? [turn.stages[stage.key]] : [])),
      );
      return `${ms(percentile(values, 0.5))} / ${ms(percentile(values, 0.99))}`;
    }),
  ]);
  print(
    table(
      ['stage', 'whose', 'fixed', ...all.map((figures) => `${figures.result.level} calls`)],
      stageRows,
    ),
  );

  print(
    "\nMongoDB and Redis commands (the app's counter, counted when sent; BullMQ's own connections not counted)",
  );
  for (const figures of all) {
    const { result } = figures;
    print(`  ${result.level} calls`);
    print(
      `    per turn (turns window)                ${commandLine(result.turnCommands, figures.turns)}`,
    );
    print(
      `    per call (connect -> finalized, all)   ${commandLine(result.callCommands, result.level)}`,
    );
  }
  print(
    '  per turn: what the app sent during the turns window / turns; fewer than the lower levels means writes were still queued (connection pool busy) when the window closed',
  );

  const base = all[0];
  if (base && all.length > 1) {
    print(`\nratios to the ${base.result.level}-call level (same run)`);
    const ratio = (value: number, reference: number): string =>
      reference > 0 && !Number.isNaN(value) ? `x${(value / reference).toFixed(2)}` : '-';
    print(
      table(
        [
          'calls',
          'overhead p50',
          'overhead p99',
          'latency p99',
          'CPU/call',
          'app CPU',
          'loop lag p99',
        ],
        all.map((figures) => [
          String(figures.result.level),
          ratio(percentile(figures.overheads, 0.5), percentile(base.overheads, 0.5)),
          ratio(percentile(figures.overheads, 0.99), percentile(base.overheads, 0.99)),
          ratio(percentile(figures.latencies, 0.99), percentile(base.latencies, 0.99)),
          ratio(figures.cpuMsPerCall, base.cpuMsPerCall),
          ratio(
            figures.result.turnsCpuMs / figures.result.turnsWallMs,
            base.result.turnsCpuMs / base.result.turnsWallMs,
          ),
          ratio(figures.result.lagP99Ms, Math.max(base.result.lagP99Ms, idle.lagP99Ms)),
        ]),
      ),
    );
    print(
      `  loop lag ratio against the larger of the ${base.result.level}-call lag and the idle app's (${ms(idle.lagP99Ms)} ms)`,
    );
  }
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function checksOf(all: LevelFigures[]): Check[] {
  const checks: Check[] = [];
  for (const figures of all) {
    const { result } = figures;
    const failed = result.reports.filter((report) => !report.ok);
    const problems = [...new Set(failed.map((report) => report.problem ?? 'unknown'))];
    const violations = result.reports.flatMap((report) => report.violations);
    const badCloses = result.reports.filter(
      (report) => report.ok && report.closeCode !== 1000,
    ).length;
    const withStages = result.reports.reduce(
      (sum, report) => sum + report.turns.filter((turn) => turn.stages).length,
      0,
    );
    checks.push(
      {
        name: `${result.level} calls: every call greeted, ${CALLER.turns} turns answered, hung up`,
        ok: failed.length === 0 && figures.turns === result.level * CALLER.turns,
        detail: `${figures.callsOk}/${result.level} calls, ${figures.turns}/${result.level * CALLER.turns} turns${problems.length > 0 ? `; ${problems.slice(0, 3).join('; ')}` : ''}`,
      },
      {
        name: `${result.level} calls: no breach of Exotel's frame rules, streams closed normally`,
        ok: violations.length === 0 && badCloses === 0,
        detail: `${violations.length} violations${violations.length > 0 ? ` (${[...new Set(violations)].join(', ')})` : ''}, ${badCloses} abnormal closes`,
      },
      {
        name: `${result.level} calls: every call finalized as user-ended`,
        ok: result.finalized === result.level && result.endedByCaller === result.level,
        detail: `${result.finalized} finalized, ${result.endedByCaller} user-ended`,
      },
      {
        name: `${result.level} calls: every turn's moments matched (fake delays applied)`,
        ok: withStages === figures.turns && result.fakes.unscriptedFinals === 0,
        detail: `${withStages}/${figures.turns} turns, ${result.fakes.unscriptedFinals} unscripted finals`,
      },
    );
  }
  return checks;
}

function verdicts(all: LevelFigures[], idle: IdleBaseline): string[] {
  const goal = all.find((figures) => figures.result.level === GOAL_LEVEL);
  if (!goal) {
    return [`goals: not judged (the ${GOAL_LEVEL}-call level was not run)`];
  }
  const cores = availableParallelism();
  const busyMachine =
    idle.machineBusyCores > cores / 4
      ? [
          `warning: other processes kept ${idle.machineBusyCores.toFixed(2)} of ${cores} cores busy while the app idled, so every figure includes waiting for a core; judge the goals on a quiet machine`,
        ]
      : [];
  const overheadP99 = percentile(goal.overheads, 0.99);
  const overheadMet = overheadP99 < GOALS.overheadP99Ms;
  const gapMax = goal.gaps.length === 0 ? 0 : Math.max(...goal.gaps);
  const gapsMet = goal.gaps.length === 0 && goal.turns > 0;
  return [
    `goal: orchestration overhead p99 < ${GOALS.overheadP99Ms} ms at ${GOAL_LEVEL} calls: ${overheadMet ? 'MET' : 'NOT MET'} (p99 ${ms(overheadP99)} ms, p50 ${ms(percentile(goal.overheads, 0.5))} ms over ${goal.turns} turns)`,
    `goal: no outgoing audio gap at ${GOAL_LEVEL} calls: ${gapsMet ? 'MET' : 'NOT MET'} (${goal.gaps.length} gaps in ${goal.utterances} sentences${goal.gaps.length > 0 ? `, p99 ${ms(percentile(goal.gaps, 0.99))} ms, max ${ms(gapMax)} ms` : ''})`,
    ...busyMachine,
  ];
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function accountKeys(account: VoiceAccount, calls: OpenedCall[]): string[] {
  const tokenId = createHash('sha256').update(account.webhookToken).digest('hex').slice(0, 32);
  return [
    `user:token:${account.userId}`,
    `user:profile:${account.userId}`,
    `calls:active:${account.userId}`,
    `ratelimit:telephony:inbound:${tokenId}`,
    `ratelimit:telephony:voicebot:${tokenId}`,
    ...calls.flatMap((call) => [
      `session:${call.sessionId}`,
      `lock:media-stream:${call.sessionId}`,
    ]),
  ];
}

async function main(levels: number[]): Promise<boolean> {
  const environment = readBenchEnvironment();
  const databases = await startBenchDatabases(environment, (line) => {
    print(`[databases] ${line}`);
  });
  const cleanups: Array<() => Promise<void>> = [() => databases.stop()];
  try {
    print(
      `bench:voice, levels ${levels.join(', ')} simultaneous calls\n${machineNotes(databases)}`,
    );
    const fakes = startFakesProcess();
    cleanups.unshift(() => fakes.stop());
    const ready = await fakes.next('ready', 30_000);
    const bench = await startBenchApp(databases, {
      DEEPGRAM_API_KEY: ready.deepgram.apiKey,
      DEEPGRAM_BASE_URL: ready.deepgram.baseUrl,
      OPENAI_API_KEY: ready.openai.apiKey,
      OPENAI_BASE_URL: ready.openai.baseUrl,
      VOICE_ENDPOINTING_MS: String(FAKE_DELAYS.endpointingMs),
      INBOUND_CALLS_PER_MINUTE: '100000',
      MAX_CONCURRENT_CALLS: '100000',
      SCHEDULER_ENABLED: 'false',
    });
    const opened: OpenedCall[] = [];
    const created: { account?: VoiceAccount } = {};
    cleanups.unshift(async () => {
      await bench.close();
      await cleanBenchRedis(
        databases.redisUrl,
        bench.config.redis.queuePrefix,
        created.account ? accountKeys(created.account, opened) : [],
      );
    });
    const account = await createAccount(bench);
    created.account = account;

    await sleep(1_000);
    const idle = await measureIdle(IDLE_BASELINE_MS);
    print(
      `\nbaseline, idle app (same run, ${IDLE_BASELINE_MS / 1000} s): loop lag p99 ${ms(idle.lagP99Ms)} ms, CPU ${ms(idle.cpuMsPerSecond)} ms/s, ELU ${(idle.utilization * 100).toFixed(1)}%, RSS ${(idle.rss / 2 ** 20).toFixed(0)} MB; meanwhile the machine kept ${idle.machineBusyCores.toFixed(2)} of ${availableParallelism()} cores busy`,
    );

    const all: LevelFigures[] = [];
    for (const level of levels) {
      print(`\n${level} calls ...`);
      const result = await runLevel(bench, fakes, account, level, opened);
      const figures = figuresOf(result, idle);
      all.push(figures);
      print(
        `  ${figures.callsOk}/${level} calls, ${figures.turns} turns: overhead p50 ${ms(percentile(figures.overheads, 0.5))} ms, p99 ${ms(percentile(figures.overheads, 0.99))} ms; ${figures.gaps.length} audio gaps; loop lag p99 ${ms(result.lagP99Ms)} ms; ${(result.lifeWallMs / 1000).toFixed(1)} s`,
      );
      await sleep(1_000);
    }
    printLevels(all, idle);

    const checks = checksOf(all);
    print('\nchecks');
    for (const check of checks) {
      print(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}`);
    }
    print('');
    for (const line of verdicts(all, idle)) {
      print(line);
    }
    print(
      `load average at the end ${loadavg()
        .map((value) => value.toFixed(2))
        .join(' ')} on ${availableParallelism()} cores`,
    );
    const clean = checks.every((check) => check.ok);
    print(`\n${clean ? 'run clean' : 'run NOT clean (see FAIL above)'}`);
    return clean;
  } finally {
    for (const cleanup of cleanups) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`cleanup failed: ${describe(error)}\n`);
      });
    }
  }
}

setTimeout(() => {
  process.stderr.write(`bench:voice did not finish within ${HARD_LIMIT_MS / 1000} s; stopping\n`);
  process.exit(2);
}, HARD_LIMIT_MS).unref();

let levels: number[] = DEFAULT_LEVELS;
try {
  levels = levelsFromArguments(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${describe(error)}\n`);
  process.exit(1);
}

main(levels).then(
  (clean) => {
    // MET/NOT MET is a report; only a broken run (calls failed, not finalized) fails the command.
    process.exitCode = clean ? 0 : 1;
    setTimeout(() => process.exit(), 5000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`bench:voice failed: ${describe(error)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(), 5000).unref();
  },
);

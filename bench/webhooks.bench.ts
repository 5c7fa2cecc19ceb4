import { randomBytes, randomInt } from 'node:crypto';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { Types } from 'mongoose';
import { CallLogsRepository } from '../src/calls/call-logs.repository.js';
import type { CallStatus } from '../src/calls/schemas/call-log.schema.js';
import {
  DatabaseCommandCounter,
  type DatabaseCommandCounts,
} from '../src/infra/commands/database-command-counter.js';
import { Queues } from '../src/infra/queue/queues.js';
import { RedisKeys } from '../src/infra/redis/redis-keys.js';
import { CallWebhookEvents } from '../src/webhooks/call-webhook-events.js';
import { publicEventId } from '../src/webhooks/webhook-event-types.js';
import { type BenchApp, startBenchApp } from './support/app.js';
import { busyCoresSince, http, machineCpu, percentile } from './support/bench-tools.js';
import { BenchChild } from './support/child-process.js';
import { readBenchEnvironment } from './support/bench-environment.js';
import { type BenchDatabases, cleanBenchRedis, startBenchDatabases } from './support/databases.js';
import { textTable } from './support/report.js';
import type {
  FromReceivers,
  ReceivedRequests,
  ReceiverName,
  ToReceivers,
} from './support/webhook-receivers.js';

/**
 * Customer webhooks end to end in one app process (all roles but the crons): call events are
 * recorded on call logs through the app's own services, the way the call paths record them
 * (`CallWebhookEvents.status` + `CallLogsRepository.create/advanceStatus`, then `announce`), at
 * a steady rate, and delivered to three receivers in a child process: fast (200 at once), slow
 * (200 after 2 s) and failing (500 to each event's first attempt, 200 to the next). Three
 * phases in one run: a baseline at a low rate, the fast receiver alone at the full rate, then
 * the full run to all three. Per receiver: deliveries/s, event -> first attempt (p50/p99/max),
 * duplicates and losses by webhook-id; for the app: CPU, RSS, MongoDB and Redis commands per
 * delivery, and the delivery log's final state. Times are wall-clock milliseconds (Date.now())
 * on both sides: the event's occurredAt in the app, the request's arrival in the receivers.
 *
 * Usage: npm run bench:webhooks [-- --events=10000 --rate=500 --concurrency=400 --pool=N]
 * (--pool: MONGODB_MAX_POOL_SIZE; the app's default unless given)
 */
/** `pool` 0: MONGODB_MAX_POOL_SIZE left at the app's default. */
const DEFAULTS = { events: 10_000, rate: 500, concurrency: 400, pool: 0 };
const BASELINE = { events: 500, rate: 20 };
const FAST_ONLY_EVENTS = 1_000;
/** Every call goes through these four statuses, one `call.status` event each. */
const STATUSES: readonly CallStatus[] = ['initiated', 'ringing', 'in-progress', 'completed'];
/**
 * Calls produced side by side: each status step runs over this many calls before the next
 * step starts, so one call's events are WINDOW / rate apart (100 ms at 500/s) and in order.
 */
const CALL_WINDOW = 50;
/** Event writes in flight at most: a slower app makes the producer fall behind, not pile up. */
const MAX_IN_FLIGHT = 128;
const RETRY_BASE_MS = 100;
const MAX_ATTEMPTS = 5;
const IDLE_BASELINE_MS = 3_000;
const POLL_MS = 500;
const DATABASE_CHECK_MS = 5_000;
const RSS_SAMPLE_MS = 200;
/** The whole run's bound; each phase's settling wait is bounded by what is left of it. */
// On the development database (FerretDB) fan-out runs at ~20 events/s with three receivers, so
// the default 10,000 events take about 10 minutes; a real MongoDB takes far less.
const HARD_LIMIT_MS = 20 * 60_000;
/** Kept for the report, the cleanup and the process's exit after the last phase. */
const CLOSING_RESERVE_MS = 45_000;
const START_CREDITS = 1_000_000;
const ALL_RECEIVERS: readonly ReceiverName[] = ['fast', 'slow', 'failing'];

const runStartedAt = performance.now();

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

interface Options {
  events: number;
  rate: number;
  concurrency: number;
  pool: number;
}

function optionsFromArguments(argv: string[]): Options {
  const options = { ...DEFAULTS };
  const bounds: Record<keyof Options, [number, number]> = {
    events: [100, 20_000],
    rate: [10, 2_000],
    concurrency: [1, 1024],
    pool: [0, 200],
  };
  for (const argument of argv) {
    const match = /^--(events|rate|concurrency|pool)=(\d+)$/.exec(argument);
    const name = match?.[1] as keyof Options | undefined;
    const value = Number(match?.[2]);
    const [min, max] = name ? bounds[name] : [0, 0];
    if (!name || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(
        `usage: [--events=100..20000] [--rate=10..2000] [--concurrency=1..1024] [--pool=1..200] (got "${argument}")`,
      );
    }
    options[name] = value;
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// The receivers process
// ---------------------------------------------------------------------------------------------

/** The child process holding the receivers, and its IPC channel. */
type ReceiversProcess = BenchChild<FromReceivers, ToReceivers>;

function startReceiversProcess(): ReceiversProcess {
  return BenchChild.start<FromReceivers, ToReceivers>(
    new URL('./support/webhook-receivers.js', import.meta.url),
    'receivers',
  );
}

// ---------------------------------------------------------------------------------------------
// The account (through the HTTP API, as a customer would)
// ---------------------------------------------------------------------------------------------

interface Account {
  token: string;
  userId: string;
  agentId: string;
  endpointIds: Record<ReceiverName, string>;
}

/** A customer, an agent, and one `call.status` endpoint per receiver (their secrets). */
async function createAccount(
  bench: BenchApp,
  urls: Record<ReceiverName, string>,
): Promise<{ account: Account; secrets: Record<ReceiverName, string> }> {
  const registered = await http(bench.baseUrl, 'POST', '/auth/register', {
    body: {
      email: `bench_webhooks_${randomBytes(4).toString('hex')}@example.com`,
      password: randomBytes(12).toString('base64url'),
      name: 'Bench Webhooks',
    },
  });
  const token = registered.accessToken as string;
  const userId = registered.user.id as string;
  await bench.db
    .collection('users')
    .updateOne({ _id: new Types.ObjectId(userId) }, { $set: { credits: START_CREDITS } });
  const agent = await http(bench.baseUrl, 'POST', '/agents', {
    token,
    body: {
      name: 'Bench Webhooks Agent',
      config: {
        prompt: 'You are the support agent of XYZ Company. Help callers with their orders.',
        voice: { provider: 'openai', voiceId: 'alloy' },
        language: 'en',
        llm: { model: 'gpt-4', temperature: 0.7, maxTokens: 200 },
        firstMessage: 'Hello! How can I help you today?',
        sessionTimeout: 300,
        flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 0 },
      },
    },
  });
  const endpointIds = {} as Record<ReceiverName, string>;
  const secrets = {} as Record<ReceiverName, string>;
  for (const name of ALL_RECEIVERS) {
    const endpoint = await http(bench.baseUrl, 'POST', '/webhooks/endpoints', {
      token,
      body: { url: urls[name], events: ['call.status'], description: `bench ${name} receiver` },
    });
    endpointIds[name] = endpoint.id as string;
    secrets[name] = endpoint.secret as string;
  }
  return { account: { token, userId, agentId: agent.id as string, endpointIds }, secrets };
}

async function setEnabled(
  bench: BenchApp,
  account: Account,
  receivers: readonly ReceiverName[],
): Promise<void> {
  for (const name of ALL_RECEIVERS) {
    await http(bench.baseUrl, 'PATCH', `/webhooks/endpoints/${account.endpointIds[name]}`, {
      token: account.token,
      body: { enabled: receivers.includes(name) },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Producing the events
// ---------------------------------------------------------------------------------------------

interface Production {
  /** webhook-id -> occurredAt (Date.now() ms), for every event recorded on a call log. */
  events: Map<string, number>;
  callLogIds: string[];
  errors: string[];
  /** Date.now() at the first slot and when the last write and announce were done. */
  startedAt: number;
  endedAt: number;
  /** The most the producer fell behind its schedule (ms). */
  maxBehindMs: number;
}

/**
 * `count` call.status events at `rate` per second: calls of four events (initiated at the
 * call log's creation, then ringing, in-progress and completed), each event announced after
 * its write, as the call paths do.
 */
async function produce(
  bench: BenchApp,
  account: Account,
  phase: string,
  count: number,
  rate: number,
): Promise<Production> {
  const callLogs = bench.app.get(CallLogsRepository);
  const webhookEvents = bench.app.get(CallWebhookEvents);
  const userId = new Types.ObjectId(account.userId);
  const agentId = new Types.ObjectId(account.agentId);
  const subject = { userId, agentId };
  const calls = Math.ceil(count / STATUSES.length);
  const slots: Array<{ call: number; step: number }> = [];
  for (let first = 0; first < calls; first += CALL_WINDOW) {
    const last = Math.min(calls, first + CALL_WINDOW);
    for (let step = 0; step < STATUSES.length; step += 1) {
      for (let call = first; call < last; call += 1) {
        if (call * STATUSES.length + step < count) {
          slots.push({ call, step });
        }
      }
    }
  }
  const tag = randomBytes(3).toString('hex');
  const callLogIds: Array<Types.ObjectId | undefined> = Array.from({ length: calls });
  const events = new Map<string, number>();
  const errors: string[] = [];

  const run = async (call: number, step: number): Promise<void> => {
    const status = STATUSES[step] ?? 'completed';
    const event = await webhookEvents.status(subject, status, new Date());
    if (!event) {
      throw new Error('no endpoint takes call.status (routing said no)');
    }
    let callLogId = callLogIds[call];
    if (step === 0) {
      const created = await callLogs.create({
        sessionId: `bench_webhooks_${tag}_${phase}_${call}`,
        userId,
        agentId,
        fromPhone: '+919800000001',
        toPhone: `+9198${String(randomInt(0, 100_000_000)).padStart(8, '0')}`,
        direction: 'outbound',
        status,
        webhookEvent: event,
      });
      callLogId = created._id;
      callLogIds[call] = callLogId;
    } else if (!callLogId) {
      throw new Error(`call ${call} was not created`);
    } else if (!(await callLogs.advanceStatus(callLogId, { status }, event))) {
      throw new Error(`call ${call} did not move to ${status}`);
    }
    events.set(publicEventId(event.eventId), event.occurredAt.getTime());
    await webhookEvents.announce(callLogId, event);
  };

  const chains: Array<Promise<void>> = Array.from({ length: calls }, () => Promise.resolve());
  const inFlight = new Set<Promise<void>>();
  const startedAt = Date.now();
  const clockStart = performance.now();
  let maxBehindMs = 0;
  for (const [index, { call, step }] of slots.entries()) {
    const wait = clockStart + (index * 1000) / rate - performance.now();
    if (wait >= 1) {
      await sleep(wait);
    } else {
      maxBehindMs = Math.max(maxBehindMs, -wait);
    }
    while (inFlight.size >= MAX_IN_FLIGHT) {
      await Promise.race(inFlight);
    }
    const previous = chains[call] ?? Promise.resolve();
    const task = previous
      .then(() => run(call, step))
      .catch((error: unknown) => {
        errors.push(`call ${call} ${STATUSES[step] ?? ''}: ${describe(error).split('\n')[0]}`);
      });
    chains[call] = task;
    inFlight.add(task);
    void task.then(() => inFlight.delete(task));
  }
  await Promise.all(inFlight);
  return {
    events,
    callLogIds: callLogIds.flatMap((id) => (id ? [id.toString()] : [])),
    errors,
    startedAt,
    endedAt: Date.now(),
    maxBehindMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Waiting for the deliveries to settle
// ---------------------------------------------------------------------------------------------

interface DeliveryCounts {
  total: number;
  pending: number;
}

async function deliveryCounts(bench: BenchApp, since: Date): Promise<DeliveryCounts> {
  const deliveries = bench.db.collection('webhookdeliveries');
  const [total, pending] = await Promise.all([
    deliveries.countDocuments({ createdAt: { $gte: since } }),
    deliveries.countDocuments({ createdAt: { $gte: since }, status: 'pending' }),
  ]);
  return { total, pending };
}

interface Settling {
  settled: boolean;
  /** Date.now() when it was seen settled (or the wait gave up). */
  at: number;
  counts: DeliveryCounts;
}

/**
 * Until every enabled receiver answered 2xx to every event and the delivery log holds every
 * delivery, none pending; or until no delivery is pending even though some never arrived
 * (failed or lost: the checks say which); or the deadline.
 */
async function waitSettled(
  bench: BenchApp,
  receivers: ReceiversProcess,
  expected: { perReceiver: number; enabled: readonly ReceiverName[] },
  since: Date,
  deadline: number,
): Promise<Settling> {
  const deliveries = expected.perReceiver * expected.enabled.length;
  let counts: DeliveryCounts = { total: 0, pending: Number.NaN };
  let checkedAt = 0;
  for (;;) {
    const { receivers: progress } = await receivers.ask({ type: 'progress' }, 'progress');
    const arrived = expected.enabled.every(
      (name) => progress[name].delivered >= expected.perReceiver,
    );
    if (arrived || performance.now() - checkedAt >= DATABASE_CHECK_MS) {
      counts = await deliveryCounts(bench, since);
      checkedAt = performance.now();
      if (counts.total >= deliveries && counts.pending === 0) {
        return { settled: true, at: Date.now(), counts };
      }
    }
    if (performance.now() >= deadline) {
      return { settled: false, at: Date.now(), counts };
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// A phase
// ---------------------------------------------------------------------------------------------

interface PhaseSpec {
  name: string;
  title: string;
  events: number;
  rate: number;
  enabled: readonly ReceiverName[];
}

interface IdleBaseline {
  rss: number;
  cpuMsPerSecond: number;
}

/** One delivery of the phase as the delivery log holds it once settled. */
interface DeliveryRow {
  endpointId: string;
  eventId: string;
  createdAt: number;
  status: string;
  attempts: number;
}

interface PhaseResult {
  spec: PhaseSpec;
  production: Production;
  settling: Settling;
  /** From the first event produced to settled (or given up). */
  wallMs: number;
  cpuMs: number;
  rssPeak: number;
  rssEnd: number;
  commands: DatabaseCommandCounts;
  received: Record<ReceiverName, ReceivedRequests>;
  receiversCpuMs: number;
  machineBusyCores: number;
  deliveryRows: DeliveryRow[];
  /** The two webhook queues' job counts when the phase ended (settled or out of time). */
  queues: { dispatch: Record<string, number>; delivery: Record<string, number> };
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

function queueCounts(bench: BenchApp, name: string): Promise<Record<string, number>> {
  return bench.app.get<Queue>(getQueueToken(name)).getJobCounts(...QUEUE_STATES);
}

async function measureIdle(durationMs: number): Promise<IdleBaseline> {
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  await sleep(durationMs);
  const cpu = process.cpuUsage(cpuBefore);
  return {
    rss: process.memoryUsage().rss,
    cpuMsPerSecond: ((cpu.user + cpu.system) / 1000 / (performance.now() - startedAt)) * 1000,
  };
}

async function runPhase(
  bench: BenchApp,
  receivers: ReceiversProcess,
  account: Account,
  spec: PhaseSpec,
  deadline: number,
): Promise<PhaseResult> {
  await setEnabled(bench, account, spec.enabled);
  // Nothing of an earlier phase is left in the receivers' records.
  await receivers.ask({ type: 'collect' }, 'collected');
  const counter = bench.app.get(DatabaseCommandCounter);
  let rssPeak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }, RSS_SAMPLE_MS);
  const since = new Date();
  const machineBefore = machineCpu();
  const cpuBefore = process.cpuUsage();
  const commandsBefore = counter.snapshot();
  const startedAt = performance.now();
  try {
    const production = await produce(bench, account, spec.name, spec.events, spec.rate);
    const settling = await waitSettled(
      bench,
      receivers,
      { perReceiver: production.events.size, enabled: spec.enabled },
      since,
      deadline,
    );
    const wallMs = performance.now() - startedAt;
    const cpu = process.cpuUsage(cpuBefore);
    const commands = counter.since(commandsBefore);
    const machineBusyCores = busyCoresSince(machineBefore);
    clearInterval(sampler);
    const queues = {
      dispatch: await queueCounts(bench, Queues.webhookDispatch),
      delivery: await queueCounts(bench, Queues.webhookDelivery),
    };
    const collected = await receivers.ask({ type: 'collect' }, 'collected', 60_000);
    const deliveryRows: DeliveryRow[] = [];
    for await (const row of bench.db
      .collection('webhookdeliveries')
      .find(
        { createdAt: { $gte: since } },
        { projection: { _id: 0, endpointId: 1, eventId: 1, createdAt: 1, status: 1, attempts: 1 } },
      )) {
      deliveryRows.push({
        endpointId: String(row.endpointId),
        eventId: String(row.eventId),
        createdAt: (row.createdAt as Date).getTime(),
        status: String(row.status),
        attempts: Number(row.attempts),
      });
    }
    return {
      spec,
      production,
      settling,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssPeak,
      rssEnd: process.memoryUsage().rss,
      commands,
      received: collected.receivers,
      receiversCpuMs: collected.cpuMs,
      machineBusyCores,
      deliveryRows,
      queues,
    };
  } finally {
    clearInterval(sampler);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

function fixed(value: number, digits = 0): string {
  return Number.isNaN(value) || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  return textTable(header, rows, '  ');
}

interface ReceiverFigures {
  name: ReceiverName;
  enabled: boolean;
  requests: number;
  distinct: number;
  /** 2xx answers beyond the first for the same id. */
  duplicates: number;
  /** Events of the phase never answered 2xx. */
  missing: number;
  /** Of those, events with no delivery to this endpoint in the log (never dispatched). */
  undispatched: number;
  /** Requests for ids that are not this phase's events. */
  foreign: number;
  delivered: number;
  deliveriesPerSecond: number;
  /** occurredAt -> first request's arrival, per event (ms). */
  firstAttemptMs: number[];
  /** occurredAt -> the 2xx request's arrival (the failing receiver: after the retry). */
  deliveredMs: number[];
  /** occurredAt -> the delivery's creation by the dispatcher (ms). */
  dispatchMs: number[];
  /** Delivery created -> first request's arrival (ms). */
  queuedMs: number[];
  firstRefused: number;
  retried: number;
  badSignatures: number;
  badBodies: number;
  firstArrival: number;
  lastArrival: number;
}

function receiverFigures(
  result: PhaseResult,
  name: ReceiverName,
  endpointId: string,
): ReceiverFigures {
  const received = result.received[name];
  const events = result.production.events;
  const firstAt = new Map<string, number>();
  const firstStatus = new Map<string, number>();
  const deliveredAt = new Map<string, number>();
  const requestsPerId = new Map<string, number>();
  let duplicates = 0;
  let foreign = 0;
  let firstArrival = Number.POSITIVE_INFINITY;
  let lastArrival = Number.NEGATIVE_INFINITY;
  for (const [index, id] of received.ids.entries()) {
    const at = received.arrivedAt[index] ?? Number.NaN;
    const status = received.status[index] ?? 0;
    if (!events.has(id)) {
      foreign += 1;
    }
    requestsPerId.set(id, (requestsPerId.get(id) ?? 0) + 1);
    if (!firstAt.has(id)) {
      firstAt.set(id, at);
      firstStatus.set(id, status);
    }
    firstArrival = Math.min(firstArrival, at);
    if (status >= 200 && status < 300) {
      lastArrival = Math.max(lastArrival, at);
      if (deliveredAt.has(id)) {
        duplicates += 1;
      } else {
        deliveredAt.set(id, at);
      }
    }
  }
  const createdAt = new Map<string, number>();
  for (const row of result.deliveryRows) {
    if (row.endpointId === endpointId) {
      createdAt.set(row.eventId, row.createdAt);
    }
  }
  const firstAttemptMs: number[] = [];
  const deliveredMs: number[] = [];
  const dispatchMs: number[] = [];
  const queuedMs: number[] = [];
  let missing = 0;
  let undispatched = 0;
  for (const [id, occurredAt] of events) {
    const first = firstAt.get(id);
    const delivered = deliveredAt.get(id);
    const created = createdAt.get(id);
    if (first !== undefined) {
      firstAttemptMs.push(first - occurredAt);
    }
    if (delivered === undefined) {
      missing += 1;
      undispatched += created === undefined ? 1 : 0;
    } else {
      deliveredMs.push(delivered - occurredAt);
    }
    if (created !== undefined) {
      dispatchMs.push(created - occurredAt);
      if (first !== undefined) {
        queuedMs.push(first - created);
      }
    }
  }
  const spanSeconds = (lastArrival - firstArrival) / 1000;
  return {
    name,
    enabled: result.spec.enabled.includes(name),
    requests: received.ids.length,
    distinct: firstAt.size,
    duplicates,
    missing,
    undispatched,
    foreign,
    delivered: deliveredAt.size,
    deliveriesPerSecond: spanSeconds > 0 ? deliveredAt.size / spanSeconds : Number.NaN,
    firstAttemptMs,
    deliveredMs,
    dispatchMs,
    queuedMs,
    firstRefused: [...firstStatus.values()].filter((status) => status >= 400).length,
    retried: [...requestsPerId.values()].filter((count) => count > 1).length,
    badSignatures: received.badSignatures,
    badBodies: received.badBodies,
    firstArrival,
    lastArrival,
  };
}

interface PhaseFigures {
  result: PhaseResult;
  receivers: ReceiverFigures[];
  delivered: number;
  attempts: number;
  overallPerSecond: number;
  /** Events the dispatcher fanned out / (last delivery created - first event produced). */
  dispatchedPerSecond: number;
  cpuMsPerDelivery: number;
  statuses: Record<ReceiverName, Record<string, { count: number; attempts: number }>>;
}

function phaseFigures(result: PhaseResult, account: Account, idle: IdleBaseline): PhaseFigures {
  const receivers = ALL_RECEIVERS.map((name) =>
    receiverFigures(result, name, account.endpointIds[name]),
  );
  const enabled = receivers.filter((figures) => figures.enabled);
  const delivered = enabled.reduce((sum, figures) => sum + figures.delivered, 0);
  const attempts = receivers.reduce((sum, figures) => sum + figures.requests, 0);
  const lastArrival = Math.max(...enabled.map((figures) => figures.lastArrival));
  const overallSeconds = (lastArrival - result.production.startedAt) / 1000;
  const idleCpuMs = (idle.cpuMsPerSecond * result.wallMs) / 1000;
  const statuses: PhaseFigures['statuses'] = { fast: {}, slow: {}, failing: {} };
  for (const row of result.deliveryRows) {
    const name = ALL_RECEIVERS.find((each) => account.endpointIds[each] === row.endpointId);
    if (name) {
      const counted = statuses[name][row.status] ?? { count: 0, attempts: 0 };
      counted.count += 1;
      counted.attempts += row.attempts;
      statuses[name][row.status] = counted;
    }
  }
  const dispatched = new Set(result.deliveryRows.map((row) => row.eventId)).size;
  const lastCreated = result.deliveryRows.reduce(
    (latest, row) => Math.max(latest, row.createdAt),
    Number.NEGATIVE_INFINITY,
  );
  const dispatchSeconds = (lastCreated - result.production.startedAt) / 1000;
  return {
    result,
    receivers,
    delivered,
    attempts,
    overallPerSecond: overallSeconds > 0 ? delivered / overallSeconds : Number.NaN,
    dispatchedPerSecond: dispatchSeconds > 0 ? dispatched / dispatchSeconds : Number.NaN,
    cpuMsPerDelivery: delivered > 0 ? (result.cpuMs - idleCpuMs) / delivered : Number.NaN,
    statuses,
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MB`;
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

function latencyCells(values: number[]): string[] {
  return [
    fixed(percentile(values, 0.5)),
    fixed(percentile(values, 0.99)),
    fixed(percentile(values, 1)),
  ];
}

function printPhaseLine(figures: PhaseFigures): void {
  const { result } = figures;
  const { production, settling } = result;
  const producedSeconds = (production.endedAt - production.startedAt) / 1000;
  print(
    `  produced ${production.events.size} events in ${producedSeconds.toFixed(1)} s (${fixed(production.events.size / producedSeconds, 0)}/s, schedule ${result.spec.rate}/s, at most ${fixed(production.maxBehindMs)} ms behind), ${production.errors.length} errors; ${settling.settled ? 'settled' : 'NOT settled'} ${((settling.at - production.startedAt) / 1000).toFixed(1)} s after the first event; ${figures.delivered} deliveries, ${figures.attempts} requests`,
  );
  for (const error of production.errors.slice(0, 3)) {
    print(`    error: ${error}`);
  }
  const counts = (byState: Record<string, number>): string =>
    QUEUE_STATES.map((state) => `${byState[state] ?? 0} ${state}`).join(', ');
  print(
    `  queues then: webhook-dispatch ${counts(result.queues.dispatch)}; webhook-delivery ${counts(result.queues.delivery)}`,
  );
}

function printReport(all: PhaseFigures[], idle: IdleBaseline, concurrency: number): void {
  print("\nper receiver (latencies in ms from the event's occurredAt to the request's arrival)");
  print(
    table(
      [
        'phase',
        'receiver',
        'requests',
        'distinct ids',
        'duplicates',
        'missing',
        'deliveries/s',
        'first attempt p50',
        'p99',
        'max',
        'dispatch p50 / p99',
        'queued p50 / p99',
      ],
      all.flatMap((figures) =>
        figures.receivers
          .filter((receiver) => receiver.enabled || receiver.requests > 0)
          .map((receiver) => [
            figures.result.spec.name,
            receiver.enabled ? receiver.name : `${receiver.name} (disabled)`,
            String(receiver.requests),
            String(receiver.distinct),
            String(receiver.duplicates),
            String(receiver.missing),
            fixed(receiver.deliveriesPerSecond, 1),
            ...latencyCells(receiver.firstAttemptMs),
            `${fixed(percentile(receiver.dispatchMs, 0.5))} / ${fixed(percentile(receiver.dispatchMs, 0.99))}`,
            `${fixed(percentile(receiver.queuedMs, 0.5))} / ${fixed(percentile(receiver.queuedMs, 0.99))}`,
          ]),
      ),
    ),
  );
  print(
    '  deliveries/s: ids answered 2xx / (last 2xx arrival - first arrival); dispatch: occurredAt -> the delivery created by the dispatcher (webhookdeliveries.createdAt); queued: delivery created -> first request at the receiver (delivery queue wait + claim + send)',
  );
  for (const figures of all) {
    const failing = figures.receivers.find((receiver) => receiver.name === 'failing');
    if (failing?.enabled) {
      print(
        `  failing receiver, ${figures.result.spec.name}: ${failing.firstRefused} first attempts failed (500), ${failing.retried} retried, ${failing.delivered} delivered; occurredAt -> delivered p50 ${fixed(percentile(failing.deliveredMs, 0.5))} ms, p99 ${fixed(percentile(failing.deliveredMs, 0.99))} ms (WEBHOOK_RETRY_BASE_MS ${RETRY_BASE_MS} ±20 %)`,
      );
    }
  }

  print(
    `\nthe app (one process; idle: RSS ${megabytes(idle.rss)}, CPU ${fixed(idle.cpuMsPerSecond, 1)} ms/s)`,
  );
  print(
    table(
      [
        'phase',
        'events',
        'produced/s',
        'dispatched/s',
        'deliveries',
        'deliveries/s',
        'requests/s',
        'CPU ms/delivery',
        'app cores',
        'receivers cores',
        'machine cores',
        'peak RSS',
        'RSS growth',
      ],
      all.map((figures) => {
        const { result } = figures;
        const { production } = result;
        const producedSeconds = (production.endedAt - production.startedAt) / 1000;
        const seconds = result.wallMs / 1000;
        return [
          result.spec.name,
          String(production.events.size),
          fixed(production.events.size / producedSeconds),
          fixed(figures.dispatchedPerSecond, 1),
          String(figures.delivered),
          fixed(figures.overallPerSecond, 1),
          fixed(figures.attempts / seconds, 1),
          fixed(figures.cpuMsPerDelivery, 2),
          fixed(result.cpuMs / result.wallMs, 2),
          fixed(result.receiversCpuMs / result.wallMs, 2),
          `${fixed(result.machineBusyCores, 2)} of ${availableParallelism()}`,
          megabytes(result.rssPeak),
          `+${megabytes(result.rssPeak - idle.rss)}`,
        ];
      }),
    ),
  );
  print(
    `  dispatched/s: events fanned out to deliveries / (last delivery created - first event produced); deliveries/s: 2xx deliveries / (last 2xx arrival - first event produced); requests/s: every request the receivers got / the phase's wall time; CPU ms/delivery: the app process's CPU over the phase minus the idle rate, / deliveries; cores: CPU time / wall time (1.00 = one core busy); RSS sampled every ${RSS_SAMPLE_MS} ms, growth vs the idle app; WEBHOOK_CONCURRENCY ${concurrency}`,
  );

  print(
    "\nMongoDB and Redis commands per delivery (the app's counter over the phase: the events' writes and enqueues included; BullMQ's own connections not counted)",
  );
  for (const figures of all) {
    print(
      `  ${figures.result.spec.name}: ${commandLine(figures.result.commands, figures.delivered)}`,
    );
  }

  print('\nwebhookdeliveries at the end of each phase (status: count, attempts made)');
  print(
    table(
      ['phase', 'endpoint', 'delivered', 'pending', 'failed', 'attempts', 'attempts/delivery'],
      all.flatMap((figures) =>
        ALL_RECEIVERS.filter((name) => figures.result.spec.enabled.includes(name)).map((name) => {
          const rows = figures.statuses[name];
          const count = (status: string): number => rows[status]?.count ?? 0;
          const total = Object.values(rows).reduce((sum, row) => sum + row.count, 0);
          const attempts = Object.values(rows).reduce((sum, row) => sum + row.attempts, 0);
          return [
            figures.result.spec.name,
            name,
            String(count('delivered')),
            String(count('pending')),
            String(count('failed')),
            String(attempts),
            total === 0 ? '-' : (attempts / total).toFixed(2),
          ];
        }),
      ),
    ),
  );

  printRatios(all);
}

function printRatios(all: PhaseFigures[]): void {
  const [baseline, fastOnly, full] = all;
  if (!baseline || !fastOnly || !full) {
    return;
  }
  const ratio = (value: number, reference: number): string =>
    reference > 0 && Number.isFinite(value) ? `x${(value / reference).toFixed(2)}` : '-';
  const receiver = (figures: PhaseFigures, name: ReceiverName): ReceiverFigures | undefined =>
    figures.receivers.find((each) => each.name === name);
  print(
    `\nratios (same run): the ${full.result.spec.name} phase against the ${baseline.result.spec.name} (${baseline.result.spec.rate}/s) and the fast receiver alone at the full rate`,
  );
  const rows = ALL_RECEIVERS.map((name) => {
    const main = receiver(full, name);
    const base = receiver(baseline, name);
    const alone = name === 'fast' ? receiver(fastOnly, name) : undefined;
    const p = (figures: ReceiverFigures | undefined, share: number): number =>
      figures ? percentile(figures.firstAttemptMs, share) : Number.NaN;
    return [
      name,
      ratio(p(main, 0.5), p(base, 0.5)),
      ratio(p(main, 0.99), p(base, 0.99)),
      alone ? ratio(p(main, 0.5), p(alone, 0.5)) : '-',
      alone ? ratio(p(main, 0.99), p(alone, 0.99)) : '-',
      alone ? ratio(main?.deliveriesPerSecond ?? Number.NaN, alone.deliveriesPerSecond) : '-',
    ];
  });
  print(
    table(
      [
        'receiver',
        'first attempt p50 vs baseline',
        'p99 vs baseline',
        'p50 vs fast alone',
        'p99 vs fast alone',
        'deliveries/s vs fast alone',
      ],
      rows,
    ),
  );
  const perDelivery = (figures: PhaseFigures, value: number): number =>
    figures.delivered > 0 ? value / figures.delivered : Number.NaN;
  print(
    `  CPU ms/delivery vs baseline ${ratio(full.cpuMsPerDelivery, baseline.cpuMsPerDelivery)}; MongoDB commands/delivery vs baseline ${ratio(perDelivery(full, full.result.commands.mongoTotal), perDelivery(baseline, baseline.result.commands.mongoTotal))}; Redis ${ratio(perDelivery(full, full.result.commands.redisTotal), perDelivery(baseline, baseline.result.commands.redisTotal))}`,
  );
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function checksOf(figures: PhaseFigures): Check[] {
  const { result } = figures;
  const name = result.spec.name;
  const events = result.production.events.size;
  const checks: Check[] = [
    {
      name: `${name}: every event recorded on its call log and announced`,
      ok: result.production.errors.length === 0 && events === result.spec.events,
      detail: `${events}/${result.spec.events} events, ${result.production.errors.length} errors`,
    },
    {
      name: `${name}: settled within the time bound`,
      ok: result.settling.settled,
      detail: `${result.settling.counts.total} deliveries in the log, ${result.settling.counts.pending} pending when the wait ended`,
    },
  ];
  for (const receiver of figures.receivers) {
    if (!receiver.enabled) {
      checks.push({
        name: `${name}: ${receiver.name} receiver (endpoint disabled) got nothing`,
        ok: receiver.requests === 0,
        detail: `${receiver.requests} requests`,
      });
      continue;
    }
    const exactlyOnce = receiver.name === 'fast';
    checks.push({
      name: exactlyOnce
        ? `${name}: fast receiver got every one of the ${events} ids exactly once`
        : `${name}: ${receiver.name} receiver got every id (none lost)`,
      ok:
        receiver.missing === 0 &&
        receiver.foreign === 0 &&
        (!exactlyOnce || (receiver.duplicates === 0 && receiver.requests === events)),
      detail: `${receiver.delivered}/${events} delivered, ${receiver.missing} missing (${receiver.undispatched} never dispatched), ${receiver.duplicates} duplicates, ${receiver.requests} requests, ${receiver.foreign} unknown ids`,
    });
  }
  const bad = figures.receivers.reduce(
    (sum, receiver) => sum + receiver.badSignatures + receiver.badBodies,
    0,
  );
  checks.push({
    name: `${name}: 0 bad signatures (verifyWebhook), every body's id = its webhook-id`,
    ok: bad === 0,
    detail: figures.receivers
      .map(
        (receiver) =>
          `${receiver.name} ${receiver.badSignatures} bad signatures, ${receiver.badBodies} bad bodies`,
      )
      .join('; '),
  });
  const counts = { delivered: 0, pending: 0, failed: 0 };
  for (const row of result.deliveryRows) {
    if (row.status === 'delivered' || row.status === 'pending' || row.status === 'failed') {
      counts[row.status] += 1;
    }
  }
  const expected = events * result.spec.enabled.length;
  checks.push({
    name: `${name}: webhookdeliveries all delivered, none pending or failed`,
    ok: counts.delivered === expected && counts.pending === 0 && counts.failed === 0,
    detail: `${counts.delivered}/${expected} delivered, ${counts.pending} pending, ${counts.failed} failed`,
  });
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

function machineNotes(
  databases: BenchDatabases,
  bench: BenchApp,
  options: Options,
  slowAnswerSeconds: number,
): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const { webhooks, mongo } = bench.config;
  return [
    `  node ${process.version} on ${process.platform}/${process.arch}, ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
    `  MongoDB: ${databases.mongoKind}; Redis: ${databases.redisUrl}`,
    '  app: one process, roles api + worker + media, crons off (SCHEDULER_ENABLED=false: the reconciliation would touch the bench calls), production settings, log level warn;',
    `       WEBHOOK_CONCURRENCY ${webhooks.concurrency} (deliveries in flight: ${webhooks.concurrency} / ${slowAnswerSeconds} s = ${fixed(webhooks.concurrency / slowAnswerSeconds)}/s at most to the slow receiver), WEBHOOK_RETRY_BASE_MS ${webhooks.retryBaseMs}, WEBHOOK_MAX_ATTEMPTS ${webhooks.maxAttempts}, WEBHOOK_TIMEOUT_MS ${webhooks.timeoutMs}, MONGODB_MAX_POOL_SIZE ${mongo.maxPoolSize}, WEBHOOK_DISPATCH_CONCURRENCY ${webhooks.dispatchConcurrency}`,
    "       private addresses allowed and http accepted (set through startBenchApp's configure hook: production refuses both)",
    `  receivers (child process): fast 200 at once, slow 200 after ${slowAnswerSeconds} s, failing 500 to each event's first attempt then 200; each signature checked with verifyWebhook`,
    `  events: calls of 4 call.status events (initiated, ringing, in-progress, completed) written through CallLogsRepository + CallWebhookEvents, ${CALL_WINDOW} calls side by side, at most ${MAX_IN_FLIGHT} writes in flight; --events=${options.events} --rate=${options.rate} --concurrency=${options.concurrency}${options.pool > 0 ? ` --pool=${options.pool}` : ''}`,
    '  clock: Date.now() (wall clock, ms) on both sides: occurredAt in the app process, arrival in the receivers process',
  ].join('\n');
}

function cleanupKeys(account: Account | undefined, phases: PhaseResult[]): string[] {
  if (!account) {
    return [];
  }
  return [
    RedisKeys.userToken(account.userId),
    RedisKeys.userProfile(account.userId),
    RedisKeys.webhookRoutes(account.userId),
    ...phases.flatMap((phase) =>
      phase.production.callLogIds.map((id) => RedisKeys.lock(`webhook-dispatch:${id}`)),
    ),
  ];
}

async function main(options: Options): Promise<boolean> {
  const environment = readBenchEnvironment();
  const databases = await startBenchDatabases(environment, (line) => {
    print(`[databases] ${line}`);
  });
  const cleanups: Array<() => Promise<void>> = [() => databases.stop()];
  try {
    const receivers = startReceiversProcess();
    cleanups.unshift(() => receivers.stop());
    const ready = await receivers.next('ready', 30_000);
    const slowAnswerSeconds = ready.slowAnswerMs / 1000;
    const bench = await startBenchApp(
      databases,
      {
        WEBHOOK_CONCURRENCY: String(options.concurrency),
        WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
        WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        SCHEDULER_ENABLED: 'false',
        ...(options.pool > 0 ? { MONGODB_MAX_POOL_SIZE: String(options.pool) } : {}),
      },
      (config) => {
        config.webhooks.allowPrivateAddresses = true;
        config.webhooks.requireHttps = false;
      },
    );
    const phases: PhaseResult[] = [];
    const created: { account?: Account } = {};
    cleanups.unshift(async () => {
      await bench.close();
      await cleanBenchRedis(
        databases.redisUrl,
        bench.config.redis.queuePrefix,
        cleanupKeys(created.account, phases),
      );
    });
    print(
      `bench:webhooks, ${options.events} events at ${options.rate}/s to three receivers (fast, slow ${slowAnswerSeconds} s, failing half the time)\n${machineNotes(databases, bench, options, slowAnswerSeconds)}`,
    );
    const { account, secrets } = await createAccount(bench, ready.urls);
    created.account = account;
    await receivers.ask({ type: 'secrets', secrets }, 'secrets-set');

    await sleep(1_000);
    const idle = await measureIdle(IDLE_BASELINE_MS);
    print(
      `\nidle app (same run, ${IDLE_BASELINE_MS / 1000} s): RSS ${megabytes(idle.rss)}, CPU ${fixed(idle.cpuMsPerSecond, 1)} ms/s`,
    );

    const specs: PhaseSpec[] = [
      {
        name: 'baseline',
        title: `${BASELINE.events} events at ${BASELINE.rate}/s, three receivers`,
        events: BASELINE.events,
        rate: BASELINE.rate,
        enabled: ALL_RECEIVERS,
      },
      {
        name: 'fast-only',
        title: `${FAST_ONLY_EVENTS} events at ${options.rate}/s, the fast receiver alone (the two others disabled)`,
        events: FAST_ONLY_EVENTS,
        rate: options.rate,
        enabled: ['fast'],
      },
      {
        name: 'full',
        title: `${options.events} events at ${options.rate}/s, three receivers`,
        events: options.events,
        rate: options.rate,
        enabled: ALL_RECEIVERS,
      },
    ];
    const all: PhaseFigures[] = [];
    for (const [index, spec] of specs.entries()) {
      print(`\nphase ${index + 1}/${specs.length}, ${spec.name}: ${spec.title} ...`);
      const deadline = runStartedAt + HARD_LIMIT_MS - CLOSING_RESERVE_MS;
      const result = await runPhase(bench, receivers, account, spec, deadline);
      phases.push(result);
      const figures = phaseFigures(result, account, idle);
      all.push(figures);
      printPhaseLine(figures);
      if (!result.settling.settled) {
        print('  the run is out of time: no further phase');
        break;
      }
      await sleep(1_000);
    }
    printReport(all, idle, options.concurrency);

    const checks = all.flatMap(checksOf);
    print('\nchecks');
    for (const check of checks) {
      print(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}`);
    }
    print(
      `\nload average at the end ${loadavg()
        .map((value) => value.toFixed(2))
        .join(
          ' ',
        )} on ${cpus().length} cores; run took ${((performance.now() - runStartedAt) / 1000).toFixed(0)} s`,
    );
    const clean = checks.every((check) => check.ok) && all.length === specs.length;
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
  process.stderr.write(
    `bench:webhooks did not finish within ${HARD_LIMIT_MS / 1000} s; stopping\n`,
  );
  process.exit(2);
}, HARD_LIMIT_MS).unref();

let options: Options = DEFAULTS;
try {
  options = optionsFromArguments(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${describe(error)}\n`);
  process.exit(1);
}

main(options).then(
  (clean) => {
    process.exitCode = clean ? 0 : 1;
    setTimeout(() => process.exit(), 5000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`bench:webhooks failed: ${describe(error)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(), 5000).unref();
  },
);

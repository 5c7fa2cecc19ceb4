import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { type Db, type Document, ObjectId } from 'mongodb';
import type { JsonText } from '../src/common/decorators/json-text.decorator.js';
import { ApiCacheService } from '../src/infra/cache/api-cache.service.js';
import { DatabaseCommandCounter } from '../src/infra/commands/database-command-counter.js';
import { registerBenchUser, startBenchApp } from './support/app.js';
import { startBaseline } from './support/baseline.js';
import { readBenchEnvironment } from './support/bench-environment.js';
import { startBenchDatabases } from './support/databases.js';
import { type LoadOptions, type LoadResult, measure } from './support/load.js';
import { formatCommandCounts, formatTable, judge, machineNotes } from './support/report.js';

/**
 * The catalogue lists on a realistically sized database (100 users x 100 agents x 100 phones):
 * GET /api/v1/agents with the list cache missing (the first read after a write) and hitting,
 * and GET /api/v1/phones?tag=sales, each compared with a bare Fastify hello-world in the same
 * run; then what the server says about the plan of each list query (explain).
 */
const USERS = 100;
const AGENTS_PER_USER = 100;
const PHONES_PER_USER = 100;
const INSERT_BATCH = 1000;
const PAGE_LIMIT = 20;
// A cold list costs two full collection scans on FerretDB (find and count, seconds each on a
// busy 2-core machine): concurrent connections only queue requests behind each other until
// the load generator times them out, so cold targets run with at most this many, and a few
// requests are also timed one by one on the idle server.
const COLD_CONNECTIONS = 1;
const COLD_SEQUENTIAL_REQUESTS = 3;
const DRAIN_TIMEOUT_MS = 120_000;

const TARGETS = {
  health: 'GET /api/v1/health (reference)',
  agentsCold: 'GET /api/v1/agents (cold)',
  agentsCached: 'GET /api/v1/agents (cached)',
  phonesCold: 'GET /api/v1/phones?tag=sales (cold)',
  phonesCached: 'GET /api/v1/phones?tag=sales (cached)',
} as const;

const GOALS = { [TARGETS.agentsCached]: { minRatio: 0.4 } };

const AGENT_KINDS = ['Support', 'Sales', 'Collections', 'Onboarding', 'Survey'] as const;
const TAG_POOL = ['support', 'inbound', 'outbound', 'vip', 'north', 'south', 'trial'] as const;

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

function pick<T>(items: readonly T[], index: number): T {
  return items[index % items.length] as T;
}

function agentDocument(userId: ObjectId, index: number, createdAt: Date): Document {
  const kind = pick(AGENT_KINDS, index);
  const totalCalls = (index * 37) % 500;
  const totalDuration = totalCalls * 140;
  return {
    _id: new ObjectId(),
    userId,
    name: `${kind} Agent ${index + 1}`,
    config: {
      prompt:
        `You are a friendly ${kind.toLowerCase()} agent for Acme Retail. Greet the caller, ` +
        'confirm their name and order number, answer questions about delivery, returns and ' +
        'payments, and never promise refunds above the policy limit. Keep answers short, ' +
        'speak naturally, and hand over to a human when the caller asks for one.',
      voice: {
        provider: pick(['elevenlabs', 'openai', 'cartesia'], index),
        voiceId: `voice_${(index % 12).toString(36)}_21m00Tcm4TlvDq8ikWAM`,
        model: 'eleven_turbo_v2',
        settings: { stability: 0.5, similarityBoost: 0.75 },
      },
      language: pick(['en', 'hi', 'en-IN'], index),
      llm: {
        model: pick(['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo'], index),
        temperature: 0.7,
        maxTokens: 500,
      },
      firstMessage: 'Hello! Thanks for calling Acme Retail. How can I help you today?',
      sessionTimeout: 300,
      flow: { userStartFirst: false, interruption: { allowed: true }, responseDelay: 400 },
    },
    isActive: index % 10 !== 0,
    stats: {
      totalCalls,
      totalDuration,
      avgDuration: totalCalls === 0 ? 0 : 140,
      successRate: 0.9,
      successfulCalls: Math.round(totalCalls * 0.9),
    },
    createdAt,
    updatedAt: createdAt,
  };
}

function phoneDocument(
  userId: ObjectId,
  userIndex: number,
  index: number,
  agentIds: ObjectId[],
  createdAt: Date,
): Document {
  // Every third phone is tagged "sales", plus one or two tags of the pool.
  const tags = [
    ...(index % 3 === 0 ? ['sales'] : []),
    pick(TAG_POOL, index),
    ...(index % 2 === 0 ? [pick(TAG_POOL, index + 3)] : []),
  ];
  const assigned = index % 4 !== 0;
  return {
    _id: new ObjectId(),
    userId,
    number: `+9198${String(userIndex * PHONES_PER_USER + index).padStart(8, '0')}`,
    country: 'IN',
    provider: 'exotel',
    ...(assigned ? { agentId: pick(agentIds, index) } : {}),
    tags,
    status: index % 5 === 0 ? 'inactive' : 'active',
    exotelData: { sid: `EX${userIndex}_${index}`, appId: String(100000 + index) },
    ...(index % 7 === 0
      ? { agentConfigOverride: { firstMessage: 'Namaste! How can I help?' } }
      : {}),
    createdAt,
    updatedAt: createdAt,
  };
}

async function insertInBatches(db: Db, collection: string, documents: Document[]): Promise<void> {
  for (let start = 0; start < documents.length; start += INSERT_BATCH) {
    await db
      .collection(collection)
      .insertMany(documents.slice(start, start + INSERT_BATCH), { ordered: false });
  }
}

/** The bench user (registered through the API) plus 99 more, each with its agents and phones. */
async function seed(db: Db, benchUserId: ObjectId): Promise<void> {
  const benchUser = await db.collection('users').findOne({ _id: benchUserId });
  if (!benchUser) {
    throw new Error('the bench user is missing');
  }
  const runId = randomBytes(3).toString('hex');
  const now = Date.now();
  const users: Document[] = Array.from({ length: USERS - 1 }, (_, index) => ({
    _id: new ObjectId(),
    email: `seed_${runId}_${index}@example.com`,
    password: benchUser.password as string,
    name: `Seed User ${index}`,
    role: 'user',
    credits: 100,
    isActive: true,
    webhookToken: randomBytes(24).toString('base64url'),
    createdAt: new Date(now - index * 60_000),
    updatedAt: new Date(now - index * 60_000),
  }));
  await insertInBatches(db, 'users', users);
  const userIds = [benchUserId, ...users.map((user) => user._id as ObjectId)];

  const agents: Document[] = [];
  const phones: Document[] = [];
  userIds.forEach((userId, userIndex) => {
    const userAgents = Array.from({ length: AGENTS_PER_USER }, (_, index) =>
      agentDocument(userId, index, new Date(now - (userIndex * 1000 + index) * 60_000)),
    );
    agents.push(...userAgents);
    const agentIds = userAgents.map((agent) => agent._id as ObjectId);
    for (let index = 0; index < PHONES_PER_USER; index += 1) {
      phones.push(
        phoneDocument(
          userId,
          userIndex,
          index,
          agentIds,
          new Date(now - (userIndex * 1000 + index) * 60_000),
        ),
      );
    }
  });
  await insertInBatches(db, 'agents', agents);
  await insertInBatches(db, 'phones', phones);
}

interface CacheProbe {
  /** When set, every list read first rotates the owner's generation: a guaranteed miss. */
  cold: boolean;
  reads: number;
  loads: number;
  /** List reads still running (requests the load generator gave up on included). */
  inFlight: number;
}

/**
 * Counts list reads and cache misses (database loads) in the running app, and can make every
 * read cold by calling ApiCacheService.invalidate first: exactly what a read right after a write
 * of the same user does (one extra Redis SET per request).
 */
function probeListCache(cache: ApiCacheService): CacheProbe {
  const probe: CacheProbe = { cold: false, reads: 0, loads: 0, inFlight: 0 };
  const getOrLoad = cache.getOrLoad.bind(cache);
  cache.getOrLoad = async <T>(
    route: string,
    ownerId: string,
    params: Record<string, unknown>,
    ttlSeconds: number,
    load: () => Promise<T>,
  ): Promise<JsonText<T>> => {
    probe.reads += 1;
    probe.inFlight += 1;
    try {
      if (probe.cold) {
        await cache.invalidate(route, ownerId);
      }
      return await getOrLoad(route, ownerId, params, ttlSeconds, () => {
        probe.loads += 1;
        return load();
      });
    } finally {
      probe.inFlight -= 1;
    }
  };
  return probe;
}

function coldConnections(options: LoadOptions): number {
  return Math.min(options.connections, COLD_CONNECTIONS);
}

/** Latencies of requests sent one after the other (each waits for the previous answer). */
async function timeOneByOne(url: string, token: string, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const start = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    if (!response.ok) {
      throw new Error(`${url} answered ${response.status}`);
    }
    latencies.push(Math.round(performance.now() - start));
  }
  return latencies;
}

async function measureWithProbe(
  name: string,
  url: string,
  token: string,
  options: LoadOptions,
  probe: CacheProbe,
  cold: boolean,
  counter: DatabaseCommandCounter,
): Promise<LoadResult> {
  probe.cold = cold;
  try {
    if (cold) {
      const latencies = await timeOneByOne(url, token, COLD_SEQUENTIAL_REQUESTS);
      print(`  ${name}: one request at a time: ${latencies.map((ms) => `${ms} ms`).join(', ')}`);
    }
    probe.reads = 0;
    probe.loads = 0;
    const result = await measure(
      { name, url, headers: { authorization: `Bearer ${token}` } },
      // No warm-up when cold: a warm-up request still running would eat into the measured window.
      cold ? { ...options, connections: coldConnections(options), warmupSeconds: 0 } : options,
      counter,
    );
    // The next target starts on an idle server.
    const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (probe.inFlight > 0 && Date.now() < drainDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const hitRate = probe.reads === 0 ? 0 : 1 - probe.loads / probe.reads;
    print(
      `  ${name}: ${probe.reads} list reads, ${probe.loads} database loads ` +
        `(cache hit rate ${(hitRate * 100).toFixed(1)}%)` +
        (cold
          ? `, ${coldConnections(options)} connection${coldConnections(options) === 1 ? '' : 's'}, no warm-up`
          : ''),
    );
    // The table rounds req/s to whole numbers; a cold list on FerretDB needs the decimals.
    print(
      `    measured: ${result.requests} requests, ${result.requestsPerSecond.toFixed(2)} req/s, ` +
        `p50 ${result.p50} ms, p99 ${result.p99} ms`,
    );
    return result;
  } finally {
    probe.cold = false;
  }
}

/** The plan the server reports: MongoDB's stage tree with index names, else what it says. */
function describePlan(explain: Document): string {
  const planner = (explain.queryPlanner ?? explain.stages?.[0]?.$cursor?.queryPlanner) as
    Document | undefined;
  const winning = planner?.winningPlan as Document | undefined;
  if (winning) {
    const stages: string[] = [];
    let node: Document | undefined = (winning.queryPlan as Document | undefined) ?? winning;
    while (node) {
      const stage = String(node.stage ?? '?');
      stages.push(node.indexName ? `${stage}(${String(node.indexName)})` : stage);
      node =
        (node.inputStage as Document | undefined) ??
        (node.inputStages as Document[] | undefined)?.[0];
    }
    return stages.join(' <- ');
  }
  const { command: _command, serverInfo: _serverInfo, ok: _ok, ...rest } = explain;
  const text = JSON.stringify(rest);
  return text.length > 900 ? `${text.slice(0, 900)}…` : text;
}

async function printExplains(db: Db, userId: ObjectId): Promise<void> {
  // The same filters, sort and page as AgentsRepository.list and PhonesRepository.list.
  const sort = { createdAt: -1, _id: -1 } as const;
  const queries: Array<[string, string, Document]> = [
    ['GET /agents', 'agents', { userId }],
    ['GET /agents?isActive=true', 'agents', { userId, isActive: true }],
    [
      'GET /agents?q=sup (name-prefix fallback)',
      'agents',
      { userId, name: { $regex: '^sup', $options: 'i' } },
    ],
    ['GET /phones?tag=sales', 'phones', { userId, tags: { $eq: 'sales' } }],
  ];
  print('\nquery plans (explain, as the server reports them):');
  for (const [label, collection, filter] of queries) {
    const find = await db
      .collection(collection)
      .find(filter)
      .sort(sort)
      .limit(PAGE_LIMIT)
      .explain('queryPlanner');
    const count = await db
      .collection(collection)
      .aggregate([{ $match: filter }, { $group: { _id: 1, n: { $sum: 1 } } }])
      .explain('queryPlanner');
    print(`  ${label}`);
    print(`    find : ${describePlan(find)}`);
    print(`    count: ${describePlan(count)}`);
  }
}

// Module-level, so the hard stop below can still stop the database server it started.
const cleanups: Array<() => Promise<void>> = [];

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.shift();
    await cleanup?.().catch((error: unknown) => {
      process.stderr.write(`cleanup failed: ${String(error)}\n`);
    });
  }
}

async function main(): Promise<boolean> {
  const environment = readBenchEnvironment();
  const options = {
    connections: environment.connections,
    durationSeconds: environment.durationSeconds,
    warmupSeconds: environment.warmupSeconds,
  };
  print(`bench:catalogue\n${machineNotes(options)}`);
  print(
    `load average at start: ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
  );

  const databases = await startBenchDatabases(environment, (line) => {
    print(`[databases] ${line}`);
  });
  cleanups.push(() => databases.stop());
  try {
    print(`MongoDB: ${databases.mongoKind}; Redis: ${databases.redisUrl}`);

    const baselineServer = await startBaseline();
    let baseline: LoadResult;
    try {
      baseline = await measure(
        { name: 'baseline (raw Fastify)', url: baselineServer.url },
        options,
      );
    } finally {
      await baselineServer.close();
    }

    const bench = await startBenchApp(databases);
    cleanups.unshift(() => bench.close());
    const { accessToken, user } = await registerBenchUser(bench.baseUrl);
    cleanups.unshift(async () => {
      const redis = new Redis(databases.redisUrl);
      try {
        const keys = [`user:token:${user.id}`];
        let cursor = '0';
        do {
          const [next, batch] = await redis.scan(
            cursor,
            'MATCH',
            `cache:api:*${user.id}*`,
            'COUNT',
            1000,
          );
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    });

    const seedStart = Date.now();
    await seed(bench.db, new ObjectId(user.id));
    const [users, agents, phones] = await Promise.all(
      ['users', 'agents', 'phones'].map((name) =>
        bench.db.collection(name).estimatedDocumentCount(),
      ),
    );
    print(
      `seeded ${users} users, ${agents} agents, ${phones} phones in ${((Date.now() - seedStart) / 1000).toFixed(1)} s ` +
        `(the bench user owns ${AGENTS_PER_USER} agents and ${PHONES_PER_USER} phones)`,
    );

    const probe = probeListCache(bench.app.get(ApiCacheService));
    const agentsUrl = `${bench.baseUrl}/api/v1/agents`;
    const phonesUrl = `${bench.baseUrl}/api/v1/phones?tag=sales`;
    print(
      "\ncold = every request first rotates the user's cache generation (ApiCacheService.invalidate,\n" +
        'as a write does), so it misses and reads MongoDB; cached = the same URL repeated.',
    );
    const counter = bench.app.get(DatabaseCommandCounter);
    const list = (name: string, url: string, cold: boolean): Promise<LoadResult> =>
      measureWithProbe(name, url, accessToken, options, probe, cold, counter);
    const results = [
      // The app's floor on this machine (routing, hooks, logging; no auth, no database), so the
      // list figures can be read against the framework as well as against bare Fastify.
      await measure(
        { name: TARGETS.health, url: `${bench.baseUrl}/api/v1/health` },
        options,
        counter,
      ),
      await list(TARGETS.agentsCold, agentsUrl, true),
      await list(TARGETS.agentsCached, agentsUrl, false),
      await list(TARGETS.phonesCold, phonesUrl, true),
      await list(TARGETS.phonesCached, phonesUrl, false),
    ];
    const verdicts = judge([baseline, ...results], baseline, GOALS);
    print('');
    print(formatTable(verdicts));
    print('\ndatabase commands per request (measured window):');
    print(formatCommandCounts(results));
    print(
      `load average at end: ${loadavg()
        .map((load) => load.toFixed(2))
        .join(' ')}`,
    );

    await printExplains(bench.db, new ObjectId(user.id));
    return verdicts.every((verdict) => verdict.result.errors === 0 && verdict.result.non2xx === 0);
  } finally {
    await runCleanups();
  }
}

// A hard stop well past the longest possible run (six targets, seeding, draining), so the
// bench always ends by itself, having stopped what it started.
const environment = readBenchEnvironment();
const limitMs = (6 * (environment.durationSeconds + environment.warmupSeconds) + 600) * 1000;
setTimeout(() => {
  process.stderr.write(`bench:catalogue did not finish within ${limitMs / 1000} s; stopping\n`);
  setTimeout(() => process.exit(2), 20_000).unref();
  void runCleanups().finally(() => process.exit(2));
}, limitMs).unref();

main().then(
  (clean) => {
    // PASS/MISS is a report; only a broken run (errors, non-2xx answers) fails the command.
    process.exitCode = clean ? 0 : 1;
    // Everything is closed by now; a stray handle must not keep the bench alive.
    setTimeout(() => process.exit(), 5000).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `bench:catalogue failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);

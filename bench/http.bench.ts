import { Redis } from 'ioredis';
import { DatabaseCommandCounter } from '../src/infra/commands/database-command-counter.js';
import { registerBenchUser, startBenchApp } from './support/app.js';
import { startBaseline } from './support/baseline.js';
import { readBenchEnvironment } from './support/bench-environment.js';
import { startBenchDatabases } from './support/databases.js';
import { HOOK_LAYERS, type HookLayer, startLayeredServer } from './support/hook-costs.js';
import { type LoadResult, measure } from './support/load.js';
import { formatCommandCounts, formatTable, judge, machineNotes } from './support/report.js';

/**
 * HTTP overhead of the foundation: GET /api/v1/health (routing, guards, hooks, logging) and
 * GET /api/v1/auth/me (plus JWT check, token lookup in Redis, rate limit in Redis and a
 * MongoDB read), each compared with a bare Fastify hello-world on the same machine.
 */
const GOALS = {
  'GET /api/v1/health': { minRatio: 0.7 },
  'GET /api/v1/auth/me': { minRatio: 0.4 },
};

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

/**
 * What each layer the application puts around a route costs on its own: a bare Fastify serving
 * the liveness body, measured again with each layer added in turn. The cost of a layer is the
 * time per request it adds (1/req/s after minus before); the figures are noisy on a shared
 * machine, so only their size matters. Probe routes (@Probe()) skip helmet, CORS, the request
 * metrics and the request log.
 */
async function measureHookCosts(options: Parameters<typeof measure>[1]): Promise<string> {
  const lines = ['layer                 req/s  adds µs/request'];
  let previous: LoadResult | undefined;
  for (let count = 0; count <= HOOK_LAYERS.length; count += 1) {
    const layers: HookLayer[] = HOOK_LAYERS.slice(0, count);
    const server = await startLayeredServer(layers);
    const name = count === 0 ? 'bare Fastify' : `+ ${layers.at(-1)}`;
    let result: LoadResult;
    try {
      result = await measure({ name, url: server.url }, options);
    } finally {
      await server.close();
    }
    const added =
      previous === undefined
        ? '-'
        : (1e6 / result.requestsPerSecond - 1e6 / previous.requestsPerSecond).toFixed(1);
    lines.push(
      `${name.padEnd(20)}${result.requestsPerSecond.toFixed(0).padStart(7)}  ${added.padStart(15)}`,
    );
    previous = result;
  }
  return lines.join('\n');
}

async function main(): Promise<boolean> {
  const environment = readBenchEnvironment();
  const options = {
    connections: environment.connections,
    durationSeconds: environment.durationSeconds,
    warmupSeconds: environment.warmupSeconds,
  };
  print(`bench:http\n${machineNotes(options)}`);

  const databases = await startBenchDatabases(environment, (line) => {
    print(`[databases] ${line}`);
  });
  const cleanups: Array<() => Promise<void>> = [() => databases.stop()];
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
      await redis.del(`user:token:${user.id}`).finally(() => redis.disconnect());
    });

    const counter = bench.app.get(DatabaseCommandCounter);
    const results = [
      await measure(
        { name: 'GET /api/v1/health', url: `${bench.baseUrl}/api/v1/health` },
        options,
        counter,
      ),
      await measure(
        {
          name: 'GET /api/v1/auth/me',
          url: `${bench.baseUrl}/api/v1/auth/me`,
          headers: { authorization: `Bearer ${accessToken}` },
        },
        options,
        counter,
      ),
    ];
    const verdicts = judge([baseline, ...results], baseline, GOALS);
    print('');
    print(formatTable(verdicts));
    print('\ndatabase commands per request (measured window):');
    print(formatCommandCounts(results));
    print('\nwhat each layer costs on a bare Fastify GET /health (each added to the previous):');
    print(await measureHookCosts(options));
    return verdicts.every((verdict) => verdict.result.errors === 0 && verdict.result.non2xx === 0);
  } finally {
    for (const cleanup of cleanups) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`cleanup failed: ${String(error)}\n`);
      });
    }
  }
}

// A hard stop well past the longest possible run, so the bench always ends by itself.
const environment = readBenchEnvironment();
const limitMs = (3 * (environment.durationSeconds + environment.warmupSeconds) + 180) * 1000;
setTimeout(() => {
  process.stderr.write(`bench:http did not finish within ${limitMs / 1000} s; stopping\n`);
  process.exit(2);
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
      `bench:http failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);

import { Redis } from 'ioredis';
import { DatabaseCommandCounter } from '../src/infra/commands/database-command-counter.js';
import { registerBenchUser, startBenchApp } from './support/app.js';
import { startBaseline } from './support/baseline.js';
import { readBenchEnvironment } from './support/bench-environment.js';
import { startBenchDatabases } from './support/databases.js';
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

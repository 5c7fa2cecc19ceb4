import { Redis } from 'ioredis';
import type { BenchEnvironment } from './bench-environment.js';
import { loadLocalServices } from './local-services.js';

const BENCH_DATABASE_PREFIX = 'ai_calling_bench_';

export interface BenchDatabases {
  /** Server URI ending in `/`; append a database name. */
  mongoServerUri: string;
  mongoKind: string;
  redisUrl: string;
  stop(): Promise<void>;
}

/**
 * MongoDB and Redis for a bench: the given ones, else a MongoDB-wire server on a free
 * 127.0.0.1 port (data in a PostgreSQL database or a temporary folder of its own, removed at
 * stop) and the local Redis.
 */
export async function startBenchDatabases(
  environment: BenchEnvironment,
  log: (line: string) => void,
): Promise<BenchDatabases> {
  const services = await loadLocalServices();
  const stops: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) {
      await step();
    }
  };
  try {
    let mongoServerUri: string;
    let mongoKind = 'given (MONGODB_URI)';
    if (environment.mongoUri) {
      const url = new URL(environment.mongoUri);
      url.pathname = '/';
      mongoServerUri = url.toString();
    } else {
      const server = await services.ephemeralMongoServer({
        databasePrefix: BENCH_DATABASE_PREFIX,
        dropStale: true,
        log,
      });
      stops.push(server.dispose);
      mongoKind = server.description;
      mongoServerUri = server.uri;
    }
    let redisUrl = environment.redisUrl;
    if (!redisUrl) {
      const redis = await services.ensureRedis({ log });
      stops.push(redis.stop);
      redisUrl = redis.url;
    }
    return { mongoServerUri, mongoKind, redisUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Deletes every key of a run's queues (the prefix is unique to the run) and the given keys. */
export async function cleanBenchRedis(
  redisUrl: string,
  queuePrefix: string,
  keys: string[],
): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${queuePrefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (batch.length > 0) {
        await redis.unlink(...batch);
      }
    } while (cursor !== '0');
    for (let start = 0; start < keys.length; start += 1000) {
      await redis.unlink(...keys.slice(start, start + 1000));
    }
  } finally {
    redis.disconnect();
  }
}

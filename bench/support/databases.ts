import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchEnvironment } from './bench-environment.js';
import { loadLocalServices } from './local-services.js';

export interface BenchDatabases {
  /** Server URI ending in `/`; append a database name. */
  mongoServerUri: string;
  mongoKind: string;
  redisUrl: string;
  stop(): Promise<void>;
}

/**
 * MongoDB and Redis for a bench: the given ones, else a MongoDB-wire server on a free
 * 127.0.0.1 port (data in a temporary folder, removed at stop) and the local Redis.
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
      const dataDir = mkdtempSync(join(tmpdir(), 'ai-calling-bench-mongo-'));
      const port = await services.freePort();
      const server = await services.startMongoServer({ port, dataDir, log });
      stops.push(async () => {
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      });
      mongoKind = server.kind;
      mongoServerUri = `mongodb://127.0.0.1:${port}/`;
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

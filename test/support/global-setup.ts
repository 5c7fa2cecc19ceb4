import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureRedis, freePort, startMongoServer } from '../../scripts/local-services.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Server URI without a database name; each test file picks its own database. */
    mongoServerUri: string;
    redisUrl: string;
  }
}

const log = (line: string): void => {
  process.stderr.write(`[test databases] ${line}\n`);
};

/**
 * Provides real databases to every test file: MONGODB_URI / REDIS_URL when set; otherwise an
 * ephemeral MongoDB-wire server (mongod on PATH, else the embedded FerretDB tool) and the
 * local Redis (or a redis-server started for the run).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  let mongoServerUri = process.env.MONGODB_URI;
  if (mongoServerUri) {
    const url = new URL(mongoServerUri);
    url.pathname = '/';
    mongoServerUri = url.toString();
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), 'ai-calling-test-mongo-'));
    const port = await freePort();
    const server = await startMongoServer({ port, dataDir, log });
    log(`${server.kind} on 127.0.0.1:${port}`);
    mongoServerUri = `mongodb://127.0.0.1:${port}/`;
    stops.push(async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });
  }
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await ensureRedis({ log });
    redisUrl = redis.url;
    stops.push(redis.stop);
  }
  project.provide('mongoServerUri', mongoServerUri);
  project.provide('redisUrl', redisUrl);
  return async () => {
    for (const stop of stops.reverse()) {
      await stop();
    }
  };
}

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type Db, MongoClient } from 'mongodb';
import { createApp } from '../../src/app.factory.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import { MIGRATIONS } from '../../src/migrations/migration-registry.js';
import { MigrationRunner } from '../../src/migrations/migration-runner.js';
import type { BenchDatabases } from './databases.js';

export interface BenchApp {
  app: NestFastifyApplication;
  config: AppConfig;
  db: Db;
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** Closes the app and drops the bench's database. */
  close(): Promise<void>;
}

/**
 * The real application, configured as in production (secrets, bcrypt cost, log level warn),
 * on a fresh, migrated database of its own, listening on 127.0.0.1. Rate limits are raised
 * so the load is never throttled, and their window is short so the counters vanish quickly
 * from the shared Redis. `configure` changes the validated configuration before the app
 * starts: for what production refuses but a bench on loopback needs (local webhook receivers).
 */
export async function startBenchApp(
  databases: BenchDatabases,
  environment: Record<string, string> = {},
  configure?: (config: AppConfig) => void,
): Promise<BenchApp> {
  const id = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const { config } = loadConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: '0',
    MONGODB_URI: `${databases.mongoServerUri}${id}`,
    REDIS_URL: databases.redisUrl,
    QUEUE_PREFIX: id,
    JWT_SECRET: randomBytes(48).toString('base64url'),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    PUBLIC_BASE_URL: 'http://127.0.0.1',
    URL_SIGNING_KEY: randomBytes(48).toString('base64url'),
    // Each bench prints the MongoDB and Redis commands a request sends beside its timings.
    COUNT_DATABASE_COMMANDS: 'true',
    THROTTLE_LIMIT: '1000000',
    THROTTLE_TTL_SECONDS: '1',
    THROTTLE_AUTH_LIMIT: '1000',
    ...environment,
  });
  configure?.(config);
  const client = await new MongoClient(config.mongo.uri).connect();
  const db = client.db();
  try {
    const logger = new Logger('BenchMigrations');
    logger.log = () => undefined;
    logger.warn = () => undefined;
    await new MigrationRunner({ db, config, logger }, MIGRATIONS).up();
    const app = await createApp({ config });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.getHttpServer().address() as AddressInfo;
    return {
      app,
      config,
      db,
      baseUrl: `http://127.0.0.1:${port}`,
      close: async () => {
        await app.close();
        await db.dropDatabase().catch(() => undefined);
        await client.close();
      },
    };
  } catch (error) {
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    throw error;
  }
}

/** Registers a throwaway user through the API; returns its token and id. */
export async function registerBenchUser(
  baseUrl: string,
): Promise<{ accessToken: string; user: { id: string } }> {
  const registration = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `bench_${randomBytes(4).toString('hex')}@example.com`,
      password: randomBytes(12).toString('base64url'),
      name: 'Bench User',
    }),
  });
  if (registration.status !== 201) {
    throw new Error(`registering the bench user failed: ${registration.status}`);
  }
  return (await registration.json()) as { accessToken: string; user: { id: string } };
}

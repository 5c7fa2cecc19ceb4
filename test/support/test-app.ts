import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { type Db, MongoClient } from 'mongodb';
import { inject } from 'vitest';
import { createApp } from '../../src/app.factory.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import { MIGRATIONS } from '../../src/migrations/migration-registry.js';
import { MigrationRunner } from '../../src/migrations/migration-runner.js';

export interface TestContext {
  app: NestFastifyApplication;
  config: AppConfig;
  db: Db;
  redis: Redis;
  /** Everything the app logged so far. */
  logs(): string;
  close(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** Configuration for a test: its own database and queue prefix, fast bcrypt, generous limits. */
export function testConfig(environment: Record<string, string> = {}): AppConfig {
  const mongoUri = new URL(inject('mongoServerUri'));
  mongoUri.pathname = `/${uniqueName('test')}`;
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    MONGODB_URI: mongoUri.toString(),
    MONGODB_MIN_POOL_SIZE: '0',
    REDIS_URL: inject('redisUrl'),
    QUEUE_PREFIX: uniqueName('q'),
    JWT_SECRET: randomBytes(32).toString('hex'),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    URL_SIGNING_KEY: randomBytes(32).toString('hex'),
    BCRYPT_ROUNDS: '4',
    THROTTLE_LIMIT: '100000',
    THROTTLE_AUTH_LIMIT: '100000',
    THROTTLE_AUTH_IP_LIMIT: '100000',
    // Every test file shares the fake Exotel account's budget in the one Redis.
    EXOTEL_REQUESTS_PER_MINUTE: '100000',
    // Files that test these limits set them; the others open many calls on one user.
    INBOUND_CALLS_PER_MINUTE: '100000',
    MAX_CONCURRENT_CALLS: '1000',
    PUBLIC_BASE_URL: 'https://voice.example.test',
    SCHEDULER_ENABLED: 'false',
    // Tests run the campaign dispatcher themselves.
    CAMPAIGN_DISPATCH_INTERVAL_MS: '0',
    CAMPAIGN_CALLS_PER_MINUTE: '100000',
    STORAGE_LOCAL_DIR: join(tmpdir(), uniqueName('ai_calling_storage')),
    ...environment,
  }).config;
}

export async function migrate(db: Db, config: AppConfig): Promise<void> {
  const logger = new Logger('TestMigrations');
  logger.warn = () => undefined;
  logger.log = () => undefined;
  await new MigrationRunner({ db, config, logger }, MIGRATIONS).up();
}

/** A real app on real databases, with migrations applied to a fresh database. */
export async function createTestContext(
  environment: Record<string, string> = {},
): Promise<TestContext> {
  const config = testConfig(environment);
  const client = new MongoClient(config.mongo.uri);
  await client.connect();
  const db = client.db();
  await migrate(db, config);
  let logs = '';
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs += chunk.toString();
      callback();
    },
  });
  const app = await createApp({ config, logStream });
  const redis = new Redis(config.redis.url, { lazyConnect: true });
  redis.on('error', () => undefined);
  return {
    app,
    config,
    db,
    redis,
    logs: () => logs,
    close: async () => {
      await app.close();
      await db.dropDatabase().catch(() => undefined);
      await client.close();
      redis.disconnect();
    },
  };
}

/**
 * Another instance of the same deployment as `context`: a second app on the same configuration
 * (databases, Redis, queue prefix), as when several replicas run. The caller closes it.
 */
export async function createPeerApp(
  context: TestContext,
  roles: AppConfig['roles'] = context.config.roles,
): Promise<NestFastifyApplication> {
  const discard = new Writable({
    write(_chunk: Buffer, _encoding, callback) {
      callback();
    },
  });
  return createApp({ config: { ...context.config, roles }, logStream: discard });
}

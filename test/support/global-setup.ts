import type { TestProject } from 'vitest/node';
import {
  ensureRedis,
  ephemeralMongoServer,
  startS3Server,
  TEST_DATABASE_PREFIX,
} from '../../scripts/local-services.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Server URI without a database name; each test file picks its own database. */
    mongoServerUri: string;
    /** What serves it: the embedded server's backend, or 'given' for MONGODB_URI. */
    mongoServerKind: 'mongod' | 'ferretdb-postgresql' | 'ferretdb-sqlite' | 'given';
    redisUrl: string;
    /** An S3-protocol server (versitygw) for the run; files create buckets of their own. */
    s3Server: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  }
}

const log = (line: string): void => {
  process.stderr.write(`[test databases] ${line}\n`);
};

/**
 * Provides real databases to every test file: MONGODB_URI / REDIS_URL when set; otherwise a
 * MongoDB-wire server for this run (mongod on PATH, else the embedded FerretDB tool on a
 * PostgreSQL database of the run's own, else on SQLite) and the local Redis (or a
 * redis-server started for the run).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  let mongoServerUri = process.env.MONGODB_URI;
  let mongoServerKind: 'mongod' | 'ferretdb-postgresql' | 'ferretdb-sqlite' | 'given' = 'given';
  if (mongoServerUri) {
    const url = new URL(mongoServerUri);
    url.pathname = '/';
    mongoServerUri = url.toString();
    log(`MongoDB-wire server given by MONGODB_URI (${url.host})`);
  } else {
    const server = await ephemeralMongoServer({
      databasePrefix: TEST_DATABASE_PREFIX,
      dropStale: true,
      relaxedCommits: true,
      log,
    });
    log(`${server.description} on 127.0.0.1:${server.port}`);
    mongoServerUri = server.uri;
    mongoServerKind = server.kind;
    stops.push(server.dispose);
  }
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await ensureRedis({ log });
    redisUrl = redis.url;
    stops.push(redis.stop);
  }
  let s3Server: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  const givenS3 = process.env.TEST_S3_ENDPOINT;
  if (givenS3) {
    s3Server = {
      endpoint: givenS3,
      region: process.env.TEST_S3_REGION ?? 'us-east-1',
      accessKeyId: process.env.TEST_S3_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.TEST_S3_SECRET_ACCESS_KEY ?? '',
    };
    log(`S3 server given by TEST_S3_ENDPOINT (${givenS3})`);
  } else {
    const started = await startS3Server({ log });
    log(`S3 server (versitygw) on ${started.endpoint}`);
    s3Server = {
      endpoint: started.endpoint,
      region: started.region,
      accessKeyId: started.accessKeyId,
      secretAccessKey: started.secretAccessKey,
    };
    stops.push(started.stop);
  }
  project.provide('s3Server', s3Server);
  project.provide('mongoServerUri', mongoServerUri);
  project.provide('mongoServerKind', mongoServerKind);
  project.provide('redisUrl', redisUrl);
  return async () => {
    for (const stop of stops.reverse()) {
      await stop();
    }
  };
}

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Db, MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot, freePort } from '../scripts/local-services.mjs';
import { createApp } from '../src/app.factory.js';
import { toCallStatusJob } from '../src/calls/call-events.processor.js';
import { MARKER_RETENTION_MS } from '../src/calls/finalization-deadline.js';
import { CallReconciliationService } from '../src/maintenance/call-reconciliation.service.js';
import { MarkerSweepService } from '../src/maintenance/marker-sweep.service.js';
import type { AppConfig } from '../src/config/app-config.js';
import { DEFAULT_JOB_OPTIONS, Jobs, Queues, jobId } from '../src/infra/queue/queues.js';
import { type BuiltEntry, buildEntry } from './support/build-entry.js';
import { validAgentConfig } from './support/catalogue-factories.js';
import { migrate, testConfig, uniqueName } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

const CALLS = 60;
const DURATION_SEC = 125; // 3 started minutes: 0.09 credits each at the default rate.

/**
 * The service killed with SIGKILL while it finalizes calls: a second instance started
 * afterwards (BullMQ hands it the dead worker's jobs, the reconciliation the interrupted
 * finalizations) finishes every call exactly once: credits, agent stats and daily roll-up;
 * the marker sweep, past the markers' retention, leaves none.
 */
describe('kill -9 during finalization', () => {
  let built: BuiltEntry | undefined;
  let config: AppConfig;
  let environment: Record<string, string>;
  let client: MongoClient;
  let db: Db;
  let child: ChildProcess | undefined;
  let restarted: NestFastifyApplication | undefined;
  const userId = new ObjectId();
  const agentId = new ObjectId();
  const callIds: ObjectId[] = [];

  async function seed(): Promise<void> {
    const now = new Date();
    await db.collection('users').insertOne({
      _id: userId,
      email: `${uniqueName('crash')}@example.com`,
      password: 'not-a-login',
      name: 'Crash test',
      role: 'user',
      credits: 100,
      isActive: true,
      webhookToken: uniqueName('hook').padEnd(24, 'x'),
      createdAt: now,
      updatedAt: now,
    });
    await db.collection('agents').insertOne({
      _id: agentId,
      userId,
      name: 'Crash agent',
      config: validAgentConfig(),
      isActive: true,
      stats: { totalCalls: 0, totalDuration: 0, avgDuration: 0, successRate: 0 },
      createdAt: now,
      updatedAt: now,
    });
    const startedAt = new Date(now.getTime() - DURATION_SEC * 1000);
    for (let index = 0; index < CALLS; index += 1) {
      const callLogId = new ObjectId();
      const sessionId = `sess_crash_${callLogId.toString()}`;
      callIds.push(callLogId);
      await db.collection('calllogs').insertOne({
        _id: callLogId,
        sessionId,
        userId,
        agentId,
        fromPhone: '+919123456789',
        toPhone: '+918030752400',
        direction: 'inbound',
        status: 'in-progress',
        exotelCallSid: `CA${callLogId.toString()}`,
        startedAt,
        createdAt: startedAt,
        updatedAt: startedAt,
      });
      await db.collection('sessions').insertOne({
        sessionId,
        userId,
        agentId,
        callLogId,
        userPhone: '+919123456789',
        agentPhone: '+918030752400',
        agentConfig: validAgentConfig(),
        conversationHistory: [],
        status: 'active',
        startedAt,
        lastActivityAt: startedAt,
        createdAt: startedAt,
        updatedAt: startedAt,
      });
    }
  }

  const finalizedCount = () =>
    db.collection('calllogs').countDocuments({ userId, finalizedAt: { $exists: true } });

  beforeAll(async () => {
    const port = await freePort();
    config = testConfig({ CALL_EVENT_CONCURRENCY: '2' });
    environment = {
      NODE_ENV: 'test',
      CI: 'true',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      MONGODB_URI: config.mongo.uri,
      REDIS_URL: config.redis.url,
      QUEUE_PREFIX: config.redis.queuePrefix,
      JWT_SECRET: randomBytes(32).toString('hex'),
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      URL_SIGNING_KEY: randomBytes(32).toString('hex'),
      SCHEDULER_ENABLED: 'false',
      CALL_EVENT_CONCURRENCY: '2',
    };
    client = new MongoClient(config.mongo.uri);
    await client.connect();
    db = client.db();
    await migrate(db, config);
    await seed();
    built = await buildEntry('main');

    child = spawn(process.execPath, [built.script], {
      cwd: projectRoot,
      env: environment,
      stdio: 'ignore',
    });
    await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/health/ready`).catch(
          () => undefined,
        );
        return response?.status === 200 ? true : undefined;
      },
      60_000,
      'the first instance to be ready',
    );
  }, 180_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await restarted?.close();
    const redis = new Redis(config.redis.url);
    const keys = await redis.keys(`${config.redis.queuePrefix}:*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    redis.disconnect();
    await db.dropDatabase().catch(() => undefined);
    await client.close();
    if (built) {
      await rm(built.folder, { recursive: true, force: true });
    }
  });

  it('finishes every call exactly once after the first instance is killed mid-way', async () => {
    const queue = new Queue(Queues.callEvents, {
      connection: { url: config.redis.url },
      prefix: config.redis.queuePrefix,
    });
    const occurredAt = new Date();
    await queue.addBulk(
      callIds.map((callLogId) => ({
        name: Jobs.callStatus,
        data: toCallStatusJob({
          callLogId: callLogId.toString(),
          status: 'completed',
          occurredAt,
          durationSec: DURATION_SEC,
        }),
        opts: { ...DEFAULT_JOB_OPTIONS, jobId: jobId(callLogId.toString(), 'completed') },
      })),
    );
    await queue.close();

    // Killed once it is well into the work, never after it.
    await waitFor(
      async () => ((await finalizedCount()) >= 5 ? true : undefined),
      60_000,
      'the first instance to finalize some calls',
    );
    child?.kill('SIGKILL');
    await new Promise((resolve) => child?.once('exit', resolve));
    const finishedBeforeKill = await finalizedCount();
    expect(finishedBeforeKill).toBeLessThan(CALLS);

    // The second instance: its workers take over the jobs the dead one held once their locks
    // expire (BullMQ's stalled-job check), and its reconciliation (every 5 minutes on the
    // scheduler; asked for here every 2 s, as if that much time had passed) completes the
    // finalizations that were cut short, once their finalize locks expire.
    const app = await createApp({ config });
    restarted = app;
    const reconciliation = app.get(CallReconciliationService);
    let lastSweep = 0;
    await waitFor(
      async () => {
        if (Date.now() - lastSweep >= 2_000) {
          lastSweep = Date.now();
          await reconciliation.run(new Date(Date.now() + 120_000));
        }
        return (await finalizedCount()) === CALLS ? true : undefined;
      },
      150_000,
      'the restarted instance to finish every call',
    );

    // Every call's markers stay until the sweep removes them, past their retention.
    const markedUser = await db.collection('users').findOne({ _id: userId });
    expect(markedUser?.pendingChargeCallIds).toHaveLength(CALLS);
    expect(
      await app.get(MarkerSweepService).run(new Date(Date.now() + MARKER_RETENTION_MS + 60_000)),
    ).toBe(CALLS);

    const user = await db.collection('users').findOne({ _id: userId });
    expect(user?.credits).toBeCloseTo(100 - CALLS * 0.09, 6);
    expect(user?.pendingChargeCallIds ?? []).toEqual([]);
    expect(user?.pendingCharges ?? []).toEqual([]);
    expect(user?.chargeSequence).toBe(CALLS);
    const calls = await db.collection('calllogs').find({ userId }).toArray();
    expect(calls.every((call) => call.status === 'completed')).toBe(true);
    for (const call of calls) {
      expect(call.billing).toMatchObject({ state: 'done' });
      expect(call.billing.charged).toBeCloseTo(0.09, 6);
    }
    const agent = await db.collection('agents').findOne({ _id: agentId });
    expect(agent?.stats.totalCalls).toBe(CALLS);
    expect(agent?.pendingStatCallIds ?? []).toEqual([]);
    const rollUp = await db.collection('dailycallstats').find({ userId }).toArray();
    expect(rollUp.reduce((sum, day) => sum + (day.count as number), 0)).toBe(CALLS);
    expect(rollUp.reduce((sum, day) => sum + (day.durationSec as number), 0)).toBe(
      CALLS * DURATION_SEC,
    );
    expect(rollUp.flatMap((day) => (day.pendingCallIds as string[] | undefined) ?? [])).toEqual([]);
  }, 240_000);
});

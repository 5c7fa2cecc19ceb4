import { Logger } from '@nestjs/common';
import bcrypt from 'bcrypt';
import { type Db, MongoClient, ObjectId } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { rebuildDailyCallStats } from '../migrations/005-daily-call-stats.js';
import type { AppConfig } from '../src/config/app-config.js';
import { MIGRATIONS } from '../src/migrations/migration-registry.js';
import { MigrationLockedError, MigrationRunner } from '../src/migrations/migration-runner.js';
import { ensureAdmin } from '../src/users/ensure-admin.js';
import { registerUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, testConfig, uniqueName } from './support/test-app.js';

const ALL_IDS = [
  '001-initial-schema',
  '002-add-agent-stats',
  '003-first-admin',
  '004-conversation-turns',
  '005-daily-call-stats',
  '006-finalization-sweep-indexes',
  '007-webhooks',
  '008-recordings',
  '009-campaigns',
];
const ZEROED_STATS = { totalCalls: 0, totalDuration: 0, avgDuration: 0, successRate: 0 };

interface FreshDatabase {
  db: Db;
  config: AppConfig;
  runner: MigrationRunner;
}

describe('migrations', () => {
  const cleanups: Array<() => Promise<void>> = [];

  /** An empty database of its own and a runner over every migration. */
  async function freshDatabase(environment: Record<string, string> = {}): Promise<FreshDatabase> {
    const config = testConfig(environment);
    const client = new MongoClient(config.mongo.uri);
    await client.connect();
    const db = client.db();
    cleanups.push(async () => {
      await db.dropDatabase().catch(() => undefined);
      await client.close();
    });
    const logger = new Logger('MigrationsTest');
    logger.log = () => undefined;
    logger.warn = () => undefined;
    return { db, config, runner: new MigrationRunner({ db, config, logger }, MIGRATIONS) };
  }

  const appliedIds = async (runner: MigrationRunner): Promise<string[]> =>
    (await runner.status()).filter((entry) => entry.appliedAt !== null).map((entry) => entry.id);

  const indexOf = async (db: Db, collection: string, name: string) =>
    (await db.collection(collection).indexes()).find((index) => index.name === name);

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) {
      await cleanup();
    }
  });

  it('lists every migration as pending on a fresh database', async () => {
    const { runner } = await freshDatabase();
    const status = await runner.status();
    expect(status.map((entry) => entry.id)).toEqual(ALL_IDS);
    expect(status.every((entry) => entry.appliedAt === null)).toBe(true);
    expect(status.every((entry) => entry.description.length > 0)).toBe(true);
  });

  it('applies 001 to 009 in order, creating the unique indexes', async () => {
    const { db, runner } = await freshDatabase();
    expect(await runner.up()).toEqual(ALL_IDS);
    const status = await runner.status();
    expect(status.every((entry) => entry.appliedAt instanceof Date)).toBe(true);
    expect(await indexOf(db, 'users', 'email_1')).toMatchObject({
      key: { email: 1 },
      unique: true,
    });
    expect(await indexOf(db, 'phones', 'number_1')).toMatchObject({
      key: { number: 1 },
      unique: true,
    });
    expect(await indexOf(db, 'calllogs', 'sessionId_1')).toMatchObject({
      key: { sessionId: 1 },
      unique: true,
    });
    // The index is enforced, not only listed.
    await db.collection('users').insertOne({ email: 'same@example.com' });
    await expect(db.collection('users').insertOne({ email: 'same@example.com' })).rejects.toThrow(
      /duplicate key/i,
    );
    expect(await indexOf(db, 'calllogs', 'markersPending_1_finalizedAt_1')).toMatchObject({
      key: { markersPending: 1, finalizedAt: 1 },
    });
    expect(await indexOf(db, 'calllogs', 'finalizedAt_1_updatedAt_1')).toBeDefined();
    expect(await indexOf(db, 'webhookdeliveries', 'eventId_1_endpointId_1')).toMatchObject({
      key: { eventId: 1, endpointId: 1 },
      unique: true,
    });
    expect(await indexOf(db, 'calllogs', 'webhookPending_1_updatedAt_1')).toBeDefined();
    expect(await indexOf(db, 'calllogs', 'recordingPending_1_finalizedAt_1')).toBeDefined();
    expect(await indexOf(db, 'calllogs', 'recording.state_1_recording.storedAt_1')).toMatchObject({
      key: { 'recording.state': 1, 'recording.storedAt': 1 },
    });
    expect(await indexOf(db, 'campaigncontacts', 'campaignId_1_phone_1')).toMatchObject({
      key: { campaignId: 1, phone: 1 },
      unique: true,
    });
    expect(await indexOf(db, 'dncentries', 'userId_1_phone_1')).toMatchObject({ unique: true });
    expect(await db.collection('migrations_lock').countDocuments()).toBe(0);
  });

  it('applies nothing when run again', async () => {
    const { runner } = await freshDatabase();
    await runner.up();
    const before = await runner.status();
    expect(await runner.up()).toEqual([]);
    expect(await runner.status()).toEqual(before);
  });

  it('reverts one migration at a time, newest first, then re-applies them', async () => {
    const { db, runner } = await freshDatabase();
    await runner.up();

    expect(await runner.down()).toBe('009-campaigns');
    expect(await runner.down()).toBe('008-recordings');
    expect(await indexOf(db, 'calllogs', 'recordingPending_1_finalizedAt_1')).toBeUndefined();
    expect(await runner.down()).toBe('007-webhooks');
    expect(await indexOf(db, 'webhookdeliveries', 'eventId_1_endpointId_1')).toBeUndefined();
    expect(await indexOf(db, 'calllogs', 'analysisPending_1_finalizedAt_1')).toBeUndefined();
    expect(await runner.down()).toBe('006-finalization-sweep-indexes');
    expect(await indexOf(db, 'calllogs', 'markersPending_1_finalizedAt_1')).toBeUndefined();
    expect(await indexOf(db, 'calllogs', 'finalizedAt_1_updatedAt_1')).toBeUndefined();
    expect(await runner.down()).toBe('005-daily-call-stats');
    expect(
      (await db.listCollections({ name: 'dailycallstats' }, { nameOnly: true }).toArray()).length,
    ).toBe(0);
    expect(await runner.down()).toBe('004-conversation-turns');
    expect(await indexOf(db, 'conversationturns', 'sessionId_1__id_1')).toBeUndefined();
    expect(await runner.down()).toBe('003-first-admin');
    expect(await appliedIds(runner)).toEqual(['001-initial-schema', '002-add-agent-stats']);
    expect(await runner.down()).toBe('002-add-agent-stats');
    expect(await appliedIds(runner)).toEqual(['001-initial-schema']);
    expect(await indexOf(db, 'users', 'email_1')).toBeDefined();
    expect(await runner.down()).toBe('001-initial-schema');
    expect(await appliedIds(runner)).toEqual([]);
    expect(await indexOf(db, 'users', 'email_1')).toBeUndefined();
    expect(await indexOf(db, 'phones', 'number_1')).toBeUndefined();
    expect(await runner.down()).toBeUndefined();

    expect(await runner.up()).toEqual(ALL_IDS);
    expect(await indexOf(db, 'users', 'email_1')).toMatchObject({ unique: true });
    expect(await db.collection('migrations_lock').countDocuments()).toBe(0);
  });

  it('002 gives zeroed stats to agents lacking them, keeps existing ones, and down removes them', async () => {
    const { db, runner } = await freshDatabase();
    await runner.up();
    for (let newer = 0; newer < 8; newer += 1) {
      await runner.down();
    }
    const agents = db.collection('agents');
    const userId = new ObjectId();
    const agentConfig = {
      prompt: 'You are a helpful voice agent.',
      voice: { provider: 'openai', voiceId: 'alloy' },
      language: 'en',
      llm: { model: 'gpt-4' },
    };
    const bare = await agents.insertOne({
      userId,
      name: 'Bare',
      config: agentConfig,
      isActive: true,
    });
    const existingStats = { totalCalls: 5, totalDuration: 300, avgDuration: 60, successRate: 0.8 };
    const counted = await agents.insertOne({
      userId,
      name: 'Counted',
      config: agentConfig,
      isActive: true,
      stats: existingStats,
    });

    expect(await runner.up()).toEqual([
      '002-add-agent-stats',
      '003-first-admin',
      '004-conversation-turns',
      '005-daily-call-stats',
      '006-finalization-sweep-indexes',
      '007-webhooks',
      '008-recordings',
      '009-campaigns',
    ]);
    expect((await agents.findOne({ _id: bare.insertedId }))?.stats).toEqual(ZEROED_STATS);
    expect((await agents.findOne({ _id: counted.insertedId }))?.stats).toEqual(existingStats);

    for (let newer = 0; newer < 7; newer += 1) {
      await runner.down();
    }
    expect(await runner.down()).toBe('002-add-agent-stats');
    expect(await agents.findOne({ _id: bare.insertedId })).not.toHaveProperty('stats');
    expect(await agents.findOne({ _id: counted.insertedId })).not.toHaveProperty('stats');
  });

  it('005 builds the daily roll-up from settled calls only, the same when run again', async () => {
    const { db, runner } = await freshDatabase();
    await runner.up();
    // Back to before 005.
    for (let newer = 0; newer < 5; newer += 1) {
      await runner.down();
    }
    const userId = new ObjectId();
    const agentId = new ObjectId();
    const callOf = (createdAt: string, status: string, extra: Record<string, unknown>) => ({
      sessionId: uniqueName('sess'),
      userId,
      agentId,
      direction: 'inbound',
      status,
      createdAt: new Date(createdAt),
      ...extra,
    });
    const priced = (total: number) => ({ costBreakdown: { total } });
    await db.collection('calllogs').insertMany([
      callOf('2026-03-10T08:00:00Z', 'completed', {
        durationSec: 60,
        ...priced(0.03),
        finalizedAt: new Date(),
      }),
      callOf('2026-03-10T23:59:59Z', 'completed', {
        durationSec: 130,
        ...priced(0.09),
        finalizedAt: new Date(),
      }),
      // Cut short after its agent-stats step: counted, as finalization would not add it again.
      callOf('2026-03-10T09:00:00Z', 'busy', { durationSec: 0, agentStatsState: 'applied' }),
      // Not settled yet: finalization adds it when it runs.
      callOf('2026-03-11T09:00:00Z', 'completed', { durationSec: 30, ...priced(0.03) }),
      callOf('2026-03-11T10:00:00Z', 'in-progress', {}),
    ]);
    const rollUp = () =>
      db
        .collection('dailycallstats')
        .find({ userId }, { projection: { _id: 0, agentId: 0, userId: 0 } })
        .sort({ day: 1, status: 1 })
        .toArray();

    expect(await runner.up()).toEqual([
      '005-daily-call-stats',
      '006-finalization-sweep-indexes',
      '007-webhooks',
      '008-recordings',
      '009-campaigns',
    ]);
    const built = await rollUp();
    expect(built).toEqual([
      { day: '2026-03-10', status: 'busy', count: 1, durationSec: 0, cost: 0, successes: 0 },
      {
        day: '2026-03-10',
        status: 'completed',
        count: 2,
        durationSec: 190,
        cost: expect.closeTo(0.12, 6) as number,
        successes: 2,
      },
    ]);
    expect(await indexOf(db, 'dailycallstats', 'userId_1_day_1_agentId_1_status_1')).toMatchObject({
      unique: true,
    });
    expect(await indexOf(db, 'dailycallstats', 'userId_1_day_1')).toBeDefined();

    await rebuildDailyCallStats(db);
    expect(await rollUp()).toEqual(built);
  });

  it('003 creates an admin with a bcrypt password from ADMIN_EMAIL and ADMIN_PASSWORD', async () => {
    const email = `${uniqueName('root')}@example.com`;
    const { db, runner } = await freshDatabase({
      ADMIN_EMAIL: email.toUpperCase(),
      ADMIN_PASSWORD: 'admin password 1',
    });
    await runner.up();
    const admins = await db.collection('users').find().toArray();
    expect(admins).toHaveLength(1);
    const admin = admins[0];
    expect(admin).toMatchObject({ email, role: 'admin', isActive: true, credits: 0 });
    expect(admin?.password).toMatch(/^\$2[aby]\$/);
    expect(await bcrypt.compare('admin password 1', admin?.password as string)).toBe(true);
    expect(admin?.webhookToken).toEqual(expect.any(String));
    // 003's down removes the admin it created while it was never used.
    expect(await runner.down()).toBe('009-campaigns');
    expect(await runner.down()).toBe('008-recordings');
    expect(await indexOf(db, 'calllogs', 'recordingPending_1_finalizedAt_1')).toBeUndefined();
    expect(await runner.down()).toBe('007-webhooks');
    expect(await runner.down()).toBe('006-finalization-sweep-indexes');
    expect(await runner.down()).toBe('005-daily-call-stats');
    expect(await runner.down()).toBe('004-conversation-turns');
    expect(await runner.down()).toBe('003-first-admin');
    expect(await db.collection('users').countDocuments()).toBe(0);
  });

  it('003 creates nothing without ADMIN_EMAIL and ADMIN_PASSWORD', async () => {
    const { db, runner } = await freshDatabase({ ADMIN_EMAIL: 'half@example.com' });
    expect(await runner.up()).toEqual(ALL_IDS);
    expect(await db.collection('users').countDocuments()).toBe(0);
  });

  it('lets the admin created by 003 log in through the app with the admin role', async () => {
    const email = `${uniqueName('boss')}@example.com`;
    const context = await createTestContext({
      ADMIN_EMAIL: email,
      ADMIN_PASSWORD: 'boss password 1',
    });
    try {
      const response = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email, password: 'boss password 1' },
      });
      expect(response.status).toBe(200);
      expect(response.body.user).toMatchObject({ email, role: 'admin' });
      const users = await call(context.app, 'GET', '/api/v1/admin/users', {
        token: response.body.accessToken,
      });
      expect(users.status).toBe(200);
      expect(users.body.meta.total).toBe(1);
    } finally {
      await context.close();
    }
  });

  it('003 never promotes an account someone registered with ADMIN_EMAIL: it warns and goes on', async () => {
    const context = await createTestContext();
    try {
      const squatter = await registerUser(context);
      const warnings: string[] = [];
      const logger = new Logger('MigrationsTest');
      logger.log = () => undefined;
      logger.warn = (message: unknown) => {
        warnings.push(String(message));
      };
      const runner = new MigrationRunner(
        {
          db: context.db,
          config: {
            ...context.config,
            admin: { email: squatter.email, password: 'operator password 1' },
          },
          logger,
        },
        MIGRATIONS,
      );
      // As when ADMIN_EMAIL is set after the squatter registered and 003 runs (again).
      expect(await runner.down()).toBe('009-campaigns');
      expect(await runner.down()).toBe('008-recordings');
      expect(await runner.down()).toBe('007-webhooks');
      expect(await runner.down()).toBe('006-finalization-sweep-indexes');
      expect(await runner.down()).toBe('005-daily-call-stats');
      expect(await runner.down()).toBe('004-conversation-turns');
      expect(await runner.down()).toBe('003-first-admin');
      expect(await runner.up()).toEqual([
        '003-first-admin',
        '004-conversation-turns',
        '005-daily-call-stats',
        '006-finalization-sweep-indexes',
        '007-webhooks',
        '008-recordings',
        '009-campaigns',
      ]);

      expect(await context.db.collection('users').findOne({ email: squatter.email })).toMatchObject(
        { role: 'user', isActive: true },
      );
      expect(await context.db.collection('users').countDocuments({ role: 'admin' })).toBe(0);
      expect(warnings.join('\n')).toContain(
        `first admin not created: ${squatter.email} already belongs to an account that is not an admin`,
      );
      const login = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: squatter.email, password: squatter.password },
      });
      expect(login.body.user).toMatchObject({ email: squatter.email, role: 'user' });
    } finally {
      await context.close();
    }
  });

  it('ensureAdmin re-activates a deactivated admin without changing its password', async () => {
    const { db, runner } = await freshDatabase();
    await runner.up();
    const email = `${uniqueName('root')}@example.com`;
    expect(await ensureAdmin(db, email, 'first password 1', 4)).toBe('created');
    await db.collection('users').updateOne({ email }, { $set: { isActive: false } });

    expect(await ensureAdmin(db, email, 'second password 2', 4)).toBe('reactivated');
    expect(await ensureAdmin(db, email, 'second password 2', 4)).toBe('unchanged');
    const admin = await db.collection('users').findOne({ email });
    expect(admin).toMatchObject({ role: 'admin', isActive: true });
    expect(await bcrypt.compare('first password 1', admin?.password as string)).toBe(true);
  });

  it('ensureAdmin leaves an inactive ordinary account with the email alone', async () => {
    const { db, runner } = await freshDatabase();
    await runner.up();
    const email = `${uniqueName('someone')}@example.com`;
    await db.collection('users').insertOne({
      email,
      password: await bcrypt.hash('their password 1', 4),
      name: 'Someone',
      role: 'user',
      isActive: false,
    });

    expect(await ensureAdmin(db, email, 'operator password 1', 4)).toBe('email-taken');
    expect(await db.collection('users').findOne({ email })).toMatchObject({
      role: 'user',
      isActive: false,
    });
  });

  it('refuses to run while another instance holds an unexpired lock, changing nothing', async () => {
    const { db, runner } = await freshDatabase();
    const expiresAt = new Date(Date.now() + 60_000);
    await db
      .collection<{ _id: string; owner: string; expiresAt: Date }>('migrations_lock')
      .insertOne({ _id: 'migrate', owner: 'other', expiresAt });
    const attempt = runner.up();
    await expect(attempt).rejects.toBeInstanceOf(MigrationLockedError);
    await expect(attempt).rejects.toThrow(/other/);
    await expect(runner.down()).rejects.toBeInstanceOf(MigrationLockedError);
    expect(await appliedIds(runner)).toEqual([]);
    expect(await indexOf(db, 'users', 'email_1').catch(() => undefined)).toBeUndefined();
    const lock = await db
      .collection<{ _id: string; owner: string; expiresAt: Date }>('migrations_lock')
      .findOne({ _id: 'migrate' });
    expect(lock).toEqual({ _id: 'migrate', owner: 'other', expiresAt });
  });

  it('takes over an expired lock and migrates, then releases it', async () => {
    const { db, runner } = await freshDatabase();
    await db
      .collection<{ _id: string; owner: string; expiresAt: Date }>('migrations_lock')
      .insertOne({ _id: 'migrate', owner: 'crashed', expiresAt: new Date(Date.now() - 1000) });
    expect(await runner.up()).toEqual(ALL_IDS);
    expect(await db.collection('migrations_lock').countDocuments()).toBe(0);
  });

  it('lets exactly one of two concurrent runners apply the migrations', async () => {
    const { db, config } = await freshDatabase();
    const logger = new Logger('MigrationsTest');
    logger.log = () => undefined;
    logger.warn = () => undefined;
    const runners = [0, 1].map(() => new MigrationRunner({ db, config, logger }, MIGRATIONS));
    const outcomes = await Promise.allSettled(runners.map((runner) => runner.up()));
    const applied = outcomes.flatMap((outcome) =>
      outcome.status === 'fulfilled' ? outcome.value : [],
    );
    // Either the loser was refused by the lock, or it started after the winner finished.
    expect(applied).toEqual(ALL_IDS);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(MigrationLockedError);
      }
    }
  });
});

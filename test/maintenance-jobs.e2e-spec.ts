import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SchedulerRegistry } from '@nestjs/schedule';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARKER_RETENTION_MS } from '../src/calls/finalization-deadline.js';
import { Queues } from '../src/infra/queue/queues.js';
import { CallReconciliationService } from '../src/maintenance/call-reconciliation.service.js';
import { MaintenanceScheduler } from '../src/maintenance/maintenance.scheduler.js';
import { MarkerSweepService } from '../src/maintenance/marker-sweep.service.js';
import { SessionPurgeService } from '../src/maintenance/session-purge.service.js';
import { SessionTimeoutService } from '../src/maintenance/session-timeout.service.js';
import { createAgent, validAgentConfig } from './support/catalogue-factories.js';
import {
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  startFakeExotel,
} from './support/fake-exotel-server.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import {
  createPeerApp,
  createTestContext,
  type TestContext,
  uniqueName,
} from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

interface SeededCall {
  callLogId: ObjectId;
  sessionId: string;
}

describe('maintenance jobs', () => {
  let fake: FakeExotel;
  let context: TestContext;
  let user: TestUser;
  let agentId: ObjectId;

  const calls = () => context.db.collection('calllogs');
  const sessions = () => context.db.collection('sessions');
  const callLog = (id: ObjectId) => calls().findOne({ _id: id });
  const session = (sessionId: string) => sessions().findOne({ sessionId });
  const credits = async (): Promise<number> =>
    (await context.db.collection('users').findOne({ _id: new ObjectId(user.id) }))
      ?.credits as number;

  /**
   * A call log and its session written straight to MongoDB, in whatever state a test needs
   * (the jobs find their work by these fields, however the call got there).
   */
  async function seedCall(options: {
    status: string;
    direction?: 'inbound' | 'outbound';
    exotelCallSid?: string;
    updatedAt?: Date;
    lastActivityAt?: Date;
    sessionTimeout?: number;
    sessionStatus?: 'active' | 'ended';
    extra?: Record<string, unknown>;
  }): Promise<SeededCall> {
    const now = new Date();
    const callLogId = new ObjectId();
    const sessionId = `sess_${randomBytes(12).toString('hex')}`;
    const userId = new ObjectId(user.id);
    const startedAt = new Date(now.getTime() - 30 * MINUTE);
    await calls().insertOne({
      _id: callLogId,
      sessionId,
      userId,
      agentId,
      fromPhone: '+919123456789',
      toPhone: '+918030752400',
      direction: options.direction ?? 'inbound',
      status: options.status,
      ...(options.exotelCallSid ? { exotelCallSid: options.exotelCallSid } : {}),
      ...options.extra,
      createdAt: startedAt,
      updatedAt: options.updatedAt ?? now,
    });
    const agentConfig = validAgentConfig();
    agentConfig.sessionTimeout = options.sessionTimeout ?? 300;
    await sessions().insertOne({
      sessionId,
      userId,
      agentId,
      callLogId,
      userPhone: '+919123456789',
      agentPhone: '+918030752400',
      agentConfig,
      conversationHistory: [
        { role: 'assistant', content: 'Hello! How can I help you today?', timestamp: startedAt },
      ],
      status: options.sessionStatus ?? 'active',
      startedAt,
      lastActivityAt: options.lastActivityAt ?? now,
      createdAt: startedAt,
      updatedAt: options.lastActivityAt ?? now,
    });
    return { callLogId, sessionId };
  }

  beforeAll(async () => {
    fake = await startFakeExotel();
    context = await createTestContext({ EXOTEL_API_BASE_URL: fake.baseUrl });
    user = await registerUser(context);
    await setCredits(context, user.id, 100);
    const configured = await call(context.app, 'PUT', '/api/v1/users/me/exotel-config', {
      token: user.token,
      body: {
        apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
        apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
        sid: DEFAULT_FAKE_ACCOUNT.sid,
        subdomain: 'api.in.exotel.com',
      },
    });
    expect(configured.status).toBe(200);
    agentId = new ObjectId((await createAgent(context, user)).id as string);
  });

  afterAll(async () => {
    await context.redis.del(`user:token:${user.id}`);
    await context.close();
    await fake.close();
  });

  describe('SessionTimeoutService', () => {
    it("ends sessions idle past their agent's sessionTimeout and gives their calls SESSION_TIMEOUT; leaves the others", async () => {
      const now = new Date();
      const answered = await seedCall({
        status: 'in-progress',
        sessionTimeout: 60,
        lastActivityAt: new Date(now.getTime() - 2 * MINUTE),
        extra: { startedAt: new Date(now.getTime() - 5 * MINUTE) },
      });
      const ringing = await seedCall({
        status: 'ringing',
        direction: 'outbound',
        sessionTimeout: 60,
        lastActivityAt: new Date(now.getTime() - 2 * MINUTE),
      });
      const fresh = await seedCall({ status: 'in-progress', sessionTimeout: 60 });
      const patient = await seedCall({
        status: 'in-progress',
        sessionTimeout: 600,
        lastActivityAt: new Date(now.getTime() - 2 * MINUTE),
      });
      await context.redis.set(`session:${answered.sessionId}`, '{}', 'EX', 3600);
      const creditsBefore = await credits();

      const summary = await context.app.get(SessionTimeoutService).run(now);
      expect(summary.timedOut).toBe(2);

      const answeredCall = await callLog(answered.callLogId);
      expect(answeredCall).toMatchObject({
        status: 'agent-ended',
        error: { code: 'SESSION_TIMEOUT' },
        // Answered 5 minutes before the timeout ended it.
        durationSec: 300,
        billing: { state: 'done', amount: 0.15, charged: 0.15 },
        transcript: 'Agent: Hello! How can I help you today?',
      });
      expect(answeredCall?.finalizedAt).toBeInstanceOf(Date);
      expect(await session(answered.sessionId)).toMatchObject({ status: 'ended' });
      expect(await context.redis.exists(`session:${answered.sessionId}`)).toBe(0);

      const ringingCall = await callLog(ringing.callLogId);
      expect(ringingCall).toMatchObject({
        status: 'failed',
        error: { code: 'SESSION_TIMEOUT' },
        durationSec: 0,
      });
      expect(ringingCall?.finalizedAt).toBeInstanceOf(Date);
      expect(await session(ringing.sessionId)).toMatchObject({ status: 'ended' });
      expect(await credits()).toBeCloseTo(creditsBefore - 0.15, 6);

      for (const untouched of [fresh, patient]) {
        expect(await session(untouched.sessionId)).toMatchObject({ status: 'active' });
        const stored = await callLog(untouched.callLogId);
        expect(stored?.status).toBe('in-progress');
        expect(stored?.error).toBeUndefined();
      }

      const again = await context.app.get(SessionTimeoutService).run(now);
      expect(again.timedOut).toBe(0);
      expect(await credits()).toBeCloseTo(creditsBefore - 0.15, 6);
    });
  });

  describe('CallReconciliationService', () => {
    it('finishes stale calls from Exotel call details, fails calls never placed, and finalizes interrupted calls, charging each once', async () => {
      const now = new Date();
      const stale = new Date(now.getTime() - 16 * MINUTE);
      const completedSid = uniqueName('CA');
      const unansweredSid = uniqueName('CA');
      const runningSid = uniqueName('CA');
      const completedAtExotel = await seedCall({
        status: 'in-progress',
        exotelCallSid: completedSid,
        updatedAt: stale,
      });
      const unansweredAtExotel = await seedCall({
        status: 'ringing',
        direction: 'outbound',
        exotelCallSid: unansweredSid,
        updatedAt: stale,
      });
      const stillRunning = await seedCall({
        status: 'in-progress',
        exotelCallSid: runningSid,
        updatedAt: stale,
      });
      const neverPlaced = await seedCall({
        status: 'initiated',
        direction: 'outbound',
        updatedAt: stale,
      });
      // Its connect request was sent, its outcome unknown, its placement job gone: looked up at
      // Exotel (not there), then failed without being sent again.
      const beingPlaced = await seedCall({
        status: 'initiated',
        direction: 'outbound',
        updatedAt: stale,
        extra: { placement: { state: 'unknown', requests: 1, claimedAt: stale } },
      });
      const recent = await seedCall({
        status: 'in-progress',
        exotelCallSid: uniqueName('CA'),
        updatedAt: new Date(now.getTime() - 5 * MINUTE),
      });
      // A crash right after the terminal status was stored: no billing, session still open.
      const crashed = await seedCall({
        status: 'completed',
        updatedAt: new Date(now.getTime() - 5 * MINUTE),
        extra: { durationSec: 130, endedAt: new Date(now.getTime() - 5 * MINUTE) },
      });
      fake.setCallDetails(completedSid, { Status: 'completed', Duration: '75' });
      fake.setCallDetails(unansweredSid, { Status: 'no-answer', Duration: '0' });
      fake.setCallDetails(runningSid, { Status: 'in-progress' });
      const creditsBefore = await credits();
      const totalCallsBefore = (await context.db.collection('agents').findOne({ _id: agentId }))
        ?.stats.totalCalls as number;
      fake.reset();

      const reconciliation = context.app.get(CallReconciliationService);
      const summary = await reconciliation.run(now);
      expect(summary).toEqual({
        requeued: 0,
        stale: 5,
        finishedFromExotel: 2,
        neverPlaced: 2,
        stillRunning: 1,
        errors: 0,
        refinalized: 1,
        markersRemoved: 0,
      });
      // Exotel was asked about the three calls it knows, with the account's credentials, and
      // searched once for the call whose placement outcome was unknown.
      expect(fake.requests.map((request) => request.path).sort()).toEqual(
        [
          `/v1/Accounts/${DEFAULT_FAKE_ACCOUNT.sid}/Calls.json`,
          ...[completedSid, unansweredSid, runningSid].map(
            (sid) => `/v1/Accounts/${DEFAULT_FAKE_ACCOUNT.sid}/Calls/${sid}.json`,
          ),
        ].sort(),
      );

      expect(await callLog(completedAtExotel.callLogId)).toMatchObject({
        status: 'completed',
        durationSec: 75,
        billing: { state: 'done', amount: 0.06, charged: 0.06 },
        agentStatsState: 'done',
      });
      expect(await session(completedAtExotel.sessionId)).toMatchObject({ status: 'ended' });
      expect(await callLog(unansweredAtExotel.callLogId)).toMatchObject({
        status: 'no-answer',
        billing: { state: 'done', charged: 0 },
      });
      expect(await callLog(stillRunning.callLogId)).toMatchObject({ status: 'in-progress' });
      expect(await session(stillRunning.sessionId)).toMatchObject({ status: 'active' });
      expect(await callLog(neverPlaced.callLogId)).toMatchObject({
        status: 'failed',
        error: { code: 'NEVER_PLACED' },
        billing: { state: 'done', charged: 0 },
      });
      expect(await session(neverPlaced.sessionId)).toMatchObject({ status: 'ended' });
      expect(await callLog(beingPlaced.callLogId)).toMatchObject({
        status: 'failed',
        error: { code: 'PLACEMENT_UNCERTAIN' },
        placement: { state: 'failed' },
      });
      expect(fake.requests.filter((request) => request.path.endsWith('/connect.json'))).toEqual([]);
      expect(await callLog(recent.callLogId)).toMatchObject({ status: 'in-progress' });
      const crashedCall = await callLog(crashed.callLogId);
      expect(crashedCall).toMatchObject({
        status: 'completed',
        // 130 s = 3 started minutes.
        billing: { state: 'done', amount: 0.09, charged: 0.09 },
        transcript: 'Agent: Hello! How can I help you today?',
      });
      expect(crashedCall?.finalizedAt).toBeInstanceOf(Date);
      expect(await session(crashed.sessionId)).toMatchObject({ status: 'ended' });

      expect(await credits()).toBeCloseTo(creditsBefore - 0.06 - 0.09, 6);
      const agent = await context.db.collection('agents').findOne({ _id: agentId });
      // completed, no-answer, never placed, placement uncertain, crashed.
      expect(agent?.stats.totalCalls).toBe(totalCallsBefore + 5);

      // A second sweep (or a late callback) changes nothing.
      const again = await reconciliation.run(new Date(now.getTime() + 1000));
      expect(again).toMatchObject({ finishedFromExotel: 0, neverPlaced: 0, refinalized: 0 });
      expect(await credits()).toBeCloseTo(creditsBefore - 0.06 - 0.09, 6);
      expect(
        (await context.db.collection('agents').findOne({ _id: agentId }))?.stats.totalCalls,
      ).toBe(totalCallsBefore + 5);
    });

    it('enqueues the placement job again for a young call whose job was lost, and only then', async () => {
      const now = new Date();
      const threeMinutesAgo = new Date(now.getTime() - 3 * MINUTE);
      const lost = await seedCall({
        status: 'initiated',
        direction: 'outbound',
        updatedAt: threeMinutesAgo,
      });
      await calls().updateOne({ _id: lost.callLogId }, { $set: { createdAt: threeMinutesAgo } });
      const queue = context.app.get<Queue>(getQueueToken(Queues.callPlacement));
      await queue.pause();
      const reconciliation = context.app.get(CallReconciliationService);
      try {
        const first = await reconciliation.run(now);
        expect(first.requeued).toBe(1);
        const job = await queue.getJob(lost.callLogId.toString());
        expect(job?.data).toEqual({ callLogId: lost.callLogId.toString() });
        expect(job?.opts.attempts).toBe(5);
        // Its job exists now: a second run leaves it alone.
        expect((await reconciliation.run(now)).requeued).toBe(0);
      } finally {
        await queue.resume();
      }
    });

    it('backs off from a call it cannot settle instead of retrying it every run', async () => {
      const now = new Date();
      const stale = new Date(now.getTime() - 16 * MINUTE);
      // Its owner's Exotel token cannot be decrypted: every attempt fails the same way.
      const owner = await registerUser(context);
      await context.db.collection('users').updateOne(
        { _id: new ObjectId(owner.id) },
        {
          $set: {
            exotelConfig: {
              apiKey: 'key',
              apiToken: 'v1:not:a:ciphertext',
              sid: DEFAULT_FAKE_ACCOUNT.sid,
              subdomain: 'api.exotel.com',
            },
          },
        },
      );
      const stuck = await seedCall({
        status: 'in-progress',
        exotelCallSid: uniqueName('CA'),
        updatedAt: stale,
      });
      await calls().updateOne(
        { _id: stuck.callLogId },
        { $set: { userId: new ObjectId(owner.id) } },
      );
      const updatedAt = (await callLog(stuck.callLogId))?.updatedAt as Date;
      const reconciliation = context.app.get(CallReconciliationService);

      const first = await reconciliation.run(now);
      expect(first.errors).toBe(1);
      const deferred = await callLog(stuck.callLogId);
      expect(deferred?.reconcile).toMatchObject({ attempts: 1 });
      expect((deferred?.reconcile.nextAt as Date).getTime()).toBe(now.getTime() + 5 * MINUTE);
      expect(deferred?.updatedAt).toEqual(updatedAt);

      // Left out until its time comes: the run does not pick it again.
      expect((await reconciliation.run(new Date(now.getTime() + MINUTE))).errors).toBe(0);
      const later = await reconciliation.run(new Date(now.getTime() + 6 * MINUTE));
      expect(later.errors).toBe(1);
      const twice = await callLog(stuck.callLogId);
      expect(twice?.reconcile).toMatchObject({ attempts: 2 });
      expect((twice?.reconcile.nextAt as Date).getTime()).toBe(now.getTime() + 16 * MINUTE);
      await calls().deleteOne({ _id: stuck.callLogId });
      await context.redis.del(`user:token:${owner.id}`);
    });

    it('resumes a finalization interrupted after the charge without charging again', async () => {
      const now = new Date();
      const interrupted = await seedCall({
        status: 'completed',
        updatedAt: new Date(now.getTime() - 5 * MINUTE),
        extra: {
          durationSec: 45,
          endedAt: new Date(now.getTime() - 5 * MINUTE),
          costBreakdown: { stt: 0, llm: 0, tts: 0, telephony: 0.03, total: 0.03 },
          transcript: 'Agent: Hello! How can I help you today?',
          billing: { state: 'pending', amount: 0.03 },
        },
      });
      const id = interrupted.callLogId.toString();
      // The charge itself was applied (credits taken, marker pushed) before the crash.
      await context.db
        .collection<{ _id: ObjectId; pendingChargeCallIds: string[]; pendingCharges: string[] }>(
          'users',
        )
        .updateOne(
          { _id: new ObjectId(user.id) },
          {
            $inc: { credits: -0.03 },
            $push: { pendingChargeCallIds: id, pendingCharges: `${id}|0.03` },
          },
        );
      const creditsAfterCharge = await credits();

      const summary = await context.app.get(CallReconciliationService).run(now);
      expect(summary.refinalized).toBe(1);
      const finished = await callLog(interrupted.callLogId);
      expect(finished).toMatchObject({ billing: { state: 'done', amount: 0.03, charged: 0.03 } });
      expect(finished?.finalizedAt).toBeInstanceOf(Date);
      expect(await credits()).toBeCloseTo(creditsAfterCharge, 6);
      const userDocument = await context.db
        .collection('users')
        .findOne({ _id: new ObjectId(user.id) });
      // One marker, the one the interrupted run pushed; the reconciliation past the retention
      // removes it.
      expect(
        ((userDocument?.pendingCharges as string[] | undefined) ?? []).filter((entry) =>
          entry.startsWith(`${id}|`),
        ),
      ).toEqual([`${id}|0.03`]);
      const later = new Date(Date.now() + MARKER_RETENTION_MS + MINUTE);
      expect(await context.app.get(MarkerSweepService).run(later)).toBeGreaterThanOrEqual(1);
      const swept = await context.db.collection('users').findOne({ _id: new ObjectId(user.id) });
      expect(swept?.pendingChargeCallIds ?? []).not.toContain(id);
      expect(swept?.pendingCharges ?? []).toEqual([]);
      expect(await credits()).toBeCloseTo(creditsAfterCharge, 6);
    });
  });

  describe('SessionPurgeService', () => {
    it('deletes ended sessions older than the retention (7 days) and keeps newer and active ones', async () => {
      const now = new Date();
      const old = await seedCall({
        status: 'completed',
        sessionStatus: 'ended',
        lastActivityAt: new Date(now.getTime() - 8 * DAY),
        extra: { finalizedAt: now },
      });
      const recentlyEnded = await seedCall({
        status: 'completed',
        sessionStatus: 'ended',
        lastActivityAt: new Date(now.getTime() - 6 * DAY),
        extra: { finalizedAt: now },
      });
      const oldButActive = await seedCall({
        status: 'in-progress',
        lastActivityAt: new Date(now.getTime() - 30 * DAY),
      });

      const result = await context.app.get(SessionPurgeService).run(now);
      expect(result.deleted).toBe(1);
      expect(result.olderThan).toEqual(new Date(now.getTime() - 7 * DAY));
      expect(await session(old.sessionId)).toBeNull();
      expect(await session(recentlyEnded.sessionId)).not.toBeNull();
      expect(await session(oldButActive.sessionId)).not.toBeNull();
      // The call log outlives its session.
      expect(await callLog(old.callLogId)).not.toBeNull();
    });
  });

  describe('MaintenanceScheduler', () => {
    let peer: NestFastifyApplication;

    beforeAll(async () => {
      peer = await createPeerApp(context);
    });

    afterAll(async () => {
      await peer.close();
    });

    it('runs a task started on two instances at once exactly once, and again once it is released', async () => {
      let runs = 0;
      let finishRun = (): void => undefined;
      const task = {
        name: uniqueName('test-task'),
        cron: '* * * * *',
        lockMs: 10_000,
        // Holds the lock until the test lets go, so the other instance certainly finds it taken.
        run: async () => {
          runs += 1;
          await new Promise<void>((resolve) => {
            finishRun = resolve;
          });
          return { runs };
        },
      };
      const schedulers = [context.app, peer].map((app) => app.get(MaintenanceScheduler));
      expect(schedulers[0]).not.toBe(schedulers[1]);

      const startOnBoth = async (): Promise<void> => {
        const runsBefore = runs;
        let returned = 0;
        const attempts = schedulers.map((scheduler) =>
          scheduler.runLocked(task).finally(() => {
            returned += 1;
          }),
        );
        // The instance running the task cannot return yet: the first back is the one that skipped.
        await waitFor(
          () => Promise.resolve(runs > runsBefore && returned > 0 ? true : undefined),
          10_000,
          'one instance to run the task and the other to skip it',
        );
        finishRun();
        await Promise.all(attempts);
      };

      await startOnBoth();
      expect(runs).toBe(1);
      expect(await context.redis.exists(`lock:cron:${task.name}`)).toBe(0);

      await startOnBoth();
      expect(runs).toBe(2);
    });

    it('releases the lock of a task that failed, so the next run happens', async () => {
      let attempts = 0;
      const task = {
        name: uniqueName('failing-task'),
        cron: '* * * * *',
        lockMs: 10_000,
        run: () => {
          attempts += 1;
          return Promise.reject(new Error('disk full'));
        },
      };
      const scheduler = context.app.get(MaintenanceScheduler);
      await scheduler.runLocked(task);
      await scheduler.runLocked(task);
      expect(attempts).toBe(2);
      expect(context.logs()).toContain('disk full');
    });

    it('registers no cron job when SCHEDULER_ENABLED=false', () => {
      expect(context.config.maintenance.schedulerEnabled).toBe(false);
      expect([...context.app.get(SchedulerRegistry).getCronJobs().keys()]).toEqual([]);
    });

    describe('with SCHEDULER_ENABLED=true', () => {
      // Once a year each, at distinct times, so that no job fires during the test by itself.
      const CRONS = {
        'session-timeout': '17 4 1 1 *',
        'reconcile-calls': '*/20 5 1 1 *',
        // The webhook sweep runs with the reconciliation, the delivery log purge with the cleanup.
        'sweep-webhooks': '*/20 5 1 1 *',
        'purge-webhook-deliveries': '45 6 1 1 *',
        // The recordings' sweep and retention likewise.
        'sweep-recordings': '*/20 5 1 1 *',
        'purge-recordings': '45 6 1 1 *',
        'purge-sessions': '45 6 1 1 *',
        backup: '5 7 1 1 *',
      };
      let scheduled: TestContext;

      beforeAll(async () => {
        scheduled = await createTestContext({
          SCHEDULER_ENABLED: 'true',
          SESSION_TIMEOUT_CRON: CRONS['session-timeout'],
          RECONCILE_CRON: CRONS['reconcile-calls'],
          CLEANUP_CRON: CRONS['purge-sessions'],
          BACKUP_CRON: CRONS.backup,
        });
      });

      afterAll(async () => {
        await scheduled.close();
      });

      it('registers and starts each maintenance task of the README on its configured cron, in UTC', () => {
        const jobs = scheduled.app.get(SchedulerRegistry).getCronJobs();
        expect([...jobs.keys()]).toEqual(Object.keys(CRONS));
        for (const [name, cron] of Object.entries(CRONS)) {
          const job = jobs.get(name);
          expect(job?.cronTime.source, name).toBe(cron);
          expect(job?.cronTime.timeZone, name).toBe('UTC');
          expect(job?.isActive, name).toBe(true);
        }
      });

      it('does the work of its task when a cron job ticks', async () => {
        const sessionId = `sess_${randomBytes(12).toString('hex')}`;
        const longAgo = new Date(Date.now() - 8 * DAY);
        await scheduled.db
          .collection('sessions')
          .insertOne({ sessionId, status: 'ended', lastActivityAt: longAgo, updatedAt: longAgo });

        await scheduled.app.get(SchedulerRegistry).getCronJob('purge-sessions').fireOnTick();

        await waitFor(
          async () =>
            (await scheduled.db.collection('sessions').findOne({ sessionId })) === null
              ? true
              : undefined,
          10_000,
          'the purge-sessions tick to delete the ended session',
        );
      });
    });
  });
});

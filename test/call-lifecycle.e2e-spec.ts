import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBoxService } from '../src/infra/crypto/secret-box.service.js';
import { Queues } from '../src/infra/queue/queues.js';
import { SessionsService } from '../src/sessions/sessions.service.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { createAgent, createPhone, randomIndianNumber } from './support/catalogue-factories.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

describe('call lifecycle (inbound calls, status callbacks, sessions)', () => {
  let context: TestContext;
  let user: TestUser;
  let webhookToken: string;
  let agentId: string;
  let phoneNumber: string;

  const incoming = (query: Record<string, string>, token = webhookToken) =>
    call(context.app, 'GET', `/api/v1/telephony/exotel/incoming/${token}`, { query });

  const statusPath = (callLogId: string): string => {
    const url = new URL(context.app.get(TelephonyService).statusCallbackUrl(callLogId));
    return `${url.pathname}${url.search}`;
  };

  const startInboundCall = async (callSid = `CA${new ObjectId().toString()}`) => {
    const response = await incoming({
      CallSid: callSid,
      CallFrom: '09123456789',
      CallTo: `0${phoneNumber.slice(3)}`,
      Direction: 'incoming',
    });
    expect(response.status).toBe(200);
    return {
      ...(response.body as { sessionId: string; callLogId: string; created: boolean }),
      callSid,
    };
  };

  const storedCall = (callLogId: string) =>
    context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });

  const callEventsQueue = (): Queue => context.app.get<Queue>(getQueueToken(Queues.callEvents));

  /** Every job, in any state, that carries an event for this call. */
  const jobsFor = async (callLogId: string) =>
    (await callEventsQueue().getJobs()).filter(
      (job) => (job.data as { callLogId?: string } | undefined)?.callLogId === callLogId,
    );

  /** Waits until the lifecycle worker has taken every job there is to its end. */
  const queueDrained = () =>
    waitFor(
      async () => {
        const counts = await callEventsQueue().getJobCounts(
          'waiting',
          'active',
          'delayed',
          'prioritized',
        );
        return Object.values(counts).every((count) => count === 0) ? true : undefined;
      },
      20_000,
      'the call-events queue to drain',
    );

  const finalized = (callLogId: string) =>
    waitFor(
      async () => {
        // The database first: an answer read before it could predate the final write.
        const stored = await context.db
          .collection('calllogs')
          .findOne({ _id: new ObjectId(callLogId) });
        if (!stored?.finalizedAt) {
          return undefined;
        }
        const response = await call(context.app, 'GET', `/api/v1/calls/${callLogId}`, {
          token: user.token,
        });
        return response.body;
      },
      20_000,
      `call ${callLogId} to be finalized`,
    );

  const credits = async (): Promise<number> =>
    (await context.db.collection('users').findOne({ _id: new ObjectId(user.id) }))
      ?.credits as number;

  beforeAll(async () => {
    context = await createTestContext();
    user = await registerUser(context);
    await setCredits(context, user.id, 100);
    const webhooks = await call(context.app, 'GET', '/api/v1/users/me/webhooks', {
      token: user.token,
    });
    webhookToken = (webhooks.body.incomingCallUrl as string).split('/').at(-1)!;
    agentId = (await createAgent(context, user)).id;
    phoneNumber = randomIndianNumber();
    await createPhone(context, user, { number: phoneNumber, agentId });
  });
  afterAll(async () => {
    await context.close();
  });

  describe('inbound webhook', () => {
    it('opens a call log and a live session for a known number', async () => {
      const started = await startInboundCall();
      expect(started.created).toBe(true);
      const callLog = await context.db
        .collection('calllogs')
        .findOne({ _id: new ObjectId(started.callLogId) });
      expect(callLog).toMatchObject({
        direction: 'inbound',
        status: 'in-progress',
        toPhone: phoneNumber,
        fromPhone: '+919123456789',
      });
      const session = await call(context.app, 'GET', `/api/v1/sessions/${started.sessionId}`, {
        token: user.token,
      });
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({ status: 'active', agentId, agentPhone: phoneNumber });
      expect(await context.redis.exists(`session:${started.sessionId}`)).toBe(1);
    });

    it('returns the same session for a repeated CallSid and creates nothing new', async () => {
      const callSid = `CA${new ObjectId().toString()}`;
      const first = await startInboundCall(callSid);
      const calls = await context.db.collection('calllogs').countDocuments();
      const sessions = await context.db.collection('sessions').countDocuments();
      const again = await Promise.all([startInboundCall(callSid), startInboundCall(callSid)]);
      expect(again.map((response) => response.sessionId)).toEqual([
        first.sessionId,
        first.sessionId,
      ]);
      expect(again.every((response) => !response.created)).toBe(true);
      expect(await context.db.collection('calllogs').countDocuments()).toBe(calls);
      expect(await context.db.collection('sessions').countDocuments()).toBe(sessions);
    });

    it('accepts the same call by POST with form fields', async () => {
      const response = await call(
        context.app,
        'POST',
        `/api/v1/telephony/exotel/incoming/${webhookToken}`,
        {
          rawBody: new URLSearchParams({
            CallSid: `CA${new ObjectId().toString()}`,
            CallFrom: '+919123456789',
            CallTo: phoneNumber,
          }).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
      );
      expect(response.status).toBe(200);
      expect(response.body.sessionId).toMatch(/^sess_in_/);
    });

    it('refuses an unknown webhook token with 401 and creates nothing', async () => {
      const before = await context.db.collection('calllogs').countDocuments();
      const response = await incoming(
        { CallSid: 'CA1', CallFrom: '09123456789', CallTo: phoneNumber },
        'x'.repeat(43),
      );
      expect(response.status).toBe(401);
      expect(await context.db.collection('calllogs').countDocuments()).toBe(before);
    });

    it('answers 404 for an unknown number, an inactive number, or a number without agent', async () => {
      const before = await context.db.collection('calllogs').countDocuments();
      const unknown = await incoming({
        CallSid: 'CA2',
        CallFrom: '09123456789',
        CallTo: '+919000000001',
      });
      const inactiveNumber = randomIndianNumber();
      await createPhone(context, user, { number: inactiveNumber, agentId, status: 'inactive' });
      const inactive = await incoming({
        CallSid: 'CA3',
        CallFrom: '09123456789',
        CallTo: inactiveNumber,
      });
      const agentless = randomIndianNumber();
      await createPhone(context, user, { number: agentless });
      const noAgent = await incoming({
        CallSid: 'CA4',
        CallFrom: '09123456789',
        CallTo: agentless,
      });
      expect([unknown.status, inactive.status, noAgent.status]).toEqual([404, 404, 404]);
      expect(await context.db.collection('calllogs').countDocuments()).toBe(before);
    });

    it('refuses a request without CallSid with 400', async () => {
      const response = await incoming({ CallFrom: '09123456789', CallTo: phoneNumber });
      expect(response.status).toBe(400);
      expect(response.body.message).toContain('CallSid');
    });
  });

  describe('sessions', () => {
    it('keeps every turn durable: readable from MongoDB after the Redis entry is lost, and re-warmed', async () => {
      const started = await startInboundCall();
      const sessions = context.app.get(SessionsService);
      await sessions.appendMessage(
        started.sessionId,
        'assistant',
        'Hello! How can I help you today?',
      );
      await sessions.appendMessage(started.sessionId, 'user', 'I need help with my order');
      const cached = await call(context.app, 'GET', `/api/v1/sessions/${started.sessionId}`, {
        token: user.token,
      });
      expect(cached.body.source).toBe('cache');
      expect(cached.body.conversationHistory).toHaveLength(2);

      await context.redis.del(`session:${started.sessionId}`);
      const fromDatabase = await call(context.app, 'GET', `/api/v1/sessions/${started.sessionId}`, {
        token: user.token,
      });
      expect(fromDatabase.body.source).toBe('database');
      expect(
        fromDatabase.body.conversationHistory.map(
          (message: { content: string }) => message.content,
        ),
      ).toEqual(['Hello! How can I help you today?', 'I need help with my order']);
      expect(await context.redis.exists(`session:${started.sessionId}`)).toBe(1);
    });

    it("hides another user's session (404) and lists only the caller's", async () => {
      const started = await startInboundCall();
      const stranger = await registerUser(context);
      expect(
        (
          await call(context.app, 'GET', `/api/v1/sessions/${started.sessionId}`, {
            token: stranger.token,
          })
        ).status,
      ).toBe(404);
      const list = await call(context.app, 'GET', '/api/v1/sessions?status=active', {
        token: stranger.token,
      });
      expect(list.body.meta.total).toBe(0);
      const own = await call(context.app, 'GET', '/api/v1/sessions?status=active', {
        token: user.token,
      });
      expect(own.body.data.length).toBeGreaterThan(0);
    });

    it('refuses malformed session ids and statuses with 400', async () => {
      expect(
        (await call(context.app, 'GET', '/api/v1/sessions/not-a-session', { token: user.token }))
          .status,
      ).toBe(400);
      expect(
        (await call(context.app, 'GET', '/api/v1/sessions?status=paused', { token: user.token }))
          .status,
      ).toBe(400);
    });
  });

  describe('status callback signatures', () => {
    const nowSeconds = (): number => Math.floor(Date.now() / 1000);

    const issuedUrl = (callLogId: string): URL =>
      new URL(context.app.get(TelephonyService).statusCallbackUrl(callLogId));

    const pathWithQuery = (callLogId: string, query: string): string =>
      `/api/v1/telephony/exotel/status/${callLogId}${query}`;

    /** A URL signed the way the service signs, for an expiry of the test's choosing. */
    const signedPath = (callLogId: string, expiry: number | string): string =>
      pathWithQuery(
        callLogId,
        `?exp=${expiry}&sig=${context.app.get(SecretBoxService).sign(`call-status:${callLogId}:${expiry}`)}`,
      );

    it('issues a URL that expires a day after the longest call that the call log could be', () => {
      const callLogId = new ObjectId();
      const url = issuedUrl(callLogId.toString());
      expect(url.search).toMatch(/^\?exp=\d+&sig=[\w-]{43}$/);
      expect(Number(url.searchParams.get('exp'))).toBe(
        Math.floor(callLogId.getTimestamp().getTime() / 1000) +
          context.config.calls.timeLimitSeconds +
          24 * 60 * 60,
      );
      // The same call always gets the same URL, so a retried placement hands Exotel no new secret.
      expect(issuedUrl(callLogId.toString()).href).toBe(url.href);
    });

    it('accepts a signature over this call and an expiry still ahead', async () => {
      const started = await startInboundCall();
      const response = await call(
        context.app,
        'POST',
        signedPath(started.callLogId, nowSeconds() + 60),
        { body: { CallSid: started.callSid, Status: 'completed', ConversationDuration: '5' } },
      );
      expect(response.status).toBe(200);
      expect(await jobsFor(started.callLogId)).toHaveLength(1);
    });

    it.each<[string, (callLogId: string) => string]>([
      ['an expired signature', (callLogId) => signedPath(callLogId, nowSeconds() - 1)],
      [
        'the signature issued for another call',
        (callLogId) => pathWithQuery(callLogId, issuedUrl(new ObjectId().toString()).search),
      ],
      [
        'a signature whose exp was moved',
        (callLogId) => {
          const url = issuedUrl(callLogId);
          url.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 3600));
          return pathWithQuery(callLogId, url.search);
        },
      ],
      [
        'a signature without exp',
        (callLogId) => {
          const url = issuedUrl(callLogId);
          url.searchParams.delete('exp');
          return pathWithQuery(callLogId, url.search);
        },
      ],
      [
        'a signature over the call id alone (no expiry)',
        (callLogId) =>
          pathWithQuery(
            callLogId,
            `?sig=${context.app.get(SecretBoxService).sign(`call-status:${callLogId}`)}`,
          ),
      ],
      ['a malformed exp, even signed', (callLogId) => signedPath(callLogId, '9e12')],
      ['a forged signature', (callLogId) => pathWithQuery(callLogId, '?exp=9999999999&sig=forged')],
      ['no signature at all', (callLogId) => pathWithQuery(callLogId, '')],
    ])('refuses %s with 401 and enqueues nothing', async (_case, pathFor) => {
      const started = await startInboundCall();
      const response = await call(context.app, 'POST', pathFor(started.callLogId), {
        body: { CallSid: started.callSid, Status: 'completed', ConversationDuration: '5' },
      });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('TELEPHONY_BAD_SIGNATURE');
      // The callback is refused before anything is queued, so the answer already proves it.
      expect(await jobsFor(started.callLogId)).toEqual([]);
      expect((await storedCall(started.callLogId))?.status).toBe('in-progress');
    });
  });

  describe('status callbacks', () => {
    it('refuses a callback without a known Status with 400', async () => {
      const started = await startInboundCall();
      const response = await call(context.app, 'POST', statusPath(started.callLogId), {
        body: { CallSid: 'CA', Status: 'exploded' },
      });
      expect(response.status).toBe(400);
    });

    it('finishes a call once: duration, cost, one charge, transcript, session ended, agent stats', async () => {
      const started = await startInboundCall();
      await context.app
        .get(SessionsService)
        .appendMessage(started.sessionId, 'assistant', 'Hi! How can I help?');
      await context.app
        .get(SessionsService)
        .appendMessage(started.sessionId, 'user', 'Where is my order?');
      const creditsBefore = await credits();
      const statsBefore = (
        await context.db.collection('agents').findOne({ _id: new ObjectId(agentId) })
      )?.stats;
      const response = await call(context.app, 'POST', statusPath(started.callLogId), {
        rawBody: new URLSearchParams({
          CallSid: started.callSid,
          Status: 'completed',
          ConversationDuration: '125',
          RecordingUrl: 'https://recordings.example/1.mp3',
        }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(response.status).toBe(200);
      const finished = await finalized(started.callLogId);
      expect(finished).toMatchObject({
        status: 'completed',
        durationSec: 125,
        recordingUrl: 'https://recordings.example/1.mp3',
        transcript: 'Agent: Hi! How can I help?\nUser: Where is my order?',
      });
      // 125 s = 3 started minutes at 0.03.
      expect(finished.costBreakdown).toMatchObject({ telephony: 0.09, total: 0.09 });
      expect(finished.billing).toMatchObject({ amount: 0.09, charged: 0.09, shortfall: 0 });
      expect(await credits()).toBeCloseTo(creditsBefore - 0.09, 6);
      const session = await context.db
        .collection('sessions')
        .findOne({ sessionId: started.sessionId });
      expect(session?.status).toBe('ended');
      expect(await context.redis.exists(`session:${started.sessionId}`)).toBe(0);
      const stats = (await context.db.collection('agents').findOne({ _id: new ObjectId(agentId) }))
        ?.stats;
      expect(stats.totalCalls).toBe(statsBefore.totalCalls + 1);
      expect(stats.totalDuration).toBe(statsBefore.totalDuration + 125);
      const userDocument = await context.db
        .collection('users')
        .findOne({ _id: new ObjectId(user.id) });
      // The charge's marker stays until the marker sweep, past its retention.
      expect(userDocument?.pendingChargeCallIds).toContain(started.callLogId);
      expect(userDocument?.pendingCharges).toContain(`${started.callLogId}|0.09`);
    });

    it('charges once for 50 concurrent duplicate and shuffled callbacks, and never moves a status backwards', async () => {
      const started = await startInboundCall();
      const creditsBefore = await credits();
      const totalCallsBefore = (
        await context.db.collection('agents').findOne({ _id: new ObjectId(agentId) })
      )?.stats.totalCalls;
      const events = [
        { Status: 'ringing' },
        { Status: 'in-progress', EventType: 'answered' },
        { Status: 'completed', EventType: 'terminal', ConversationDuration: '61' },
      ];
      const burst = Array.from({ length: 50 }, (_, index) => events[(index * 7) % 3]!).sort(
        () => Math.random() - 0.5,
      );
      const responses = await Promise.all(
        burst.map((event) =>
          call(context.app, 'POST', statusPath(started.callLogId), {
            body: { CallSid: started.callSid, ...event },
          }),
        ),
      );
      expect(responses.every((response) => response.status === 200)).toBe(true);
      const finished = await finalized(started.callLogId);
      await queueDrained();
      expect(finished.status).toBe('completed');
      // 61 s = 2 started minutes.
      expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
      const stats = (await context.db.collection('agents').findOne({ _id: new ObjectId(agentId) }))
        ?.stats;
      expect(stats.totalCalls).toBe(totalCallsBefore + 1);

      const late = await call(context.app, 'POST', statusPath(started.callLogId), {
        body: { CallSid: started.callSid, Status: 'ringing', DateUpdated: 'later' },
      });
      expect(late.status).toBe(200);
      await queueDrained();
      const after = await call(context.app, 'GET', `/api/v1/calls/${started.callLogId}`, {
        token: user.token,
      });
      expect(after.body.status).toBe('completed');
      expect(await credits()).toBeCloseTo(creditsBefore - 0.06, 6);
    });

    it('records a shortfall instead of taking credits below zero', async () => {
      await setCredits(context, user.id, 0.05);
      const started = await startInboundCall();
      await call(context.app, 'POST', statusPath(started.callLogId), {
        body: { CallSid: started.callSid, Status: 'completed', ConversationDuration: '300' },
      });
      const finished = await finalized(started.callLogId);
      expect(finished.billing).toMatchObject({ amount: 0.15, charged: 0.05, shortfall: 0.1 });
      expect(await credits()).toBe(0);
      await setCredits(context, user.id, 100);
    });

    it("ignores a callback carrying another call's CallSid: no status change, no charge, job done", async () => {
      const started = await startInboundCall();
      const creditsBefore = await credits();
      const response = await call(context.app, 'POST', statusPath(started.callLogId), {
        body: { CallSid: 'CA-not-this-call', Status: 'completed', ConversationDuration: '600' },
      });
      expect(response.status).toBe(200);
      await queueDrained();
      const jobs = await jobsFor(started.callLogId);
      expect(jobs).toHaveLength(1);
      // Completed, not failed: a retry could never make the CallSid match.
      expect(await jobs[0]!.getState()).toBe('completed');
      const stored = await storedCall(started.callLogId);
      expect(stored).toMatchObject({ status: 'in-progress', exotelCallSid: started.callSid });
      expect(stored).not.toHaveProperty('billing');
      expect(stored).not.toHaveProperty('endedAt');
      expect(await credits()).toBe(creditsBefore);
      expect(context.logs()).toContain('CA-not-this-call');
    });

    it.each([
      [{ Duration: '1e308' }, 'Duration'],
      [{ Duration: 1e308 }, 'Duration'],
      [{ Duration: '-5' }, 'Duration'],
      [{ Duration: 'abc' }, 'Duration'],
      [{ ConversationDuration: 'Infinity' }, 'ConversationDuration'],
      [{ ConversationDuration: '12', Duration: '-1' }, 'Duration'],
    ])('refuses the duration of %j with 400 and enqueues nothing', async (duration, field) => {
      const started = await startInboundCall();
      const response = await call(context.app, 'POST', statusPath(started.callLogId), {
        body: { CallSid: started.callSid, Status: 'completed', ...duration },
      });
      expect(response.status).toBe(400);
      expect(response.body.message).toContain(`${field} must be`);
      expect(await jobsFor(started.callLogId)).toEqual([]);
    });

    it('bills no more than the call time limit, whatever duration a callback reports', async () => {
      const started = await startInboundCall();
      const creditsBefore = await credits();
      const limit = context.config.calls.timeLimitSeconds;
      const response = await call(context.app, 'POST', statusPath(started.callLogId), {
        body: {
          CallSid: started.callSid,
          Status: 'completed',
          ConversationDuration: String(limit * 1000),
        },
      });
      expect(response.status).toBe(200);
      const finished = await finalized(started.callLogId);
      const longestBill = Math.ceil(limit / 60) * context.config.rates.telephonyPerMinute;
      expect(finished.durationSec).toBe(limit);
      expect(finished.costBreakdown.telephony).toBeCloseTo(longestBill, 6);
      expect(await credits()).toBeCloseTo(creditsBefore - longestBill, 6);
    });

    it('bills a call measured from its timestamps no longer than Exotel lets a call last', async () => {
      const started = await startInboundCall();
      // The call log says it started six hours ago; the callback brings no duration.
      await context.db
        .collection('calllogs')
        .updateOne(
          { _id: new ObjectId(started.callLogId) },
          { $set: { startedAt: new Date(Date.now() - 6 * 3600_000) } },
        );
      const response = await call(context.app, 'POST', statusPath(started.callLogId), {
        body: { CallSid: started.callSid, Status: 'completed' },
      });
      expect(response.status).toBe(200);
      const finished = await finalized(started.callLogId);
      expect(finished.durationSec).toBe(14_400);
    });
  });
});

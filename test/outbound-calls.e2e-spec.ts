import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queues } from '../src/infra/queue/queues.js';
import { SessionsService } from '../src/sessions/sessions.service.js';
import { ExotelClient } from '../src/telephony/exotel/exotel.client.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { createAgent, createPhone, randomIndianNumber } from './support/catalogue-factories.js';
import {
  type CallbackDeliverer,
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  type RecordedRequest,
  startFakeExotel,
} from './support/fake-exotel-server.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';
import { waitForQueuesDrained } from './support/wait-for-queue.js';

const EXOTEL_CONFIG = {
  apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
  apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
  sid: DEFAULT_FAKE_ACCOUNT.sid,
  subdomain: 'api.in.exotel.com',
};
const CUSTOMER = '+919123456789';

interface Line {
  user: TestUser;
  agentId: string;
  phoneId: string;
  phoneNumber: string;
  appId: string;
}

describe('outbound calls through the fake Exotel', () => {
  let fake: FakeExotel;
  let context: TestContext;
  let limited: TestContext;
  const usersOf = new Map<TestContext, string[]>();

  // Exotel posts StatusCallbacks to our public URL; here they go through the app's own stack.
  // Which app receives the fake's callbacks (the per-user limits run on their own app).
  let callbackTarget: () => TestContext = () => context;
  const deliver: CallbackDeliverer = async (url, request) => {
    const target = new URL(url);
    const response = await callbackTarget()
      .app.getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: `${target.pathname}${target.search}`,
        headers: { 'content-type': request.contentType },
        payload: request.body,
      });
    return { status: response.statusCode, body: response.body };
  };

  /** A user with Exotel credentials, credits, an agent and an ExoPhone wired to that agent. */
  const newLine = async (
    on: TestContext,
    options: { credits?: number; exotel?: boolean; phone?: Record<string, unknown> } = {},
  ): Promise<Line> => {
    const user = await registerUser(on);
    usersOf.set(on, [...(usersOf.get(on) ?? []), user.id]);
    await setCredits(on, user.id, options.credits ?? 10);
    if (options.exotel ?? true) {
      const configured = await call(on.app, 'PUT', '/api/v1/users/me/exotel-config', {
        token: user.token,
        body: EXOTEL_CONFIG,
      });
      expect(configured.status).toBe(200);
    }
    const agentId = (await createAgent(on, user)).id as string;
    const appId = String(100_000 + Math.floor(Math.random() * 900_000));
    const phoneNumber = randomIndianNumber();
    const phone = await createPhone(on, user, {
      number: phoneNumber,
      agentId,
      exotelData: { sid: 'exophone-1', appId },
      ...options.phone,
    });
    return { user, agentId, phoneId: phone.id as string, phoneNumber, appId };
  };

  const placeCall = (on: TestContext, line: Line, body: Record<string, unknown> = {}) =>
    call(on.app, 'POST', '/api/v1/calls', {
      token: line.user.token,
      body: { phoneId: line.phoneId, to: CUSTOMER, ...body },
    });

  const storedCall = (on: TestContext, callLogId: string) =>
    on.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });

  const connectRequestsFor = (sessionId: string): RecordedRequest[] =>
    fake.requests.filter(
      (request) =>
        request.path.endsWith('/Calls/connect.json') && request.form.CustomField === sessionId,
    );

  /**
   * Waits until the worker has placed the call and recorded Exotel's id on the call log and the
   * session. Tests that act on a call wait for this first: FerretDB applies an update as a read
   * followed by a whole-document write, so a test's write racing the worker's could be lost
   * there (MongoDB applies each update atomically).
   */
  const placed = (callLogId: string, on: TestContext = context) =>
    waitFor(
      async () => {
        const stored = await storedCall(on, callLogId);
        const session = await on.db
          .collection('sessions')
          .findOne({ callLogId: new ObjectId(callLogId) });
        return stored?.exotelCallSid && session?.exotelCallSid
          ? (stored.exotelCallSid as string)
          : undefined;
      },
      15_000,
      `call ${callLogId} to be placed with Exotel`,
    );

  const finalized = (on: TestContext, callLogId: string, timeoutMs = 20_000) =>
    waitFor(
      async () => {
        const stored = await storedCall(on, callLogId);
        return stored?.finalizedAt ? stored : undefined;
      },
      timeoutMs,
      `call ${callLogId} to be finalized`,
    );

  const placementQueue = (on: TestContext = context) =>
    on.app.get<Queue>(getQueueToken(Queues.callPlacement));

  /** Waits until the call's placement job has finished for good (completed or failed). */
  const placementSettled = (callLogId: string, on: TestContext = context) =>
    waitFor(
      async () => {
        const state = await (await placementQueue(on).getJob(callLogId))?.getState();
        return state === 'completed' || state === 'failed' ? state : undefined;
      },
      25_000,
      `the placement job of ${callLogId} to finish`,
    );

  /** Bulk call detail requests that looked for calls to the customer via this line's ExoPhone. */
  const searchesFor = (line: Line): RecordedRequest[] =>
    fake.requests.filter(
      (request) =>
        request.path.endsWith('/Calls.json') && request.query.PhoneNumber === line.phoneNumber,
    );

  const creditsOf = async (on: TestContext, userId: string): Promise<number> =>
    (await on.db.collection('users').findOne({ _id: new ObjectId(userId) }))?.credits as number;

  /** Deletes the Redis keys of this file's users (the Redis is shared with other test files). */
  const forgetUsers = async (on: TestContext): Promise<void> => {
    const userIds = usersOf.get(on) ?? [];
    const sessionIds = await on.db
      .collection('sessions')
      .distinct('sessionId', { userId: { $in: userIds.map((id) => new ObjectId(id)) } });
    const keys = [
      ...userIds.flatMap((id) => [
        `ratelimit:calls:outbound:${id}`,
        `user:token:${id}`,
        `calls:active:${id}`,
      ]),
      ...sessionIds.map((sessionId) => `session:${String(sessionId)}`),
    ];
    if (keys.length > 0) {
      await on.redis.del(...keys);
    }
  };

  const counts = async (on: TestContext) => ({
    calls: await on.db.collection('calllogs').countDocuments(),
    sessions: await on.db.collection('sessions').countDocuments(),
  });

  beforeAll(async () => {
    fake = await startFakeExotel({ deliver });
    context = await createTestContext({
      EXOTEL_API_BASE_URL: fake.baseUrl,
      CALL_PLACEMENT_RETRY_DELAY_MS: '50',
    });
  });

  afterAll(async () => {
    await forgetUsers(context);
    await context.close();
    await fake.close();
  });

  describe('the full lifecycle', () => {
    it('answers 202 with the call log, records the session, places the call, then finishes it once', async () => {
      const line = await newLine(context, {
        phone: { agentConfigOverride: { firstMessage: 'Namaste! How can I help?' } },
      });
      const response = await placeCall(context, line, { metadata: { orderId: 'ORD-1' } });
      expect(response.status).toBe(202);
      expect(response.body).toMatchObject({
        status: 'initiated',
        direction: 'outbound',
        fromPhone: line.phoneNumber,
        toPhone: CUSTOMER,
        agentId: line.agentId,
        metadata: { orderId: 'ORD-1' },
        exotelCallSid: null,
      });
      const callLogId = response.body.id as string;
      const sessionId = response.body.sessionId as string;
      expect(sessionId).toMatch(/^sess_[0-9a-f]{24}$/);

      const session = await context.db.collection('sessions').findOne({ sessionId });
      expect(session).toMatchObject({
        status: 'active',
        userPhone: CUSTOMER,
        agentPhone: line.phoneNumber,
        metadata: { orderId: 'ORD-1' },
      });
      expect(session?.callLogId.toString()).toBe(callLogId);
      // The snapshot is the phone's effective config: the agent's, with the phone's override.
      expect(session?.agentConfig.firstMessage).toBe('Namaste! How can I help?');
      expect(session?.agentConfig.prompt).toContain('helpful customer support agent');
      const ttl = await context.redis.ttl(`session:${sessionId}`);
      expect(ttl).toBeGreaterThan(3500);
      expect(ttl).toBeLessThanOrEqual(3600);

      const exotelCallSid = await placed(callLogId);
      const requests = connectRequestsFor(sessionId);
      expect(requests).toHaveLength(1);
      const [connect] = requests;
      expect(connect?.method).toBe('POST');
      expect(connect?.path).toBe(`/v1/Accounts/${EXOTEL_CONFIG.sid}/Calls/connect.json`);
      expect(connect?.headers.authorization).toBe(
        `Basic ${Buffer.from(`${EXOTEL_CONFIG.apiKey}:${EXOTEL_CONFIG.apiToken}`).toString('base64')}`,
      );
      const statusCallbackUrl = context.app.get(TelephonyService).statusCallbackUrl(callLogId);
      expect(statusCallbackUrl).toMatch(/[?&]sig=.+/);
      expect(connect?.form).toMatchObject({
        From: CUSTOMER,
        CallerId: line.phoneNumber,
        Url: `http://my.exotel.com/${EXOTEL_CONFIG.sid}/exoml/start_voice/${line.appId}`,
        StatusCallback: statusCallbackUrl,
        CustomField: sessionId,
      });
      expect(fake.calls.get(exotelCallSid)?.customField).toBe(sessionId);
      expect((await context.db.collection('sessions').findOne({ sessionId }))?.exotelCallSid).toBe(
        exotelCallSid,
      );

      const sessions = context.app.get(SessionsService);
      await sessions.appendMessage(sessionId, 'assistant', 'Namaste! How can I help?');
      await sessions.appendMessage(sessionId, 'user', 'Is my order on its way?');

      const answered = await fake.sendStatusCallback(
        statusCallbackUrl,
        { CallSid: exotelCallSid, Status: 'in-progress', EventType: 'answered' },
        'form',
      );
      expect(answered.status).toBe(200);
      const inProgress = await waitFor(async () => {
        const stored = await storedCall(context, callLogId);
        return stored?.status === 'in-progress' ? stored : undefined;
      });
      expect(inProgress.startedAt).toBeInstanceOf(Date);

      const creditsBefore = await creditsOf(context, line.user.id);
      const completed = await fake.sendStatusCallback(statusCallbackUrl, {
        CallSid: exotelCallSid,
        Status: 'completed',
        EventType: 'terminal',
        ConversationDuration: 95,
        RecordingUrl: 'https://recordings.example/outbound-1.mp3',
      });
      expect(completed.status).toBe(200);
      const finished = await finalized(context, callLogId);
      expect(finished).toMatchObject({
        status: 'completed',
        durationSec: 95,
        exotelCallSid,
        recordingUrl: 'https://recordings.example/outbound-1.mp3',
        transcript: 'Agent: Namaste! How can I help?\nUser: Is my order on its way?',
        // 95 s = 2 started minutes at 0.03.
        costBreakdown: { stt: 0, llm: 0, tts: 0, telephony: 0.06, total: 0.06 },
        billing: { state: 'done', amount: 0.06, charged: 0.06, shortfall: 0 },
        agentStatsState: 'done',
      });
      expect(finished.endedAt).toBeInstanceOf(Date);
      expect(await creditsOf(context, line.user.id)).toBeCloseTo(creditsBefore - 0.06, 6);

      const endedSession = await context.db.collection('sessions').findOne({ sessionId });
      expect(endedSession?.status).toBe('ended');
      expect(endedSession?.conversationHistory).toHaveLength(2);
      expect(await context.redis.exists(`session:${sessionId}`)).toBe(0);
      const agent = await context.db
        .collection('agents')
        .findOne({ _id: new ObjectId(line.agentId) });
      expect(agent?.stats).toMatchObject({
        totalCalls: 1,
        totalDuration: 95,
        avgDuration: 95,
        successRate: 1,
      });
      // The stats marker stays until the marker sweep, past its retention.
      expect(agent?.pendingStatCallIds).toEqual([callLogId]);

      // Exotel repeats the terminal callback: nothing is charged or counted again.
      const repeat = await fake.finishCall(exotelCallSid, {
        status: 'completed',
        conversationDuration: 95,
      });
      expect(repeat.status).toBe(200);
      await waitForQueuesDrained(context.app, [Queues.callEvents]);
      expect(await creditsOf(context, line.user.id)).toBeCloseTo(creditsBefore - 0.06, 6);
      const agentAfter = await context.db
        .collection('agents')
        .findOne({ _id: new ObjectId(line.agentId) });
      expect(agentAfter?.stats.totalCalls).toBe(1);
      const byApi = await call(context.app, 'GET', `/api/v1/calls/${callLogId}`, {
        token: line.user.token,
      });
      expect(byApi.body).toMatchObject({ status: 'completed', durationSec: 95 });
    });
  });

  describe('refusals of POST /calls', () => {
    let line: Line;

    beforeAll(async () => {
      line = await newLine(context);
    });

    /** Sends the request and checks the status and code, and that nothing was recorded or sent. */
    const refused = async (
      token: string,
      body: unknown,
      status: number,
      code?: string,
    ): Promise<Record<string, any>> => {
      const before = await counts(context);
      const requestsBefore = fake.requests.length;
      const response = await call(context.app, 'POST', '/api/v1/calls', { token, body });
      expect(response.status).toBe(status);
      if (code) {
        expect(response.body.code).toBe(code);
      }
      expect(await counts(context)).toEqual(before);
      expect(fake.requests.length).toBe(requestsBefore);
      return response.body as Record<string, any>;
    };

    it("treats another user's phone as missing (404)", async () => {
      const stranger = await newLine(context);
      await refused(
        line.user.token,
        { phoneId: stranger.phoneId, to: CUSTOMER },
        404,
        'PHONE_NOT_FOUND',
      );
      await refused(
        line.user.token,
        { phoneId: new ObjectId().toString(), to: CUSTOMER },
        404,
        'PHONE_NOT_FOUND',
      );
    });

    it('refuses an inactive phone with 409', async () => {
      const phone = await createPhone(context, line.user, {
        agentId: line.agentId,
        status: 'inactive',
        exotelData: { sid: 'exophone-2', appId: '4242' },
      });
      await refused(
        line.user.token,
        { phoneId: phone.id, to: CUSTOMER },
        409,
        'CALL_PHONE_INACTIVE',
      );
    });

    it('refuses a phone without an agent with 409', async () => {
      const phone = await createPhone(context, line.user, {
        exotelData: { sid: 'exophone-3', appId: '4243' },
      });
      await refused(line.user.token, { phoneId: phone.id, to: CUSTOMER }, 409, 'PHONE_NO_AGENT');
    });

    it('refuses a phone without an Exotel flow (appId) with 409', async () => {
      const phone = await createPhone(context, line.user, { agentId: line.agentId });
      await refused(
        line.user.token,
        { phoneId: phone.id, to: CUSTOMER },
        409,
        'CALL_PHONE_NOT_CONFIGURED',
      );
    });

    it("treats another user's agent as missing (404)", async () => {
      const stranger = await newLine(context);
      await refused(
        line.user.token,
        { phoneId: line.phoneId, to: CUSTOMER, agentId: stranger.agentId },
        404,
        'PHONE_AGENT_NOT_FOUND',
      );
    });

    it('refuses an inactive agent with 409', async () => {
      const sleeping = await createAgent(context, line.user, { isActive: false });
      await refused(
        line.user.token,
        { phoneId: line.phoneId, to: CUSTOMER, agentId: sleeping.id },
        409,
        'CALL_AGENT_INACTIVE',
      );
    });

    it('refuses a destination that is not E.164 with 400', async () => {
      for (const to of ['09123456789', '+91123', 'call me maybe', '+0000000000']) {
        const body = await refused(
          line.user.token,
          { phoneId: line.phoneId, to },
          400,
          'CALL_INVALID_DESTINATION',
        );
        expect(body.message).toContain('E.164');
      }
    });

    it('refuses missing, malformed and unknown fields with 400, naming each', async () => {
      const missing = await refused(line.user.token, {}, 400);
      expect(JSON.stringify(missing.message)).toMatch(/phoneId/);
      expect(JSON.stringify(missing.message)).toMatch(/to/);
      const extra = await refused(
        line.user.token,
        { phoneId: line.phoneId, to: CUSTOMER, priority: 'high' },
        400,
      );
      expect(JSON.stringify(extra.message)).toContain('priority');
      const malformed = await refused(
        line.user.token,
        { phoneId: 'not-an-id', to: CUSTOMER, agentId: 42, metadata: 'text' },
        400,
      );
      expect(JSON.stringify(malformed.message)).toMatch(/phoneId/);
      expect(JSON.stringify(malformed.message)).toMatch(/agentId/);
      expect(JSON.stringify(malformed.message)).toMatch(/metadata/);
      const reserved = await refused(
        line.user.token,
        { phoneId: line.phoneId, to: CUSTOMER, metadata: { analysis: 'mine' } },
        400,
      );
      expect(JSON.stringify(reserved.message)).toContain('metadata.analysis is reserved');
    });

    it('refuses a user without Exotel credentials with 412', async () => {
      const unconfigured = await newLine(context, { exotel: false });
      await refused(
        unconfigured.user.token,
        { phoneId: unconfigured.phoneId, to: CUSTOMER },
        412,
        'CALL_EXOTEL_NOT_CONFIGURED',
      );
    });

    it('refuses a user without credits with 402', async () => {
      const broke = await newLine(context, { credits: 0 });
      await refused(
        broke.user.token,
        { phoneId: broke.phoneId, to: CUSTOMER },
        402,
        'CALL_NO_CREDITS',
      );
      expect(await context.redis.exists(`ratelimit:calls:outbound:${broke.user.id}`)).toBe(0);
    });

    it('refuses an anonymous request with 401', async () => {
      const response = await call(context.app, 'POST', '/api/v1/calls', {
        body: { phoneId: line.phoneId, to: CUSTOMER },
      });
      expect(response.status).toBe(401);
    });
  });

  describe('Exotel failures', () => {
    it('fails the call with EXOTEL_REJECTED when Exotel refuses it (4xx), after exactly one request', async () => {
      const line = await newLine(context);
      const creditsBefore = await creditsOf(context, line.user.id);
      fake.failNext(400, {
        RestException: { Status: 400, Message: 'CallerId is not a valid ExoPhone', Code: 'E34' },
      });
      const response = await placeCall(context, line);
      expect(response.status).toBe(202);
      const callLogId = response.body.id as string;
      const failed = await finalized(context, callLogId);
      expect(failed.status).toBe('failed');
      expect(failed.error.code).toBe('EXOTEL_REJECTED');
      expect(failed.error.message).toContain('CallerId is not a valid ExoPhone');
      expect(failed.exotelCallSid).toBeUndefined();
      // A completed job is never run again: no wrongful retry can follow.
      expect(await placementSettled(callLogId)).toBe('completed');
      expect(connectRequestsFor(response.body.sessionId as string)).toHaveLength(1);
      expect(await creditsOf(context, line.user.id)).toBe(creditsBefore);
      const session = await context.db
        .collection('sessions')
        .findOne({ sessionId: response.body.sessionId });
      expect(session?.status).toBe('ended');
      const byApi = await call(context.app, 'GET', `/api/v1/calls/${callLogId}`, {
        token: line.user.token,
      });
      expect(byApi.body.error).toMatchObject({ code: 'EXOTEL_REJECTED' });
    });

    it('never repeats a connect whose answer was lost (5xx): finds the call at Exotel and adopts it', async () => {
      const line = await newLine(context);
      // Exotel places the call, but its answer is lost on the way back.
      fake.loseAnswerNext({ status: 502 });
      const response = await placeCall(context, line);
      expect(response.status).toBe(202);
      const exotelCallSid = await placed(response.body.id as string);
      await placementSettled(response.body.id as string);

      expect(connectRequestsFor(response.body.sessionId as string)).toHaveLength(1);
      expect(fake.calls.get(exotelCallSid)?.customField).toBe(response.body.sessionId);
      expect(searchesFor(line)).not.toHaveLength(0);
      const stored = await storedCall(context, response.body.id as string);
      expect(stored?.status).toBe('initiated');
      expect(stored?.placement).toMatchObject({ state: 'placed', requests: 1 });
      expect(stored?.error).toBeUndefined();
    });

    it('fails the call with PLACEMENT_UNCERTAIN, never sending it again, when a 5xx call is not found at Exotel', async () => {
      const line = await newLine(context);
      // Refused before Exotel acted, but a 5xx does not say so: the outcome is unknown.
      fake.failNext(503);
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;
      const failed = await finalized(context, callLogId);
      await placementSettled(callLogId);

      expect(failed.status).toBe('failed');
      expect(failed.error.code).toBe('PLACEMENT_UNCERTAIN');
      expect(failed.error.message).toMatch(/not sent again/);
      expect(failed.placement).toMatchObject({ state: 'failed', requests: 1 });
      expect(connectRequestsFor(response.body.sessionId as string)).toHaveLength(1);
      // One search per run of the placement job: the first run and each retry.
      expect(searchesFor(line)).toHaveLength(5);
    });

    it('repeats a connect refused over the rate limit, then fails it visibly with EXOTEL_UNAVAILABLE', async () => {
      const line = await newLine(context);
      // 5 queue attempts x (1 request + 3 client retries), each refused with 429.
      fake.failNext(429, undefined, 20, { 'Retry-After': '0' });
      const response = await placeCall(context, line);
      expect(response.status).toBe(202);
      // 20 requests with backoff between them and 4 queue retries: seconds, more on a busy machine.
      const failed = await finalized(context, response.body.id as string, 38_000);

      expect(failed.error.code).toBe('EXOTEL_UNAVAILABLE');
      expect(failed.error.message).not.toMatch(/127\.0\.0\.1|ECONN|HTTP/);
      expect(connectRequestsFor(response.body.sessionId as string)).toHaveLength(20);
      expect(failed.placement).toMatchObject({ state: 'failed', requests: 5 });
      // The placement job ends in the failed list, kept for inspection.
      const job = await placementQueue().getJob(response.body.id as string);
      expect(await job?.getState()).toBe('failed');
    }, 40_000);

    it('adopts the call at Exotel instead of ringing again when a worker died holding the claim', async () => {
      const line = await newLine(context);
      await placementQueue().pause();
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;
      // What a worker killed mid-request leaves: the claim taken, the call placed at Exotel.
      const { callSid } = await context.app.get(ExotelClient).connectCall(
        { ...EXOTEL_CONFIG },
        {
          from: CUSTOMER,
          callerId: line.phoneNumber,
          url: 'http://my.exotel.com/x/exoml/start_voice/1',
          statusCallback: 'https://voice.example.test/unused',
        },
      );
      await context.db
        .collection('calllogs')
        .updateOne(
          { _id: new ObjectId(callLogId) },
          { $set: { placement: { state: 'sending', requests: 1, claimedAt: new Date() } } },
        );
      await placementQueue().resume();

      expect(await placed(callLogId)).toBe(callSid);
      await placementSettled(callLogId);
      expect(connectRequestsFor(response.body.sessionId as string)).toHaveLength(0);
    });
  });

  describe('hangup', () => {
    it('refuses with 409 to end a placed call Exotel cannot end, changes nothing, and bills the duration Exotel reports', async () => {
      const line = await newLine(context);
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;
      const exotelCallSid = await placed(callLogId);
      const creditsBefore = await creditsOf(context, line.user.id);

      const hangup = await call(context.app, 'POST', `/api/v1/calls/${callLogId}/hangup`, {
        token: line.user.token,
      });

      expect(hangup.status).toBe(409);
      expect(hangup.body.code).toBe('CALL_HANGUP_UNSUPPORTED');
      expect(hangup.body.message).toMatch(/time limit/);
      const unchanged = await storedCall(context, callLogId);
      expect(unchanged?.status).toBe('initiated');
      expect(unchanged?.hangupRequestedAt).toBeUndefined();

      await fake.answerCall(exotelCallSid);
      await fake.finishCall(exotelCallSid, { status: 'completed', conversationDuration: 95 });
      const stored = await finalized(context, callLogId);
      expect(stored.status).toBe('completed');
      expect(stored.durationSec).toBe(95);
      expect(stored.billing).toMatchObject({ state: 'done', charged: 0.06 });
      expect(await creditsOf(context, line.user.id)).toBeCloseTo(creditsBefore - 0.06, 6);

      const again = await call(context.app, 'POST', `/api/v1/calls/${callLogId}/hangup`, {
        token: line.user.token,
      });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('CALL_ALREADY_ENDED');
    });

    it('refuses with 409 to end an answered call, which then ends once at the duration Exotel reports', async () => {
      const line = await newLine(context);
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;
      const exotelCallSid = await placed(callLogId);
      expect((await fake.answerCall(exotelCallSid)).status).toBe(200);
      await waitFor(async () =>
        (await storedCall(context, callLogId))?.status === 'in-progress' ? true : undefined,
      );
      const creditsBefore = await creditsOf(context, line.user.id);

      const hangup = await call(context.app, 'POST', `/api/v1/calls/${callLogId}/hangup`, {
        token: line.user.token,
      });
      expect(hangup.status).toBe(409);
      expect(hangup.body.code).toBe('CALL_HANGUP_UNSUPPORTED');
      expect((await storedCall(context, callLogId))?.status).toBe('in-progress');

      await fake.finishCall(exotelCallSid, { status: 'completed', conversationDuration: 400 });
      await fake.finishCall(exotelCallSid, { status: 'completed', conversationDuration: 400 });
      const stored = await finalized(context, callLogId);
      await waitForQueuesDrained(context.app, [Queues.callEvents]);
      expect(stored.durationSec).toBe(400);
      expect(await creditsOf(context, line.user.id)).toBeCloseTo(creditsBefore - 0.21, 6);
    });

    it('withdraws a call that was not sent yet: it is canceled and never placed', async () => {
      const line = await newLine(context);
      await placementQueue().pause();
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;

      const hangup = await call(context.app, 'POST', `/api/v1/calls/${callLogId}/hangup`, {
        token: line.user.token,
      });
      await placementQueue().resume();

      expect(hangup.status).toBe(200);
      expect(hangup.body.status).toBe('canceled');
      await placementSettled(callLogId);
      expect(connectRequestsFor(response.body.sessionId as string)).toHaveLength(0);
      const stored = await storedCall(context, callLogId);
      expect(stored?.status).toBe('canceled');
      expect(stored?.placement).toMatchObject({ state: 'withdrawn' });
      expect(stored?.exotelCallSid).toBeUndefined();
    });

    it('refuses with 409 to hang up a call whose connect request is in flight, and changes nothing', async () => {
      const line = await newLine(context);
      await placementQueue().pause();
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;
      await context.db
        .collection('calllogs')
        .updateOne(
          { _id: new ObjectId(callLogId) },
          { $set: { placement: { state: 'sending', requests: 1, claimedAt: new Date() } } },
        );

      const hangup = await call(context.app, 'POST', `/api/v1/calls/${callLogId}/hangup`, {
        token: line.user.token,
      });

      expect(hangup.status).toBe(409);
      expect(hangup.body.code).toBe('CALL_PLACEMENT_IN_PROGRESS');
      const stored = await storedCall(context, callLogId);
      expect(stored?.status).toBe('initiated');
      expect(stored?.placement).toMatchObject({ state: 'sending' });
      // Let the job settle it (it finds no call at Exotel and fails it) so nothing is left over.
      await placementQueue().resume();
      await placementSettled(callLogId);
    }, 30_000);

    it("treats another user's call as missing (404) and changes nothing", async () => {
      const line = await newLine(context);
      const stranger = await newLine(context);
      const response = await placeCall(context, line);
      const callLogId = response.body.id as string;
      await placed(callLogId);
      const hangup = await call(context.app, 'POST', `/api/v1/calls/${callLogId}/hangup`, {
        token: stranger.user.token,
      });
      expect(hangup.status).toBe(404);
      expect((await storedCall(context, callLogId))?.status).toBe('initiated');
    });
  });

  describe('per-user limits', () => {
    beforeAll(async () => {
      limited = await createTestContext({
        EXOTEL_API_BASE_URL: fake.baseUrl,
        OUTBOUND_CALLS_LIMIT: '2',
        MAX_CONCURRENT_CALLS: '1',
      });
      callbackTarget = () => limited;
    });

    afterAll(async () => {
      callbackTarget = () => context;
      await forgetUsers(limited);
      await limited.close();
    });

    /** Ends the call the way Exotel does (the only way once it is placed) and waits for its end. */
    const hangUp = async (_line: Line, callLogId: string): Promise<void> => {
      const exotelCallSid = await placed(callLogId, limited);
      expect((await fake.finishCall(exotelCallSid, { status: 'no-answer' })).status).toBe(200);
      await finalized(limited, callLogId);
    };

    const callsOf = (userId: string) =>
      limited.db.collection('calllogs').countDocuments({ userId: new ObjectId(userId) });

    it('refuses the call over OUTBOUND_CALLS_LIMIT per 900 s with 429 and Retry-After', async () => {
      const line = await newLine(limited);
      for (let index = 0; index < 2; index += 1) {
        const accepted = await placeCall(limited, line);
        expect(accepted.status).toBe(202);
        await hangUp(line, accepted.body.id as string);
      }
      const sessionsBefore = await limited.db.collection('sessions').countDocuments();
      const third = await placeCall(limited, line);
      expect(third.status).toBe(429);
      expect(third.body.code).toBe('CALL_RATE_LIMITED');
      const retryAfter = Number(third.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(900);
      expect(await callsOf(line.user.id)).toBe(2);
      expect(await limited.db.collection('sessions').countDocuments()).toBe(sessionsBefore);
      const key = `ratelimit:calls:outbound:${line.user.id}`;
      expect(await limited.redis.get(key)).toBe('3');
      const ttl = await limited.redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(900_000);
    });

    it('refuses a second call while the first is active (MAX_CONCURRENT_CALLS) with 429, without using up the allowance', async () => {
      const line = await newLine(limited);
      const first = await placeCall(limited, line);
      expect(first.status).toBe(202);
      const second = await placeCall(limited, line);
      expect(second.status).toBe(429);
      expect(second.body.code).toBe('CALL_TOO_MANY_ACTIVE');
      expect(await callsOf(line.user.id)).toBe(1);
      expect(await limited.redis.get(`ratelimit:calls:outbound:${line.user.id}`)).toBe('1');

      await hangUp(line, first.body.id as string);
      const afterHangup = await placeCall(limited, line);
      expect(afterHangup.status).toBe(202);
      await hangUp(line, afterHangup.body.id as string);
    });

    it('gives the last slot to exactly one of 5 simultaneous requests', async () => {
      const line = await newLine(limited);

      const responses = await Promise.all(
        Array.from({ length: 5 }, () => placeCall(limited, line)),
      );

      const accepted = responses.filter((response) => response.status === 202);
      expect(accepted).toHaveLength(1);
      expect(responses.filter((response) => response.status === 429)).toHaveLength(4);
      expect(await callsOf(line.user.id)).toBe(1);
      expect(await limited.redis.zcard(`calls:active:${line.user.id}`)).toBe(1);
      await hangUp(line, accepted[0]?.body.id as string);
      expect(await limited.redis.zcard(`calls:active:${line.user.id}`)).toBe(0);
    });
  });
});

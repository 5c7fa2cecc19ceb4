import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queues } from '../src/infra/queue/queues.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import {
  createAgent,
  createPhone,
  randomIndianNumber,
  validAgentConfig,
} from './support/catalogue-factories.js';
import { login, registerUser, setCredits, type TestUser } from './support/factories.js';
import { call, type CallResult } from './support/http.js';
import {
  type RestartableServer,
  startPrivateMongo,
  startPrivateRedis,
} from './support/private-services.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';
import { waitFor } from './support/wait-for.js';

/** The behaviour under test: a request answers within this while a dependency is down. */
const ANSWER_BOUND_MS = 3000;

interface Timed {
  response: CallResult;
  elapsedMs: number;
}

describe('faults: Redis or MongoDB stopped mid-traffic, then back', () => {
  let redis: RestartableServer | undefined;
  let mongo: RestartableServer | undefined;
  let context: TestContext;
  let user: TestUser;
  let webhookToken: string;
  let phoneNumber: string;
  let agentId: string;

  const timed = async (request: () => Promise<CallResult>): Promise<Timed> => {
    const started = performance.now();
    const response = await request();
    return { response, elapsedMs: performance.now() - started };
  };
  const me = () => timed(() => call(context.app, 'GET', '/api/v1/auth/me', { token: user.token }));
  const newAgent = () =>
    timed(() =>
      call(context.app, 'POST', '/api/v1/agents', {
        token: user.token,
        body: { name: 'Fault Drill Bot', config: validAgentConfig() },
      }),
    );
  // Not cached: every read goes to MongoDB.
  const getAgent = () =>
    timed(() => call(context.app, 'GET', `/api/v1/agents/${agentId}`, { token: user.token }));
  const ready = () => timed(() => call(context.app, 'GET', '/api/v1/health/ready'));

  /** Requests keep flowing while a dependency goes away; every answer is recorded. */
  const startTraffic = (request: () => Promise<Timed>) => {
    const answers: Timed[] = [];
    const state = { running: true };
    const loop = (async () => {
      while (state.running) {
        answers.push(await request());
        // A refused Redis command fails without I/O: give timers their turn between requests.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    return {
      answers,
      /** Resolves once `minimum` answers (with `status`, when given) have come back. */
      answered: (minimum: number, status?: number) =>
        waitFor(() => {
          const count = answers.filter(
            (answer) => status === undefined || answer.response.status === status,
          ).length;
          return Promise.resolve(count >= minimum ? true : undefined);
        }),
      stop: async () => {
        state.running = false;
        await loop;
      },
    };
  };

  const startInboundCall = async (): Promise<{ callLogId: string; callSid: string }> => {
    const callSid = `CA${new ObjectId().toString()}`;
    const response = await call(
      context.app,
      'GET',
      `/api/v1/telephony/exotel/incoming/${webhookToken}`,
      {
        query: {
          CallSid: callSid,
          CallFrom: '09123456789',
          CallTo: `0${phoneNumber.slice(3)}`,
          Direction: 'incoming',
        },
      },
    );
    expect(response.status).toBe(200);
    return { callLogId: response.body.callLogId as string, callSid };
  };
  /** Exotel reports the call completed: the webhook acks and a call-status job does the work. */
  const reportCompleted = ({ callLogId, callSid }: { callLogId: string; callSid: string }) => {
    const url = new URL(context.app.get(TelephonyService).statusCallbackUrl(callLogId));
    return call(context.app, 'POST', `${url.pathname}${url.search}`, {
      body: { CallSid: callSid, Status: 'completed', ConversationDuration: '30' },
    });
  };
  const callStatus = async (callLogId: string) =>
    (await context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) }))?.status;
  const callEvents = (): Queue => context.app.get<Queue>(getQueueToken(Queues.callEvents));

  /** An answer's status and body, and the errors the app logged, for a failing assertion. */
  const unexpected = (answer: Timed): string =>
    `${answer.response.status} ${answer.response.text}\n` +
    context
      .logs()
      .split('\n')
      .filter((line) => line.includes('"level":50'))
      .slice(-5)
      .join('\n');

  const expectUnavailable = (answer: Timed, message: string) => {
    expect(answer.response.status).toBe(503);
    expect(answer.response.body).toMatchObject({
      statusCode: 503,
      error: 'Service Unavailable',
      message,
      requestId: expect.any(String),
    });
    expect(answer.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
  };

  beforeAll(async () => {
    redis = await startPrivateRedis();
    mongo = await startPrivateMongo();
    context = await createTestContext({
      MONGODB_URI: `${mongo.url}${uniqueName('faults')}`,
      REDIS_URL: redis.url,
      // A request waits at most this long for a stopped MongoDB before answering 503.
      MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1500',
    });
    user = await registerUser(context);
    await setCredits(context, user.id, 100);
    const webhooks = await call(context.app, 'GET', '/api/v1/users/me/webhooks', {
      token: user.token,
    });
    webhookToken = (webhooks.body.incomingCallUrl as string).split('/').at(-1)!;
    agentId = (await createAgent(context, user)).id as string;
    phoneNumber = randomIndianNumber();
    await createPhone(context, user, { number: phoneNumber, agentId });
  });

  afterAll(async () => {
    try {
      await (context as TestContext | undefined)?.close();
    } finally {
      await Promise.all([redis?.dispose(), mongo?.dispose()]);
    }
  });

  describe('Redis', () => {
    it('answers 503 quickly, never 500, while Redis is stopped; readiness names redis', async () => {
      expect((await me()).response.status).toBe(200);
      const traffic = startTraffic(me);
      await traffic.answered(3);
      await redis!.stop();
      await traffic.answered(3, 503);
      await traffic.stop();
      for (const answer of traffic.answers) {
        expect([200, 503]).toContain(answer.response.status);
        expect(answer.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
      }

      const redisDown = 'Redis is unavailable, try again shortly';
      const meAnswer = await me();
      expectUnavailable(meAnswer, redisDown);
      expect(meAnswer.response.headers['retry-after']).toBe('5');
      const agentAnswer = await newAgent();
      expectUnavailable(agentAnswer, redisDown);
      const readiness = await ready();
      expect(readiness.response.status).toBe(503);
      expect(readiness.response.body.down).toEqual(['redis']);
      expect(readiness.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
      process.stderr.write(
        `[faults] Redis down: /auth/me 503 in ${meAnswer.elapsedMs.toFixed(0)} ms, ` +
          `POST /agents 503 in ${agentAnswer.elapsedMs.toFixed(0)} ms, ` +
          `readiness 503 in ${readiness.elapsedMs.toFixed(0)} ms, ` +
          `slowest answer during the stop ${Math.max(...traffic.answers.map((a) => a.elapsedMs)).toFixed(0)} ms\n`,
      );
    });

    it('serves requests again and processes queued jobs once Redis is back, without a restart', async () => {
      await redis!.start();
      await waitFor(async () => ((await ready()).response.status === 200 ? true : undefined));
      // The restarted Redis is empty: the cached token is gone, so sign in again.
      user = { ...user, token: await login(context, user) };
      expect((await me()).response.status).toBe(200);
      expect((await newAgent()).response.status).toBe(201);

      const inbound = await startInboundCall();
      expect((await reportCompleted(inbound)).status).toBe(200);
      await waitFor(
        async () => ((await callStatus(inbound.callLogId)) === 'completed' ? true : undefined),
        20_000,
        'the call-status job to run after Redis came back',
      );
    });
  });

  describe('MongoDB', () => {
    it('answers 503 quickly while MongoDB is stopped; readiness names mongodb; webhook jobs retry', async () => {
      const inbound = await startInboundCall();
      const callLogId = inbound.callLogId;
      expect((await me()).response.status).toBe(200);
      const traffic = startTraffic(getAgent);
      await traffic.answered(3);
      await mongo!.stop();
      await traffic.answered(2, 503);
      await traffic.stop();
      for (const answer of traffic.answers) {
        expect([200, 503], unexpected(answer)).toContain(answer.response.status);
        expect(answer.elapsedMs).toBeLessThan(ANSWER_BOUND_MS);
      }

      const databaseDown = 'The database is unavailable, try again shortly';
      const readAnswer = await getAgent();
      expectUnavailable(readAnswer, databaseDown);
      const agentAnswer = await newAgent();
      expectUnavailable(agentAnswer, databaseDown);
      // The token and the profile are cached in Redis: a warm /auth/me needs no MongoDB.
      expect((await me()).response.status).toBe(200);
      const readiness = await ready();
      expect(readiness.response.status).toBe(503);
      expect(readiness.response.body.down).toEqual(['mongodb']);

      // The webhook only needs Redis: it acks, and its job fails and waits for a retry.
      expect((await reportCompleted(inbound)).status).toBe(200);
      const job = await waitFor(async () => {
        const jobs = await callEvents().getJobs(['delayed', 'waiting', 'active']);
        const found = jobs.find(
          (candidate) => (candidate.data as { callLogId?: string }).callLogId === callLogId,
        );
        return found && found.attemptsMade >= 1 ? found : undefined;
      });
      expect(job.failedReason).toBeTruthy();
      process.stderr.write(
        `[faults] MongoDB down: GET /agents/:id 503 in ${readAnswer.elapsedMs.toFixed(0)} ms, ` +
          `POST /agents 503 in ${agentAnswer.elapsedMs.toFixed(0)} ms, ` +
          `readiness 503 in ${readiness.elapsedMs.toFixed(0)} ms; ` +
          `call-status job failed (${job.failedReason}) and waits for a retry\n`,
      );

      await mongo!.start();
      await waitFor(async () => ((await ready()).response.status === 200 ? true : undefined));
      expect((await me()).response.status).toBe(200);
      expect((await newAgent()).response.status).toBe(201);
      await waitFor(
        async () => ((await callStatus(callLogId)) === 'completed' ? true : undefined),
        30_000,
        'the retried call-status job to complete after MongoDB came back',
      );
      // The retry runs on BullMQ's exponential backoff, which may have grown while MongoDB was down.
    }, 60_000);
  });
});

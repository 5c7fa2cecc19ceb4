import { getQueueToken } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallEventsProcessor, toCallStatusJob } from '../src/calls/call-events.processor.js';
import { Jobs, Queues } from '../src/infra/queue/queues.js';
import { CallPlacementProcessor } from '../src/telephony/call-placement.processor.js';
import { createAgent, createPhone, randomIndianNumber } from './support/catalogue-factories.js';
import {
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  startFakeExotel,
} from './support/fake-exotel-server.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';
import { waitForJobSettled } from './support/wait-for-queue.js';

/**
 * Every queue job, delivered twice (BullMQ redelivers a job whose worker died or stalled),
 * has the effect of one delivery. The jobs: `place-call` (call-placement queue), and
 * `call-status` and `finalize-call` (call-events queue).
 */
describe('every queue job is idempotent under a second delivery', () => {
  let fake: FakeExotel;
  let context: TestContext;
  let user: TestUser;
  let phoneId: string;

  /** A job as a worker receives it: the processors only read these fields. */
  const delivery = <T>(name: string, data: T): Job<T> =>
    ({ name, data, attemptsMade: 0, opts: { attempts: 5 } }) as unknown as Job<T>;

  const storedCall = (callLogId: string) =>
    context.db.collection('calllogs').findOne({ _id: new ObjectId(callLogId) });
  const credits = async (): Promise<number> =>
    (await context.db.collection('users').findOne({ _id: new ObjectId(user.id) }))
      ?.credits as number;
  const placementQueue = (): Queue => context.app.get<Queue>(getQueueToken(Queues.callPlacement));

  /** A call recorded by POST /calls whose own placement job has not run. */
  async function recordedCall(): Promise<{ callLogId: string; sessionId: string }> {
    await placementQueue().pause();
    const response = await call(context.app, 'POST', '/api/v1/calls', {
      token: user.token,
      body: { phoneId, to: '+919123456789' },
    });
    expect(response.status).toBe(202);
    return { callLogId: response.body.id as string, sessionId: response.body.sessionId as string };
  }

  beforeAll(async () => {
    fake = await startFakeExotel();
    context = await createTestContext({ EXOTEL_API_BASE_URL: fake.baseUrl });
    user = await registerUser(context);
    await setCredits(context, user.id, 10);
    expect(
      (
        await call(context.app, 'PUT', '/api/v1/users/me/exotel-config', {
          token: user.token,
          body: {
            apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
            apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
            sid: DEFAULT_FAKE_ACCOUNT.sid,
            subdomain: 'api.in.exotel.com',
          },
        })
      ).status,
    ).toBe(200);
    const agentId = (await createAgent(context, user)).id as string;
    const phone = await createPhone(context, user, {
      number: randomIndianNumber(),
      agentId,
      exotelData: { sid: 'exophone-1', appId: '246810' },
    });
    phoneId = phone.id as string;
  });

  afterAll(async () => {
    await placementQueue().resume();
    await context.redis.del(
      `user:token:${user.id}`,
      `ratelimit:calls:outbound:${user.id}`,
      `calls:active:${user.id}`,
    );
    await context.close();
    await fake.close();
  });

  it('place-call: two deliveries at once ring the person once, and the queued one then does nothing', async () => {
    const { callLogId, sessionId } = await recordedCall();
    const processor = context.app.get(CallPlacementProcessor);

    // The loser of the claim skips, or (if it reads the claim first) looks the call up at
    // Exotel and adopts it, or asks to be retried while the request is still in flight.
    const outcomes = await Promise.allSettled([
      processor.process(delivery(Jobs.placeCall, { callLogId })),
      processor.process(delivery(Jobs.placeCall, { callLogId })),
    ]);

    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).not.toHaveLength(0);
    expect(
      outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : 'retry later')),
    ).toContain('placed');
    await placementQueue().resume();
    expect(await waitForJobSettled(context.app, Queues.callPlacement, callLogId)).toBe('completed');
    const connects = fake.requests.filter(
      (request) =>
        request.path.endsWith('/Calls/connect.json') && request.form.CustomField === sessionId,
    );
    expect(connects).toHaveLength(1);
    expect((await storedCall(callLogId))?.placement).toMatchObject({
      state: 'placed',
      requests: 1,
    });
  });

  it('call-status: a terminal event delivered twice moves the call once and charges once', async () => {
    const { callLogId } = await recordedCall();
    await placementQueue().resume();
    await waitForJobSettled(context.app, Queues.callPlacement, callLogId);
    const exotelCallSid = (await storedCall(callLogId))?.exotelCallSid as string;
    const before = await credits();
    const processor = context.app.get(CallEventsProcessor);
    const event = toCallStatusJob({
      callLogId,
      status: 'completed',
      occurredAt: new Date(),
      exotelCallSid,
      durationSec: 125,
    });

    const first = await processor.process(delivery(Jobs.callStatus, event));
    const second = await processor.process(delivery(Jobs.callStatus, event));

    expect(first).toBe('moved to completed');
    expect(second).toBe('no change');
    expect(await credits()).toBeCloseTo(before - 0.09, 6);
    expect((await storedCall(callLogId))?.billing).toMatchObject({ state: 'done', charged: 0.09 });
  });

  it('finalize-call: two deliveries at once finish the call once', async () => {
    const { callLogId } = await recordedCall();
    await placementQueue().resume();
    await waitForJobSettled(context.app, Queues.callPlacement, callLogId);
    await context.db
      .collection('calllogs')
      .updateOne(
        { _id: new ObjectId(callLogId) },
        { $set: { status: 'completed', durationSec: 61, endedAt: new Date() } },
      );
    const before = await credits();
    const processor = context.app.get(CallEventsProcessor);

    const outcomes = await Promise.all([
      processor.process(delivery(Jobs.finalizeCall, { callLogId })),
      processor.process(delivery(Jobs.finalizeCall, { callLogId })),
    ]);
    const third = await processor.process(delivery(Jobs.finalizeCall, { callLogId }));

    // The second one leaves the work to the lock's holder, or finds it done.
    expect(outcomes.filter((outcome) => outcome === 'finalized')).toHaveLength(1);
    expect(['busy', 'skipped']).toContain(outcomes.find((outcome) => outcome !== 'finalized'));
    expect(third).toBe('skipped');
    expect(await credits()).toBeCloseTo(before - 0.06, 6);
    expect((await storedCall(callLogId))?.finalizedAt).toBeInstanceOf(Date);
  });
});

import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseCommandCounts } from '../src/infra/commands/database-command-counter.js';
import { Queues } from '../src/infra/queue/queues.js';
import { TelephonyService } from '../src/telephony/telephony.service.js';
import { createAgent, createPhone, randomIndianNumber } from './support/catalogue-factories.js';
import { countCommands } from './support/command-count.js';
import { DEFAULT_FAKE_ACCOUNT } from './support/fake-exotel-server.js';
import { registerUser, setCredits, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

/** The per-command breakdown, printed when a budget is exceeded. */
function breakdown(counts: DatabaseCommandCounts): string {
  return `MongoDB ${counts.mongoTotal} ${JSON.stringify(counts.mongo)}; Redis ${counts.redisTotal} ${JSON.stringify(counts.redis)}`;
}

/**
 * Round trips per operation, counted with the driver's command monitoring and a counter on the
 * Redis clients: these figures hold on any server and any machine. The queues are paused, so
 * no worker sends commands of its own while a request is measured.
 */
describe('database command budget', () => {
  let context: TestContext;
  let user: TestUser;
  let phoneId: string;
  const queue = (name: string): Queue => context.app.get<Queue>(getQueueToken(name));

  beforeAll(async () => {
    context = await createTestContext({ COUNT_DATABASE_COMMANDS: 'true' });
    await queue(Queues.callPlacement).pause();
    await queue(Queues.callEvents).pause();
    user = await registerUser(context);
    await setCredits(context, user.id, 10);
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
    const agent = await createAgent(context, user);
    const phone = await createPhone(context, user, {
      number: randomIndianNumber(),
      agentId: agent.id,
      exotelData: { sid: 'exophone-1', appId: '100200' },
    });
    phoneId = phone.id as string;
  });

  afterAll(async () => {
    await context.close();
  });

  it('acknowledges an Exotel status callback without a MongoDB command', async () => {
    const callLogId = new ObjectId().toHexString();
    const url = new URL(context.app.get(TelephonyService).statusCallbackUrl(callLogId));

    const { result, counts } = await countCommands(context.app, () =>
      call(context.app, 'POST', `${url.pathname}${url.search}`, {
        body: { CallSid: 'CA-budget-1', Status: 'ringing' },
      }),
    );

    expect(result.status, result.text).toBe(200);
    expect(counts.mongoTotal, breakdown(counts)).toBe(0);
    expect(await queue(Queues.callEvents).getWaitingCount()).toBe(1);
  });

  it('places an outbound call (POST /calls) within 6 MongoDB commands', async () => {
    const { result, counts } = await countCommands(context.app, () =>
      call(context.app, 'POST', '/api/v1/calls', {
        token: user.token,
        body: { phoneId, to: '+919123456789' },
      }),
    );

    expect(result.status, result.text).toBe(202);
    expect(counts.mongoTotal, breakdown(counts)).toBeLessThanOrEqual(6);
  });

  it('answers a warm GET /auth/me without a MongoDB command', async () => {
    expect((await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status).toBe(
      200,
    );

    const { result, counts } = await countCommands(context.app, () =>
      call(context.app, 'GET', '/api/v1/auth/me', { token: user.token }),
    );

    expect(result.status).toBe(200);
    expect(result.body.id).toBe(user.id);
    expect(counts.mongoTotal, breakdown(counts)).toBe(0);
  });

  it.each(['/api/v1/agents', '/api/v1/phones?tag=sales'])(
    'serves a cached page of %s without a MongoDB command',
    async (url) => {
      const cold = await call(context.app, 'GET', url, { token: user.token });
      expect(cold.status).toBe(200);

      const { result, counts } = await countCommands(context.app, () =>
        call(context.app, 'GET', url, { token: user.token }),
      );

      expect(result.status).toBe(200);
      expect(result.body).toEqual(cold.body);
      expect(counts.mongoTotal, breakdown(counts)).toBe(0);
    },
  );
});

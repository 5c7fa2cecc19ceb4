import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queues } from '../src/infra/queue/queues.js';
import { registerAdmin, registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

const DASHBOARD = '/api/v1/admin/queues';

/**
 * Spellings of `/api/v1/admin/queues{rest}` that a router may treat as the dashboard while a
 * check on the raw URL does not: percent-encoded letters, double encoding, other letter case,
 * a trailing slash and doubled slashes.
 */
function spellingsOf(rest: string): string[] {
  return [
    `/api/v1/admin/%71ueues${rest}`,
    `/api/v1/%61dmin/queues${rest}`,
    `/api/v1/admin/%2571ueues${rest}`,
    `/api/v1/%2561dmin/queues${rest}`,
    `/api/v1/Admin/Queues${rest}`,
    `/api/v1/ADMIN/QUEUES${rest}`,
    `${DASHBOARD}${rest}/`,
    `/api/v1//admin/queues${rest}`,
    `/api/v1/admin//queues${rest}`,
    `//api/v1/admin/queues${rest}`,
    `${DASHBOARD}${rest.replaceAll('/', '//')}`,
    `${DASHBOARD}${rest}?probe=1`,
    `${DASHBOARD}${rest}`,
  ];
}

const REFUSED = [401, 403, 404];

describe('queue dashboard: authorization follows the matched route, not the raw URL', () => {
  let context: TestContext;
  let user: TestUser;
  let admin: TestUser;
  const placementQueue = (): Queue => context.app.get<Queue>(getQueueToken(Queues.callPlacement));

  beforeAll(async () => {
    context = await createTestContext();
    user = await registerUser(context);
    admin = await registerAdmin(context);
  });

  afterEach(async () => {
    await placementQueue().resume();
  });

  afterAll(async () => {
    await context.redis.del(`user:token:${user.id}`, `user:token:${admin.id}`);
    await context.close();
  });

  const callers = (): Array<{ who: string; token?: string }> => [
    { who: 'an anonymous caller' },
    { who: 'a non-admin', token: user.token },
    { who: 'a forged token', token: 'not.a.jwt' },
  ];

  it.each(spellingsOf(''))('refuses the page at %s without an admin token', async (url) => {
    for (const { who, token } of callers()) {
      const response = await call(context.app, 'GET', url, {
        token,
        headers: { accept: 'application/json' },
      });
      expect(REFUSED, `${who}: ${url} answered ${response.status}`).toContain(response.status);
      expect(response.text).not.toMatch(/<html/i);
    }
  });

  it.each(spellingsOf('/api/queues'))(
    "refuses the dashboard's queue list at %s without an admin token",
    async (url) => {
      for (const { who, token } of callers()) {
        const response = await call(context.app, 'GET', url, { token });
        expect(REFUSED, `${who}: ${url} answered ${response.status}`).toContain(response.status);
        expect(response.text).not.toContain(Queues.callPlacement);
      }
    },
  );

  it.each([
    ...spellingsOf('/api/queues/call-placement/pause'),
    `${DASHBOARD}/api/queues/%63all-placement/pause`,
  ])('refuses to pause a queue through %s without an admin token', async (url) => {
    for (const { who, token } of callers()) {
      const response = await call(context.app, 'PUT', url, { token });
      expect(REFUSED, `${who}: ${url} answered ${response.status}`).toContain(response.status);
    }
    expect(await placementQueue().isPaused()).toBe(false);
  });

  it('refuses a HEAD request for the page without a token', async () => {
    for (const url of spellingsOf('')) {
      const response = await context.app
        .getHttpAdapter()
        .getInstance()
        .inject({ method: 'HEAD', url });
      expect(REFUSED, `${url} answered ${response.statusCode}`).toContain(response.statusCode);
    }
  });

  it('still lets an admin bearer token pause and resume a queue', async () => {
    const paused = await call(context.app, 'PUT', `${DASHBOARD}/api/queues/call-placement/pause`, {
      token: admin.token,
    });
    expect(paused.status).toBe(200);
    expect(await placementQueue().isPaused()).toBe(true);
    const resumed = await call(
      context.app,
      'PUT',
      `${DASHBOARD}/api/queues/call-placement/resume`,
      { token: admin.token },
    );
    expect(resumed.status).toBe(200);
    expect(await placementQueue().isPaused()).toBe(false);
  });
});

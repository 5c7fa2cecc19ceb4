import { randomInt } from 'node:crypto';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queues } from '../src/infra/queue/queues.js';
import { registerAdmin, registerUser, type TestUser } from './support/factories.js';
import { call, type CallResult } from './support/http.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

const DASHBOARD = '/api/v1/admin/queues';
const SIGN_IN = '/api/v1/admin/queue-dashboard/sign-in';
const SIGN_OUT = '/api/v1/admin/queue-dashboard/sign-out';
const HOST = 'dashboard.example.test';
const SAME_ORIGIN = { host: HOST, origin: `http://${HOST}` };
const PAUSE = `${DASHBOARD}/api/queues/${Queues.callPlacement}/pause`;

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function setCookiesOf(response: CallResult): string[] {
  const header = response.headers['set-cookie'];
  return header === undefined ? [] : [header].flat().map(String);
}

const addressBase = `10.${randomInt(0, 256)}.${randomInt(0, 256)}`;
let addressCount = 0;

/** A client address of its own, so per-IP limits never mix between tests or runs. */
function someAddress(): string {
  addressCount += 1;
  return `${addressBase}.${addressCount}`;
}

async function signIn(
  context: TestContext,
  credentials: { email: string; password: string },
  headers: Record<string, string> = SAME_ORIGIN,
  remoteAddress = someAddress(),
): Promise<CallResult> {
  return call(context.app, 'POST', SIGN_IN, {
    rawBody: form({ email: credentials.email, password: credentials.password }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    remoteAddress,
  });
}

/** The `name=value` pair a browser would send back. */
function cookieOf(response: CallResult): string {
  const cookie = setCookiesOf(response)[0];
  if (cookie === undefined) {
    throw new Error(`no cookie set: ${response.status} ${response.text}`);
  }
  return cookie.split(';')[0] ?? '';
}

describe('queue dashboard: browser sign-in with a cookie', () => {
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

  it('serves a plain sign-in form that is never cached', async () => {
    const response = await call(context.app, 'GET', SIGN_IN);
    expect(response.status).toBe(200);
    expect(String(response.headers['content-type'])).toContain('text/html');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.text).toContain(`<form method="post" action="${SIGN_IN}">`);
    expect(response.text).toContain('name="email"');
    expect(response.text).toContain('name="password" type="password"');
  });

  it('sends an anonymous browser from the dashboard page to the sign-in form', async () => {
    for (const url of [DASHBOARD, `${DASHBOARD}/queue/${Queues.callEvents}`]) {
      const response = await call(context.app, 'GET', url, {
        headers: { accept: 'text/html,application/xhtml+xml' },
      });
      expect(response.status).toBe(303);
      expect(response.headers.location).toBe(SIGN_IN);
    }
  });

  it("answers an anonymous call to the dashboard's API with 401 in the API's error shape", async () => {
    const response = await call(context.app, 'GET', `${DASHBOARD}/api/queues`);
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({
      statusCode: 401,
      error: 'Unauthorized',
      code: 'QUEUE_DASHBOARD_SIGN_IN_REQUIRED',
    });
    expect(response.body.requestId).toEqual(expect.any(String));
  });

  it('signs an admin in with a short-lived, HttpOnly, SameSite=Strict cookie scoped to the dashboard', async () => {
    const response = await signIn(context, admin);
    expect(response.status).toBe(303);
    expect(response.headers.location).toBe(DASHBOARD);
    const cookies = setCookiesOf(response);
    expect(cookies).toHaveLength(1);
    const attributes = (cookies[0] ?? '').split('; ');
    expect(attributes[0]).toMatch(/^queue_dashboard_session=[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(attributes).toEqual(
      expect.arrayContaining([`Path=${DASHBOARD}`, 'Max-Age=900', 'HttpOnly', 'SameSite=Strict']),
    );
    // Tests run outside production, over plain HTTP; production adds Secure (unit-tested).
    expect(attributes).not.toContain('Secure');

    const cookie = cookieOf(response);
    const page = await call(context.app, 'GET', DASHBOARD, {
      headers: { cookie, accept: 'text/html' },
    });
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<html/i);
    const queues = await call(context.app, 'GET', `${DASHBOARD}/api/queues`, {
      headers: { cookie },
    });
    expect(queues.status).toBe(200);
    expect(queues.text).toContain(Queues.callEvents);
    expect(queues.text).toContain(Queues.callPlacement);
    // The browser sign-in issues no API token, so the admin's scripts keep theirs.
    expect((await call(context.app, 'GET', '/api/v1/auth/me', { token: admin.token })).status).toBe(
      200,
    );
  });

  it('shows the form again with a generic message and 401 for a wrong password or an unknown email', async () => {
    for (const credentials of [
      { email: admin.email, password: 'not the password' },
      { email: `${uniqueName('nobody')}@example.com`, password: 'not the password' },
    ]) {
      const response = await signIn(context, credentials);
      expect(response.status).toBe(401);
      expect(String(response.headers['content-type'])).toContain('text/html');
      expect(response.text).toContain('Email or password is incorrect.');
      expect(response.text).toContain('name="password"');
      expect(setCookiesOf(response)).toEqual([]);
    }
  });

  it('refuses a non-admin with 403 and sets no cookie', async () => {
    const response = await signIn(context, user);
    expect(response.status).toBe(403);
    expect(response.text).toContain('This account cannot open the queue dashboard.');
    expect(setCookiesOf(response)).toEqual([]);
  });

  it('refuses a sign-in posted from another site, or with no origin at all, and sets no cookie', async () => {
    const notFromOurPage: Array<Record<string, string>> = [
      { host: HOST, origin: 'https://attacker.example' },
      { host: HOST, origin: `http://${HOST}`, 'sec-fetch-site': 'cross-site' },
      { host: HOST, 'sec-fetch-site': 'same-site' },
      { host: HOST },
    ];
    for (const headers of notFromOurPage) {
      const response = await signIn(context, admin, headers);
      expect(response.status, JSON.stringify(headers)).toBe(403);
      expect(setCookiesOf(response)).toEqual([]);
    }
  });

  it('accepts a sign-in that the browser marks same-origin', async () => {
    const response = await signIn(context, admin, { host: HOST, 'sec-fetch-site': 'same-origin' });
    expect(response.status).toBe(303);
    expect(setCookiesOf(response)).toHaveLength(1);
  });

  it('answers a sign-in form without a password with 400 and the form again', async () => {
    const response = await signIn(context, { email: admin.email, password: '' });
    expect(response.status).toBe(400);
    expect(response.text).toContain('Enter an email address and a password.');
    expect(setCookiesOf(response)).toEqual([]);
  });

  it('lets a state-changing dashboard request on the cookie through only from our own origin', async () => {
    const cookie = cookieOf(await signIn(context, admin));
    const notFromTheDashboard: Array<Record<string, string>> = [
      {},
      { host: HOST, origin: 'https://attacker.example' },
      { host: HOST, origin: 'null' },
      { host: HOST, 'sec-fetch-site': 'cross-site' },
      { host: HOST, 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of notFromTheDashboard) {
      const refused = await call(context.app, 'PUT', PAUSE, { headers: { cookie, ...headers } });
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(refused.body).toMatchObject({ code: 'QUEUE_DASHBOARD_CROSS_SITE_REQUEST' });
      expect(await placementQueue().isPaused()).toBe(false);
    }
    const fromDashboard = await call(context.app, 'PUT', PAUSE, {
      headers: { cookie, host: HOST, 'sec-fetch-site': 'same-origin' },
    });
    expect(fromDashboard.status).toBe(200);
    expect(await placementQueue().isPaused()).toBe(true);
  });

  it('ends cookie access at once when the admin is demoted or deactivated', async () => {
    const other = await registerAdmin(context);
    const cookie = cookieOf(await signIn(context, other));
    const users = context.db.collection('users');
    const queuesWith = (): Promise<CallResult> =>
      call(context.app, 'GET', `${DASHBOARD}/api/queues`, { headers: { cookie } });
    expect((await queuesWith()).status).toBe(200);

    await users.updateOne({ _id: new ObjectId(other.id) }, { $set: { role: 'user' } });
    const demoted = await queuesWith();
    expect(demoted.status).toBe(403);
    expect(demoted.text).not.toContain(Queues.callPlacement);

    await users.updateOne(
      { _id: new ObjectId(other.id) },
      { $set: { role: 'admin', isActive: false } },
    );
    const deactivated = await queuesWith();
    expect(deactivated.status).toBe(401);
    expect(deactivated.text).not.toContain(Queues.callPlacement);
    await context.redis.del(`user:token:${other.id}`);
  });

  it('never takes an API token as the cookie, nor the cookie token as a bearer token', async () => {
    const apiTokenAsCookie = await call(context.app, 'GET', `${DASHBOARD}/api/queues`, {
      headers: { cookie: `queue_dashboard_session=${admin.token}` },
    });
    expect(apiTokenAsCookie.status).toBe(401);

    const sessionToken = cookieOf(await signIn(context, admin)).split('=')[1] ?? '';
    expect(sessionToken).not.toBe('');
    const asBearerOnTheApi = await call(context.app, 'GET', '/api/v1/auth/me', {
      token: sessionToken,
    });
    expect(asBearerOnTheApi.status).toBe(401);
    const asBearerOnTheDashboard = await call(context.app, 'GET', `${DASHBOARD}/api/queues`, {
      token: sessionToken,
    });
    expect(asBearerOnTheDashboard.status).toBe(401);
  });

  it('refuses a forged or tampered cookie', async () => {
    const cookie = cookieOf(await signIn(context, admin));
    const tampered = `${cookie.slice(0, -2)}${cookie.endsWith('A') ? 'B' : 'A'}`;
    for (const value of [tampered, 'queue_dashboard_session=not.a.jwt']) {
      const response = await call(context.app, 'GET', `${DASHBOARD}/api/queues`, {
        headers: { cookie: value },
      });
      expect(response.status).toBe(401);
    }
  });

  it('signs out by clearing the cookie on the dashboard path', async () => {
    const response = await call(context.app, 'POST', SIGN_OUT, { headers: SAME_ORIGIN });
    expect(response.status).toBe(303);
    expect(response.headers.location).toBe(SIGN_IN);
    const cleared = setCookiesOf(response)[0] ?? '';
    expect(cleared).toMatch(/^queue_dashboard_session=;/);
    expect(cleared).toContain(`Path=${DASHBOARD}`);
    expect(cleared).toContain('Max-Age=0');
    const crossSite = await call(context.app, 'POST', SIGN_OUT, {
      headers: { host: HOST, origin: 'https://attacker.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(setCookiesOf(crossSite)).toEqual([]);
  });
});

describe('queue dashboard: sign-in attempts share the login limits', () => {
  let context: TestContext;
  let admin: Pick<TestUser, 'email' | 'password'>;

  /** Registers from an address of its own: the loopback's register budget is shared by every file. */
  async function registerFromElsewhere(): Promise<Pick<TestUser, 'id' | 'email' | 'password'>> {
    const email = `${uniqueName('limited')}@example.com`;
    const password = 'correct horse battery';
    const response = await call(context.app, 'POST', '/api/v1/auth/register', {
      body: { email, password, name: 'Limited' },
      remoteAddress: someAddress(),
    });
    expect(response.status).toBe(201);
    await context.redis.del(`user:token:${response.body.user.id}`);
    return { id: response.body.user.id, email, password };
  }

  beforeAll(async () => {
    context = await createTestContext({ THROTTLE_AUTH_LIMIT: '3' });
    const registered = await registerFromElsewhere();
    await context.db
      .collection('users')
      .updateOne({ _id: new ObjectId(registered.id) }, { $set: { role: 'admin' } });
    admin = registered;
  });

  afterAll(async () => {
    await context.close();
  });

  it('stops sign-ins for one email from one address after the failure limit, even with the right password', async () => {
    const address = someAddress();
    const guess = { email: admin.email, password: 'wrong password' };
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await signIn(context, guess, SAME_ORIGIN, address)).status).toBe(401);
    }
    const blocked = await signIn(context, admin, SAME_ORIGIN, address);
    expect(blocked.status).toBe(429);
    expect(blocked.headers['retry-after']).toMatch(/^\d+$/);
    expect(blocked.text).toContain('Too many sign-in attempts.');
    expect(setCookiesOf(blocked)).toEqual([]);
    // Failures from that address never lock the admin out from another one.
    expect((await signIn(context, admin, SAME_ORIGIN, someAddress())).status).toBe(303);
  });

  it('counts dashboard sign-ins and API logins for one email from one address together', async () => {
    const victim = await registerFromElsewhere();
    const address = someAddress();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await signIn(
        context,
        { email: victim.email, password: 'wrong password' },
        SAME_ORIGIN,
        address,
      );
      expect(response.status).toBe(401);
    }
    const apiLogin = await call(context.app, 'POST', '/api/v1/auth/login', {
      body: { email: victim.email, password: victim.password },
      remoteAddress: address,
    });
    expect(apiLogin.status).toBe(429);
  });
});

import { JwtService } from '@nestjs/jwt';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

describe('auth', () => {
  let context: TestContext;
  const usersCount = (): Promise<number> => context.db.collection('users').countDocuments();

  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    await context.close();
  });

  describe('register', () => {
    it('creates a user with a lower-cased email and returns a token without secrets', async () => {
      const email = `${uniqueName('Mixed')}@Example.COM`;
      const response = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: { email, password: 'password123', name: 'Jane' },
      });
      expect(response.status).toBe(201);
      expect(response.body.accessToken).toEqual(expect.any(String));
      expect(response.body.user).toMatchObject({
        email: email.toLowerCase(),
        name: 'Jane',
        role: 'user',
        credits: 0,
        isActive: true,
      });
      expect(response.body.user).not.toHaveProperty('password');
      expect(response.body.user).not.toHaveProperty('_id');
      expect(response.body.user).not.toHaveProperty('__v');
      expect(response.body.user).not.toHaveProperty('webhookToken');
      const stored = await context.db.collection('users').findOne({ email: email.toLowerCase() });
      expect(stored?.password).toMatch(/^\$2[aby]\$/);
      const cached = await context.redis.get(`user:token:${response.body.user.id}`);
      expect(cached).toBe(response.body.accessToken);
      expect(await context.redis.ttl(`user:token:${response.body.user.id}`)).toBeGreaterThan(
        604000,
      );
    });

    it('refuses a duplicate email whatever its case with 409', async () => {
      const user = await registerUser(context);
      const before = await usersCount();
      const response = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: { email: user.email.toUpperCase(), password: 'password123', name: 'Copy' },
      });
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('AUTH_EMAIL_TAKEN');
      expect(await usersCount()).toBe(before);
    });

    it('lets exactly one of many concurrent registrations of one email succeed', async () => {
      const email = `${uniqueName('race')}@example.com`;
      const responses = await Promise.all(
        Array.from({ length: 10 }, () =>
          call(context.app, 'POST', '/api/v1/auth/register', {
            body: { email, password: 'password123', name: 'Race' },
          }),
        ),
      );
      expect(responses.filter((response) => response.status === 201)).toHaveLength(1);
      expect(responses.filter((response) => response.status === 409)).toHaveLength(9);
    });

    it.each([
      ['a missing email', { password: 'password123', name: 'X' }, 'email'],
      ['an invalid email', { email: 'not-an-email', password: 'password123', name: 'X' }, 'email'],
      [
        'a 7-character password',
        { email: 'seven@example.com', password: '1234567', name: 'X' },
        'password',
      ],
      ['an empty name', { email: 'empty@example.com', password: 'password123', name: '' }, 'name'],
      [
        'a 101-character name',
        { email: 'long@example.com', password: 'password123', name: 'x'.repeat(101) },
        'name',
      ],
      [
        'a numeric password',
        { email: 'num@example.com', password: 12345678, name: 'X' },
        'password',
      ],
      [
        'an unknown field',
        { email: 'extra@example.com', password: 'password123', name: 'X', role: 'admin' },
        'role',
      ],
    ])('refuses %s with 400 naming the field and stores nothing', async (_case, body, field) => {
      const before = await usersCount();
      const response = await call(context.app, 'POST', '/api/v1/auth/register', { body });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect(response.body.requestId).toEqual(expect.any(String));
      expect(await usersCount()).toBe(before);
    });

    it('lists every failing field at once', async () => {
      const response = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: { email: 'x', password: 'short', name: '' },
      });
      expect(response.status).toBe(400);
      const messages = (response.body.message as string[]).join(' ');
      expect(messages).toContain('email');
      expect(messages).toContain('password');
      expect(messages).toContain('name');
    });

    it('accepts exactly 8-character passwords and 100-character names', async () => {
      const response = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: {
          email: `${uniqueName('edge')}@example.com`,
          password: '12345678',
          name: 'n'.repeat(100),
        },
      });
      expect(response.status).toBe(201);
    });

    it('answers malformed JSON with 400 and an oversized body with 413', async () => {
      const malformed = await call(context.app, 'POST', '/api/v1/auth/register', {
        rawBody: '{"email": "a@b.co", ',
        headers: { 'content-type': 'application/json' },
      });
      expect(malformed.status).toBe(400);
      expect(malformed.body.requestId).toEqual(expect.any(String));
      const oversized = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: {
          email: 'big@example.com',
          password: 'password123',
          name: 'x'.repeat(context.config.bodyLimitBytes + 10),
        },
      });
      expect(oversized.status).toBe(413);
      expect(oversized.body.statusCode).toBe(413);
    });
  });

  describe('login', () => {
    it('returns a new token and records lastLoginAt', async () => {
      const user = await registerUser(context);
      const response = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email.toUpperCase(), password: user.password },
      });
      expect(response.status).toBe(200);
      expect(response.body.user.lastLoginAt).toEqual(expect.any(String));
      const stored = await context.db.collection('users').findOne({ _id: new ObjectId(user.id) });
      expect(stored?.lastLoginAt).toBeInstanceOf(Date);
      // The new token replaces the one from registration.
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(401);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: response.body.accessToken }))
          .status,
      ).toBe(200);
    });

    it('refuses a wrong password or unknown email with the same 401', async () => {
      const user = await registerUser(context);
      const wrong = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email, password: 'wrong password' },
      });
      const unknown = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: 'nobody@example.com', password: 'whatever1' },
      });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect(wrong.body.message).toBe(unknown.body.message);
    });

    it('refuses operator injection in the email with 400, never a login', async () => {
      await registerUser(context);
      const response = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: { $ne: null }, password: { $ne: null } },
      });
      expect(response.status).toBe(400);
      expect(response.body.accessToken).toBeUndefined();
    });

    it('refuses a deactivated account with 403', async () => {
      const user = await registerUser(context);
      await context.db
        .collection('users')
        .updateOne({ _id: new ObjectId(user.id) }, { $set: { isActive: false } });
      const response = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email, password: user.password },
      });
      expect(response.status).toBe(403);
    });
  });

  describe('tokens', () => {
    it('serves /auth/me to the holder of the current token', async () => {
      const user = await registerUser(context);
      const response = await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ id: user.id, email: user.email });
    });

    it('revokes the token at logout', async () => {
      const user = await registerUser(context);
      expect(
        (await call(context.app, 'POST', '/api/v1/auth/logout', { token: user.token })).status,
      ).toBe(204);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(401);
      // The key keeps a revocation marker, never the token.
      expect(await context.redis.get(`user:token:${user.id}`)).not.toBe(user.token);
    });

    it('refuses a missing, malformed, forged or expired token with 401', async () => {
      const user = await registerUser(context);
      const forged = await new JwtService({
        secret: 'another-secret-another-secret-another',
      }).signAsync({ sub: user.id, role: 'admin' });
      const expired = await new JwtService({ secret: context.config.jwt.secret }).signAsync(
        { sub: user.id, role: 'user' },
        { expiresIn: -10 },
      );
      // Even a correctly signed token is refused when it is not the cached one.
      const notCurrent = await new JwtService({ secret: context.config.jwt.secret }).signAsync({
        sub: user.id,
        role: 'user',
      });
      for (const token of [undefined, 'garbage', forged, expired, notCurrent]) {
        const response = await call(context.app, 'GET', '/api/v1/auth/me', { token });
        expect(response.status).toBe(401);
        expect(response.body.requestId).toEqual(expect.any(String));
      }
    });

    it('logs in again after logout', async () => {
      const user = await registerUser(context);
      await call(context.app, 'POST', '/api/v1/auth/logout', { token: user.token });
      const token = await login(context, user);
      expect((await call(context.app, 'GET', '/api/v1/auth/me', { token })).status).toBe(200);
    });
  });

  describe('password length in bytes (bcrypt reads only 72)', () => {
    // 36 two-byte characters: 36 characters but 72 bytes; one more ASCII letter makes 73.
    const seventyTwoBytes = 'é'.repeat(36);
    const seventyThreeBytes = `${seventyTwoBytes}a`;

    it('refuses a 73-byte password of 37 characters at register with 400 naming the field', async () => {
      const before = await usersCount();
      const response = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: {
          email: `${uniqueName('bytes')}@example.com`,
          password: seventyThreeBytes,
          name: 'B',
        },
      });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain('password must be at most 72 bytes');
      expect(await usersCount()).toBe(before);
    });

    it('accepts a 72-byte password and only that password logs in', async () => {
      const email = `${uniqueName('bytes')}@example.com`;
      const registered = await call(context.app, 'POST', '/api/v1/auth/register', {
        body: { email, password: seventyTwoBytes, name: 'B' },
      });
      expect(registered.status).toBe(201);
      const almost = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email, password: 'é'.repeat(35) },
      });
      expect(almost.status).toBe(401);
      const exact = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email, password: seventyTwoBytes },
      });
      expect(exact.status).toBe(200);
    });
  });

  describe('POST /auth/change-password', () => {
    const CHANGE_URL = '/api/v1/auth/change-password';

    it('changes the password, revokes the token and answers 204; only the new password logs in', async () => {
      const user = await registerUser(context);
      const response = await call(context.app, 'POST', CHANGE_URL, {
        token: user.token,
        body: { currentPassword: user.password, newPassword: 'a brand new passphrase' },
      });
      expect(response.status).toBe(204);
      expect(await context.redis.get(`user:token:${user.id}`)).not.toBe(user.token);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(401);
      const withOld = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email, password: user.password },
      });
      expect(withOld.status).toBe(401);
      const token = await login(context, { email: user.email, password: 'a brand new passphrase' });
      expect((await call(context.app, 'GET', '/api/v1/auth/me', { token })).status).toBe(200);
    });

    it('refuses a wrong current password with 403, changing nothing and keeping the token', async () => {
      const user = await registerUser(context);
      const before = await context.db.collection('users').findOne({ _id: new ObjectId(user.id) });
      const response = await call(context.app, 'POST', CHANGE_URL, {
        token: user.token,
        body: { currentPassword: 'not my password', newPassword: 'a brand new passphrase' },
      });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('AUTH_WRONG_CURRENT_PASSWORD');
      const after = await context.db.collection('users').findOne({ _id: new ObjectId(user.id) });
      expect(after?.password).toBe(before?.password);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(200);
    });

    it.each([
      [
        'a 73-byte new password of multi-byte characters',
        { newPassword: `${'ü'.repeat(36)}x` },
        'newPassword must be at most 72 bytes',
      ],
      ['a 7-character new password', { newPassword: '1234567' }, 'newPassword'],
      ['a missing current password', { currentPassword: undefined }, 'currentPassword'],
    ])('refuses %s with 400 naming the field', async (_case, override, expected) => {
      const user = await registerUser(context);
      const response = await call(context.app, 'POST', CHANGE_URL, {
        token: user.token,
        body: {
          currentPassword: user.password,
          newPassword: 'a brand new passphrase',
          ...override,
        },
      });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(expected);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(200);
    });

    it('refuses a request without a token with 401', async () => {
      const response = await call(context.app, 'POST', CHANGE_URL, {
        body: { currentPassword: 'whatever1', newPassword: 'a brand new passphrase' },
      });
      expect(response.status).toBe(401);
    });

    it('throttles wrong current passwords like logins, with 429', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '2' });
      try {
        const email = `${uniqueName('change')}@example.com`;
        const registered = await call(throttled.app, 'POST', '/api/v1/auth/register', {
          body: { email, password: 'correct horse battery', name: 'C' },
          remoteAddress: `10.9.${Math.floor(Math.random() * 250)}.1`,
        });
        const token = registered.body.accessToken as string;
        const statuses: number[] = [];
        for (const currentPassword of ['wrong one', 'wrong two', 'correct horse battery']) {
          statuses.push(
            (
              await call(throttled.app, 'POST', CHANGE_URL, {
                token,
                body: { currentPassword, newPassword: 'a brand new passphrase' },
              })
            ).status,
          );
        }
        expect(statuses).toEqual([403, 403, 429]);
      } finally {
        await throttled.close();
      }
    });
  });

  describe('throttling', () => {
    const randomAddress = (prefix: string): string =>
      `${prefix}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;

    /** A new account, registered from an address of its own so register limits stay apart. */
    const registerFresh = async (throttled: TestContext): Promise<TestUser> => {
      const email = `${uniqueName('owner')}@example.com`;
      const password = 'correct horse battery';
      const response = await call(throttled.app, 'POST', '/api/v1/auth/register', {
        body: { email, password, name: 'Owner' },
        remoteAddress: randomAddress('10.30'),
      });
      expect(response.status).toBe(201);
      return { id: response.body.user.id, email, password, token: response.body.accessToken };
    };

    const loginStatus = async (
      app: TestContext['app'],
      body: { email: string; password: string },
      remoteAddress: string,
      headers: Record<string, string> = {},
    ): Promise<number> =>
      (
        await call(app, 'POST', '/api/v1/auth/login', {
          body: { email: body.email, password: body.password },
          remoteAddress,
          headers,
        })
      ).status;

    it('lets the owner log in from their IP after 20 failures for their email from other IPs', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '3' });
      try {
        const admin = await registerFresh(throttled);
        const failures: number[] = [];
        for (let attempt = 0; attempt < 20; attempt += 1) {
          failures.push(
            await loginStatus(
              throttled.app,
              { email: admin.email, password: 'guessed wrong' },
              `10.2.${attempt}.${Math.floor(Math.random() * 250)}`,
            ),
          );
        }
        expect(failures).toEqual(Array.from({ length: 20 }, () => 401));
        expect(await loginStatus(throttled.app, admin, randomAddress('10.20'))).toBe(200);
      } finally {
        await throttled.close();
      }
    });

    it('throttles failures for one email from one IP with 429 and Retry-After, even with the right password', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '3' });
      try {
        const user = await registerFresh(throttled);
        const address = randomAddress('10.1');
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 4; attempt += 1) {
          statuses.push(
            await loginStatus(throttled.app, { email: user.email, password: 'wrong' }, address),
          );
        }
        const blocked = await call(throttled.app, 'POST', '/api/v1/auth/login', {
          body: { email: user.email, password: user.password },
          remoteAddress: address,
        });
        expect([...statuses, blocked.status]).toEqual([401, 401, 401, 429, 429]);
        expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
        expect(
          await throttled.redis.exists(
            `ratelimit:auth:login:pair:email:${user.email}:${address}`,
            `ratelimit:auth:login:ip:${address}`,
          ),
        ).toBe(2);
        // Another address is not affected by this pair's failures.
        expect(await loginStatus(throttled.app, user, randomAddress('10.21'))).toBe(200);
      } finally {
        await throttled.close();
      }
    });

    it('starts the count again after a successful login', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '3' });
      try {
        const user = await registerFresh(throttled);
        const address = randomAddress('10.4');
        const wrong = { email: user.email, password: 'wrong' };
        const statuses = [
          await loginStatus(throttled.app, wrong, address),
          await loginStatus(throttled.app, wrong, address),
          await loginStatus(throttled.app, user, address),
          await loginStatus(throttled.app, wrong, address),
          await loginStatus(throttled.app, wrong, address),
          await loginStatus(throttled.app, wrong, address),
          await loginStatus(throttled.app, wrong, address),
        ];
        expect(statuses).toEqual([401, 401, 200, 401, 401, 401, 429]);
      } finally {
        await throttled.close();
      }
    });

    it('caps failures from one IP across many emails (THROTTLE_AUTH_IP_LIMIT)', async () => {
      const throttled = await createTestContext({
        THROTTLE_AUTH_LIMIT: '3',
        THROTTLE_AUTH_IP_LIMIT: '5',
      });
      try {
        const address = randomAddress('10.5');
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 7; attempt += 1) {
          statuses.push(
            await loginStatus(
              throttled.app,
              { email: `${uniqueName('spray')}@example.com`, password: 'whatever1' },
              address,
            ),
          );
        }
        expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      } finally {
        await throttled.close();
      }
    });

    it('limits registrations per IP', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '2' });
      try {
        const address = randomAddress('10.6');
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 3; attempt += 1) {
          const response = await call(throttled.app, 'POST', '/api/v1/auth/register', {
            body: {
              email: `${uniqueName('reg')}@example.com`,
              password: 'password123',
              name: 'R',
            },
            remoteAddress: address,
          });
          statuses.push(response.status);
        }
        expect(statuses).toEqual([201, 201, 429]);
        expect(await throttled.redis.exists(`ratelimit:auth:register:ip:${address}`)).toBe(1);
      } finally {
        await throttled.close();
      }
    });

    it('ignores X-Forwarded-For unless TRUST_PROXY names the peer', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '2' });
      try {
        const email = `${uniqueName('xff')}@example.com`;
        const proxy = randomAddress('10.7');
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 3; attempt += 1) {
          statuses.push(
            await loginStatus(throttled.app, { email, password: 'whatever1' }, proxy, {
              'x-forwarded-for': `203.0.113.${attempt + 1}`,
            }),
          );
        }
        // Every "client" counted as the peer itself: one pair, throttled.
        expect(statuses).toEqual([401, 401, 429]);
        expect(await throttled.redis.exists(`ratelimit:auth:login:ip:${proxy}`)).toBe(1);
      } finally {
        await throttled.close();
      }
    });

    it('takes the client IP from X-Forwarded-For set by the trusted proxy (TRUST_PROXY)', async () => {
      const throttled = await createTestContext({
        THROTTLE_AUTH_LIMIT: '2',
        TRUST_PROXY: '10.8.0.0/16',
      });
      try {
        const email = `${uniqueName('xff')}@example.com`;
        const proxy = randomAddress('10.8');
        const client = (attempt: number): string => `198.51.100.${attempt + 1}`;
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 3; attempt += 1) {
          statuses.push(
            await loginStatus(throttled.app, { email, password: 'whatever1' }, proxy, {
              'x-forwarded-for': client(attempt),
            }),
          );
        }
        expect(statuses).toEqual([401, 401, 401]);
        expect(await throttled.redis.exists(`ratelimit:auth:login:ip:${client(0)}`)).toBe(1);
        expect(await throttled.redis.exists(`ratelimit:auth:login:ip:${proxy}`)).toBe(0);
        // The same client behind the proxy is throttled on its own address.
        expect(
          await loginStatus(throttled.app, { email, password: 'whatever1' }, proxy, {
            'x-forwarded-for': client(0),
          }),
        ).toBe(401);
        expect(
          await loginStatus(throttled.app, { email, password: 'whatever1' }, proxy, {
            'x-forwarded-for': client(0),
          }),
        ).toBe(429);
      } finally {
        await throttled.close();
      }
    });

    it('applies the global limit to authenticated routes', async () => {
      const throttled = await createTestContext({
        THROTTLE_LIMIT: '3',
        THROTTLE_TTL_SECONDS: '60',
      });
      try {
        const user = await registerUser(throttled);
        const address = `10.3.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 4; attempt += 1) {
          statuses.push(
            (
              await call(throttled.app, 'GET', '/api/v1/auth/me', {
                token: user.token,
                remoteAddress: address,
              })
            ).status,
          );
        }
        expect(statuses).toEqual([200, 200, 200, 429]);
        // The limit and the token are checked together; a refused limit still answers first.
        const forged = { token: 'not.a.jwt', remoteAddress: address };
        expect((await call(throttled.app, 'GET', '/api/v1/auth/me', forged)).status).toBe(429);
        const elsewhere = { token: 'not.a.jwt', remoteAddress: `${address}1` };
        expect((await call(throttled.app, 'GET', '/api/v1/auth/me', elsewhere)).status).toBe(401);
      } finally {
        await throttled.close();
      }
    });
  });
});

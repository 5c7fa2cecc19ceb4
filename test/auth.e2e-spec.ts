import { JwtService } from '@nestjs/jwt';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, registerUser } from './support/factories.js';
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
      expect(await context.redis.exists(`user:token:${user.id}`)).toBe(0);
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

  describe('throttling', () => {
    it('limits login attempts per IP with 429 and Retry-After, in Redis', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '3' });
      try {
        const address = `10.1.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
        const statuses: number[] = [];
        let last;
        for (let attempt = 0; attempt < 5; attempt += 1) {
          last = await call(throttled.app, 'POST', '/api/v1/auth/login', {
            body: { email: `${uniqueName('ip')}@example.com`, password: 'whatever1' },
            remoteAddress: address,
          });
          statuses.push(last.status);
        }
        expect(statuses).toEqual([401, 401, 401, 429, 429]);
        expect(Number(last?.headers['retry-after'])).toBeGreaterThan(0);
        expect(await throttled.redis.exists(`ratelimit:auth:login:ip:${address}`)).toBe(1);
      } finally {
        await throttled.close();
      }
    });

    it('limits login attempts per email across IPs', async () => {
      const throttled = await createTestContext({ THROTTLE_AUTH_LIMIT: '2' });
      try {
        const email = `${uniqueName('target')}@example.com`;
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 3; attempt += 1) {
          const response = await call(throttled.app, 'POST', '/api/v1/auth/login', {
            body: { email, password: 'whatever1' },
            remoteAddress: `10.2.${attempt}.${Math.floor(Math.random() * 250)}`,
          });
          statuses.push(response.status);
        }
        expect(statuses).toEqual([401, 401, 429]);
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
      } finally {
        await throttled.close();
      }
    });
  });
});

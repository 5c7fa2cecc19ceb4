import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonText } from '../src/common/decorators/json-text.decorator.js';
import type { UserResponse } from '../src/users/dto/user.response.js';
import { UserProfileCache } from '../src/users/user-profile.cache.js';
import { countCommands } from './support/command-count.js';
import { login, registerAdmin, registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

const EXOTEL_CONFIG = {
  apiKey: 'EXapikey123',
  apiToken: 'a-secret-exotel-token',
  sid: 'acme1',
  subdomain: 'api.exotel.com',
};

/**
 * GET /auth/me answers from the profile cached at `user:profile:{userId}` once warm. Each test
 * warms it first (and checks that the warm request read no MongoDB), then changes the user the
 * way the API does, and expects the very next request to see the change.
 */
describe('GET /auth/me from the profile cache', () => {
  let context: TestContext;
  let admin: TestUser;

  const me = (token: string) => call(context.app, 'GET', '/api/v1/auth/me', { token });

  /** Warms the cache and proves it is warm: the second request sends no MongoDB command. */
  const warm = async (user: TestUser): Promise<Record<string, unknown>> => {
    expect((await me(user.token)).status).toBe(200);
    const { result, counts } = await countCommands(context.app, () => me(user.token));
    expect(result.status).toBe(200);
    expect(counts.mongoTotal, JSON.stringify(counts.mongo)).toBe(0);
    return result.body as Record<string, unknown>;
  };

  beforeAll(async () => {
    context = await createTestContext({ COUNT_DATABASE_COMMANDS: 'true' });
    admin = await registerAdmin(context);
  });

  afterAll(async () => {
    await context.close();
  });

  it('answers with the same JSON as a cold read, as application/json', async () => {
    const user = await registerUser(context, { name: 'Cached Person' });
    const cold = await me(user.token);
    const warmed = await me(user.token);
    expect(cold.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(warmed.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(warmed.text).toBe(cold.text);
    expect(warmed.body).toMatchObject({ id: user.id, name: 'Cached Person', role: 'user' });
    expect(warmed.body.password).toBeUndefined();
  });

  it('refuses the token on the next request after logout', async () => {
    const user = await registerUser(context);
    await warm(user);
    expect(
      (await call(context.app, 'POST', '/api/v1/auth/logout', { token: user.token })).status,
    ).toBe(204);
    expect((await me(user.token)).status).toBe(401);
  });

  it('refuses the token on the next request after a password change', async () => {
    const user = await registerUser(context);
    await warm(user);
    const changed = await call(context.app, 'POST', '/api/v1/auth/change-password', {
      token: user.token,
      body: { currentPassword: user.password, newPassword: 'another long passphrase' },
    });
    expect(changed.status).toBe(204);
    expect((await me(user.token)).status).toBe(401);
  });

  it('refuses the token on the next request after deactivation by an admin', async () => {
    const user = await registerUser(context);
    await warm(user);
    const patched = await call(context.app, 'PATCH', `/api/v1/admin/users/${user.id}`, {
      token: admin.token,
      body: { isActive: false },
    });
    expect(patched.status).toBe(200);
    expect((await me(user.token)).status).toBe(401);
  });

  it('refuses the old token after a role change by an admin; the new login sees the new role', async () => {
    const user = await registerUser(context);
    await warm(user);
    const patched = await call(context.app, 'PATCH', `/api/v1/admin/users/${user.id}`, {
      token: admin.token,
      body: { role: 'admin' },
    });
    expect(patched.status).toBe(200);
    expect((await me(user.token)).status).toBe(401);
    const response = await me(await login(context, user));
    expect(response.status).toBe(200);
    expect(response.body.role).toBe('admin');
  });

  it('shows updated Exotel settings on the next request', async () => {
    const user = await registerUser(context);
    expect((await warm(user)).exotelConfig).toBeNull();
    const updated = await call(context.app, 'PUT', '/api/v1/users/me/exotel-config', {
      token: user.token,
      body: EXOTEL_CONFIG,
    });
    expect(updated.status).toBe(200);
    const response = await me(user.token);
    expect(response.body.exotelConfig).toEqual({
      apiKey: EXOTEL_CONFIG.apiKey,
      sid: EXOTEL_CONFIG.sid,
      subdomain: EXOTEL_CONFIG.subdomain,
      apiTokenSet: true,
    });
    expect(response.body.updatedAt).toBe(updated.body.updatedAt);
  });

  it('shows credits an admin added on the next request', async () => {
    const user = await registerUser(context);
    expect((await warm(user)).credits).toBe(0);
    const adjusted = await call(context.app, 'POST', `/api/v1/admin/users/${user.id}/credits`, {
      token: admin.token,
      body: { amount: 25, reason: 'top-up' },
    });
    expect(adjusted.status).toBe(200);
    expect((await me(user.token)).body.credits).toBe(25);
  });

  it('shows the new login time after signing in again', async () => {
    const user = await registerUser(context);
    expect((await warm(user)).lastLoginAt).toBeNull();
    const token = await login(context, user);
    const response = await me(token);
    expect(typeof response.body.lastLoginAt).toBe('string');
  });

  it('does not store a profile read from MongoDB before a change that landed meanwhile', async () => {
    const user = await registerUser(context);
    const profiles = context.app.get(UserProfileCache);
    // A reader notes the version, then (slowly) reads the user while an admin adds credits.
    const before = await profiles.read(user.id);
    const stale = JSON.stringify({ ...(await me(user.token)).body, credits: 0 });
    await context.redis.hdel(`user:profile:${user.id}`, 'json');
    const adjusted = await call(context.app, 'POST', `/api/v1/admin/users/${user.id}/credits`, {
      token: admin.token,
      body: { amount: 7, reason: 'top-up' },
    });
    expect(adjusted.status).toBe(200);
    await profiles.store(user.id, before.version, stale as JsonText<UserResponse>);
    expect((await me(user.token)).body.credits).toBe(7);
  });
});

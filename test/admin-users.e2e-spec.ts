import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  login,
  registerAdmin,
  registerUser,
  setCredits,
  type TestUser,
} from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

const ADMIN_USERS_URL = '/api/v1/admin/users';

describe('admin users', () => {
  // Passport keeps one global 'jwt' strategy per process, so the most recently created app
  // verifies every app's tokens: each block owns one context, and blocks never overlap.
  let context: TestContext;
  let admin: TestUser;

  const storedUser = (userId: string, target: TestContext = context) =>
    target.db.collection('users').findOne({ _id: new ObjectId(userId) });

  const useOwnContext = (): void => {
    beforeAll(async () => {
      context = await createTestContext();
      admin = await registerAdmin(context);
    });
    afterAll(async () => {
      await context.close();
    });
  };

  describe('access', () => {
    useOwnContext();

    it('refuses every admin route to a non-admin with 403 and changes nothing', async () => {
      const user = await registerUser(context);
      const target = await registerUser(context);
      const before = await storedUser(target.id);
      const responses = await Promise.all([
        call(context.app, 'GET', ADMIN_USERS_URL, { token: user.token }),
        call(context.app, 'PATCH', `${ADMIN_USERS_URL}/${target.id}`, {
          token: user.token,
          body: { role: 'admin' },
        }),
        call(context.app, 'PATCH', `${ADMIN_USERS_URL}/${user.id}`, {
          token: user.token,
          body: { role: 'admin' },
        }),
        call(context.app, 'POST', `${ADMIN_USERS_URL}/${target.id}/credits`, {
          token: user.token,
          body: { amount: 100, reason: 'free money' },
        }),
      ]);
      expect(responses.map((response) => response.status)).toEqual([403, 403, 403, 403]);
      expect(await storedUser(target.id)).toEqual(before);
      expect((await storedUser(user.id))?.role).toBe('user');
    });

    it('refuses every admin route without a token with 401', async () => {
      const target = await registerUser(context);
      const responses = await Promise.all([
        call(context.app, 'GET', ADMIN_USERS_URL),
        call(context.app, 'PATCH', `${ADMIN_USERS_URL}/${target.id}`, { body: { role: 'admin' } }),
        call(context.app, 'POST', `${ADMIN_USERS_URL}/${target.id}/credits`, {
          body: { amount: 100, reason: 'free money' },
        }),
      ]);
      expect(responses.map((response) => response.status)).toEqual([401, 401, 401]);
      expect((await storedUser(target.id))?.role).toBe('user');
      expect((await storedUser(target.id))?.credits).toBe(0);
    });
  });

  describe('GET /admin/users', () => {
    useOwnContext();
    const prefix = uniqueName('Pager').toLowerCase();

    beforeAll(async () => {
      // The block's own database holds exactly the admin and these six users.
      for (let index = 0; index < 5; index += 1) {
        await registerUser(context, { email: `${prefix}${index}@example.com` });
      }
      const inactive = await registerUser(context, { email: `inactive_${prefix}@example.com` });
      await context.db
        .collection('users')
        .updateOne({ _id: new ObjectId(inactive.id) }, { $set: { isActive: false } });
    });

    const list = (query: Record<string, string>) =>
      call(context.app, 'GET', ADMIN_USERS_URL, { token: admin.token, query });

    it('pages through every user with page, limit and total', async () => {
      const first = await list({ limit: '4', page: '1' });
      const second = await list({ limit: '4', page: '2' });
      expect(first.status).toBe(200);
      expect(first.body.meta).toEqual({ page: 1, limit: 4, total: 7 });
      expect(second.body.meta).toEqual({ page: 2, limit: 4, total: 7 });
      expect(first.body.data).toHaveLength(4);
      expect(second.body.data).toHaveLength(3);
      const ids = [...first.body.data, ...second.body.data].map((user: { id: string }) => user.id);
      expect(new Set(ids).size).toBe(7);
      for (const user of [...first.body.data, ...second.body.data]) {
        expect(user).not.toHaveProperty('password');
        expect(user).not.toHaveProperty('_id');
        expect(user).not.toHaveProperty('webhookToken');
      }
    });

    it('defaults to page 1 and 20 per page', async () => {
      const response = await list({});
      expect(response.status).toBe(200);
      expect(response.body.meta).toEqual({ page: 1, limit: 20, total: 7 });
    });

    it('filters by role', async () => {
      const admins = await list({ role: 'admin' });
      expect(admins.body.meta.total).toBe(1);
      expect(admins.body.data.map((user: { id: string }) => user.id)).toEqual([admin.id]);
      const users = await list({ role: 'user' });
      expect(users.body.meta.total).toBe(6);
      expect(users.body.data.every((user: { role: string }) => user.role === 'user')).toBe(true);
    });

    it('filters by isActive given as true or false', async () => {
      const inactive = await list({ isActive: 'false' });
      expect(inactive.status).toBe(200);
      expect(inactive.body.meta.total).toBe(1);
      expect(inactive.body.data[0].email).toBe(`inactive_${prefix}@example.com`);
      const active = await list({ isActive: 'true' });
      expect(active.body.meta.total).toBe(6);
      expect(active.body.data.every((user: { isActive: boolean }) => user.isActive)).toBe(true);
    });

    it('searches by email prefix, whatever its case', async () => {
      const response = await list({ email: prefix.toUpperCase() });
      expect(response.status).toBe(200);
      expect(response.body.meta.total).toBe(5);
      expect(
        response.body.data.every((user: { email: string }) => user.email.startsWith(prefix)),
      ).toBe(true);
      // A prefix, not a substring: the inactive user's email contains it further in.
      const inside = await list({ email: prefix.slice(2) });
      expect(inside.body.meta.total).toBe(0);
    });

    it('treats regex characters in the email search literally', async () => {
      const response = await list({ email: '.*' });
      expect(response.status).toBe(200);
      expect(response.body.meta.total).toBe(0);
    });

    it.each([
      ['isActive=maybe', { isActive: 'maybe' }, 'isActive'],
      ['limit=0', { limit: '0' }, 'limit'],
      ['limit=101', { limit: '101' }, 'limit'],
      ['limit=abc', { limit: 'abc' }, 'limit'],
      ['page=0', { page: '0' }, 'page'],
      ['role=superuser', { role: 'superuser' }, 'role'],
      ['an unknown parameter', { sort: 'email' }, 'sort'],
    ])('refuses %s with 400 naming the parameter', async (_case, query, field) => {
      const response = await list(query);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
    });

    it('accepts the largest page size, 100', async () => {
      const response = await list({ limit: '100' });
      expect(response.status).toBe(200);
      expect(response.body.meta.limit).toBe(100);
    });
  });

  describe('PATCH /admin/users/:id', () => {
    useOwnContext();

    const patch = (id: string, body: unknown, token = admin.token) =>
      call(context.app, 'PATCH', `${ADMIN_USERS_URL}/${id}`, { token, body });

    it('promotes a user to admin and revokes the token that carried the old role', async () => {
      const user = await registerUser(context);
      const response = await patch(user.id, { role: 'admin' });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ id: user.id, role: 'admin', isActive: true });
      expect((await storedUser(user.id))?.role).toBe('admin');
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(401);
      const adminToken = await login(context, user);
      expect((await call(context.app, 'GET', ADMIN_USERS_URL, { token: adminToken })).status).toBe(
        200,
      );
    });

    it('deactivates a user: their token is refused at once and their login gets 403', async () => {
      const user = await registerUser(context);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(200);
      const response = await patch(user.id, { isActive: false });
      expect(response.status).toBe(200);
      expect(response.body.isActive).toBe(false);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(401);
      const loginResponse = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email, password: user.password },
      });
      expect(loginResponse.status).toBe(403);
      expect(loginResponse.body.accessToken).toBeUndefined();
    });

    it('reactivates a user, who can then log in', async () => {
      const user = await registerUser(context);
      await patch(user.id, { isActive: false });
      const response = await patch(user.id, { isActive: true });
      expect(response.status).toBe(200);
      const token = await login(context, user);
      expect((await call(context.app, 'GET', '/api/v1/auth/me', { token })).status).toBe(200);
    });

    it('keeps the token when nothing changes', async () => {
      const user = await registerUser(context);
      const response = await patch(user.id, { role: 'user', isActive: true });
      expect(response.status).toBe(200);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(200);
    });

    it.each([
      ['an unknown field', { role: 'admin', credits: 1000 }, 'credits'],
      ['an unknown role', { role: 'owner' }, 'role'],
      ['isActive as a string', { isActive: 'false' }, 'isActive'],
    ])('refuses %s with 400 and changes nothing', async (_case, body, field) => {
      const user = await registerUser(context);
      const before = await storedUser(user.id);
      const response = await patch(user.id, body);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect(await storedUser(user.id)).toEqual(before);
      expect(
        (await call(context.app, 'GET', '/api/v1/auth/me', { token: user.token })).status,
      ).toBe(200);
    });

    it('refuses an id that is not an ObjectId with 400', async () => {
      const response = await patch('123', { role: 'admin' });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain('id');
    });

    it('answers 404 for a well-formed id of nobody', async () => {
      const response = await patch(new ObjectId().toHexString(), { role: 'admin' });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('USER_NOT_FOUND');
    });
  });

  describe('the last active admin', () => {
    let lonely: TestContext;

    beforeAll(async () => {
      // No admin but the ones these tests make.
      lonely = await createTestContext();
    });
    afterAll(async () => {
      await lonely.close();
    });

    const patch = (token: string, id: string, body: unknown) =>
      call(lonely.app, 'PATCH', `${ADMIN_USERS_URL}/${id}`, { token, body });

    it('cannot be demoted or deactivated (409), and stays unchanged', async () => {
      const only = await registerAdmin(lonely);
      const before = await storedUser(only.id, lonely);
      for (const body of [
        { role: 'user' },
        { isActive: false },
        { role: 'user', isActive: false },
      ]) {
        const response = await patch(only.token, only.id, body);
        expect(response.status).toBe(409);
        expect(response.body.code).toBe('USER_LAST_ADMIN');
      }
      expect(await storedUser(only.id, lonely)).toEqual(before);
      expect((await call(lonely.app, 'GET', ADMIN_USERS_URL, { token: only.token })).status).toBe(
        200,
      );
    });

    it('can be demoted or deactivated when another active admin exists', async () => {
      const first = await registerAdmin(lonely);
      const second = await registerAdmin(lonely);
      const demoted = await patch(first.token, second.id, { role: 'user' });
      expect(demoted.status).toBe(200);
      expect((await storedUser(second.id, lonely))?.role).toBe('user');
      const third = await registerAdmin(lonely);
      const deactivated = await patch(third.token, first.id, { isActive: false });
      expect(deactivated.status).toBe(200);
      expect((await storedUser(first.id, lonely))?.isActive).toBe(false);
    });

    it('does not count an inactive admin as another admin', async () => {
      const admins = await lonely.db
        .collection('users')
        .find({ role: 'admin', isActive: true })
        .toArray();
      // Deactivate every active admin but one, so an inactive admin exists beside it.
      const [keeper, ...others] = admins;
      for (const other of others) {
        await lonely.db
          .collection('users')
          .updateOne({ _id: other._id }, { $set: { isActive: false } });
      }
      const token = await login(lonely, {
        email: keeper?.email as string,
        password: 'correct horse battery',
      });
      const response = await patch(token, keeper!._id.toHexString(), { role: 'user' });
      expect(response.status).toBe(409);
      expect((await lonely.db.collection('users').findOne({ _id: keeper!._id }))?.role).toBe(
        'admin',
      );
    });
  });

  describe('POST /admin/users/:id/credits', () => {
    useOwnContext();

    const adjust = (id: string, body: unknown) =>
      call(context.app, 'POST', `${ADMIN_USERS_URL}/${id}/credits`, { token: admin.token, body });
    const creditsOf = async (id: string) => (await storedUser(id))?.credits as number;

    it('adds and removes credits, and refuses to go below 0 with 409', async () => {
      const user = await registerUser(context);
      const added = await adjust(user.id, { amount: 50, reason: 'top-up' });
      expect(added.status).toBe(200);
      expect(added.body.credits).toBe(50);
      const removed = await adjust(user.id, { amount: -20, reason: 'correction' });
      expect(removed.status).toBe(200);
      expect(removed.body.credits).toBe(30);
      const tooMuch = await adjust(user.id, { amount: -31, reason: 'too much' });
      expect(tooMuch.status).toBe(409);
      expect(tooMuch.body.code).toBe('USER_INSUFFICIENT_CREDITS');
      expect(await creditsOf(user.id)).toBe(30);
      const exact = await adjust(user.id, { amount: -30, reason: 'all of it' });
      expect(exact.status).toBe(200);
      expect(await creditsOf(user.id)).toBe(0);
    });

    it.each([
      ['amount 0', { amount: 0, reason: 'nothing' }, 'amount'],
      ['a missing reason', { amount: 10 }, 'reason'],
      ['an empty reason', { amount: 10, reason: '' }, 'reason'],
      ['amount as a string', { amount: '10', reason: 'text' }, 'amount'],
      ['a missing amount', { reason: 'no amount' }, 'amount'],
      ['an unknown field', { amount: 10, reason: 'x', currency: 'INR' }, 'currency'],
    ])('refuses %s with 400 and keeps the balance', async (_case, body, field) => {
      const user = await registerUser(context);
      await setCredits(context, user.id, 30);
      const response = await adjust(user.id, body);
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body.message)).toContain(field);
      expect(await creditsOf(user.id)).toBe(30);
    });

    it('refuses a malformed id with 400 and answers 404 for an unknown one', async () => {
      expect((await adjust('123', { amount: 10, reason: 'x' })).status).toBe(400);
      const unknown = await adjust(new ObjectId().toHexString(), { amount: 10, reason: 'x' });
      expect(unknown.status).toBe(404);
      const unknownDebit = await adjust(new ObjectId().toHexString(), { amount: -10, reason: 'x' });
      expect(unknownDebit.status).toBe(404);
    });

    it('lets exactly 10 of 20 concurrent -10 debits on 100 succeed, never going negative', async () => {
      const user = await registerUser(context);
      await setCredits(context, user.id, 100);
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          adjust(user.id, { amount: -10, reason: `debit ${index}` }),
        ),
      );
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(10);
      expect(statuses.filter((status) => status === 409)).toHaveLength(10);
      // Each accepted debit saw its own balance: no two were applied to the same one.
      const balances = responses
        .filter((response) => response.status === 200)
        .map((response) => response.body.credits as number)
        .sort((a, b) => a - b);
      expect(balances).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
      expect(await creditsOf(user.id)).toBe(0);
    });
  });
});

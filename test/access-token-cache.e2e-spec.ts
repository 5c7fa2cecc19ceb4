import { JwtService } from '@nestjs/jwt';
import { ObjectId } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AccessTokenStore } from '../src/users/access-token.store.js';
import { UsersRepository } from '../src/users/users.repository.js';
import { login, registerAdmin, registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

/**
 * Redis only caches the current token (`user:token:{userId}`); the user document names it
 * (`currentTokenId`). Deleting one user's key stands in for a Redis restart: the test Redis is
 * shared, so it is never flushed.
 */
describe('access tokens when Redis loses them', () => {
  let context: TestContext;
  let admin: TestUser;
  const createdUserIds: string[] = [];

  const key = (userId: string): string => `user:token:${userId}`;
  const me = (token: string) => call(context.app, 'GET', '/api/v1/auth/me', { token });
  const storedTokenId = async (userId: string): Promise<unknown> =>
    (await context.db.collection('users').findOne({ _id: new ObjectId(userId) }))?.currentTokenId;
  const jtiOf = (token: string): unknown => new JwtService().decode<{ jti?: unknown }>(token).jti;
  const newUser = async (): Promise<TestUser> => {
    const user = await registerUser(context);
    createdUserIds.push(user.id);
    return user;
  };

  beforeAll(async () => {
    context = await createTestContext();
    admin = await registerAdmin(context);
    createdUserIds.push(admin.id);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await context.redis.del(...createdUserIds.map(key));
    await context.close();
  });

  it('names the issued token on the user document at register and at login', async () => {
    const user = await newUser();
    expect(await storedTokenId(user.id)).toBe(jtiOf(user.token));
    const token = await login(context, user);
    expect(await storedTokenId(user.id)).toBe(jtiOf(token));
    expect(jtiOf(token)).not.toBe(jtiOf(user.token));
  });

  it('keeps accepting the current token after its key is lost, and warms the key again', async () => {
    const user = await newUser();
    await context.redis.del(key(user.id));
    const response = await me(user.token);
    expect(response.status).toBe(200);
    expect(response.body.id).toBe(user.id);
    expect(await context.redis.get(key(user.id))).toBe(user.token);
    const ttl = await context.redis.ttl(key(user.id));
    expect(ttl).toBeGreaterThan(604000);
    expect(ttl).toBeLessThanOrEqual(604800);
  });

  it('warms the key only for what is left of the token’s life', async () => {
    const user = await newUser();
    // The same token as the app would issue, but signed two hours ago.
    const jwt = new JwtService({ secret: context.config.jwt.secret });
    const tokenId = new ObjectId().toHexString();
    const issuedAt = Math.floor(Date.now() / 1000) - 7200;
    const older = await jwt.signAsync(
      { sub: user.id, role: 'user', iat: issuedAt },
      { jwtid: tokenId, expiresIn: 3 * 3600 },
    );
    await context.db
      .collection('users')
      .updateOne({ _id: new ObjectId(user.id) }, { $set: { currentTokenId: tokenId } });
    await context.redis.del(key(user.id));
    expect((await me(older)).status).toBe(200);
    const ttl = await context.redis.ttl(key(user.id));
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('does not read MongoDB while the key holds the token', async () => {
    const user = await newUser();
    const reads = vi.spyOn(context.app.get(UsersRepository), 'findTokenState');
    expect((await me(user.token)).status).toBe(200);
    expect(reads).not.toHaveBeenCalled();
    await context.redis.del(key(user.id));
    expect((await me(user.token)).status).toBe(200);
    expect(reads).toHaveBeenCalled();
  });

  it('refuses a token from before a newer login, even when the key is lost', async () => {
    const user = await newUser();
    const newer = await login(context, user);
    await context.redis.del(key(user.id));
    expect((await me(user.token)).status).toBe(401);
    expect(await context.redis.get(key(user.id))).toBeNull();
    expect((await me(newer)).status).toBe(200);
    expect(await context.redis.get(key(user.id))).toBe(newer);
    expect((await me(user.token)).status).toBe(401);
  });

  it('refuses a correctly signed token whose id the user document does not name', async () => {
    const user = await newUser();
    const jwt = new JwtService({ secret: context.config.jwt.secret });
    const withoutId = await jwt.signAsync({ sub: user.id, role: 'user' }, { expiresIn: 600 });
    const otherId = await jwt.signAsync(
      { sub: user.id, role: 'user' },
      { expiresIn: 600, jwtid: 'not-the-current-one' },
    );
    await context.redis.del(key(user.id));
    expect((await me(withoutId)).status).toBe(401);
    expect((await me(otherId)).status).toBe(401);
    expect((await me(user.token)).status).toBe(200);
  });

  it('treats a user without currentTokenId (before this field existed) as signed out on a miss', async () => {
    const user = await newUser();
    await context.db
      .collection('users')
      .updateOne({ _id: new ObjectId(user.id) }, { $unset: { currentTokenId: 1 } });
    // While the key holds the token it keeps working, so a deploy alone logs nobody out.
    expect((await me(user.token)).status).toBe(200);
    await context.redis.del(key(user.id));
    expect((await me(user.token)).status).toBe(401);
    const token = await login(context, user);
    await context.redis.del(key(user.id));
    expect((await me(token)).status).toBe(200);
  });

  describe('a revoked token stays revoked when the key is lost afterwards', () => {
    it('after logout', async () => {
      const user = await newUser();
      expect(
        (await call(context.app, 'POST', '/api/v1/auth/logout', { token: user.token })).status,
      ).toBe(204);
      expect(await storedTokenId(user.id)).toBeUndefined();
      expect((await me(user.token)).status).toBe(401);
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
      expect(await context.redis.get(key(user.id))).toBeNull();
    });

    it('after deactivation by an admin', async () => {
      const user = await newUser();
      const response = await call(context.app, 'PATCH', `/api/v1/admin/users/${user.id}`, {
        token: admin.token,
        body: { isActive: false },
      });
      expect(response.status).toBe(200);
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
      // Reactivating does not bring the old token back either.
      await call(context.app, 'PATCH', `/api/v1/admin/users/${user.id}`, {
        token: admin.token,
        body: { isActive: true },
      });
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
    });

    it('after a role change by an admin', async () => {
      const user = await newUser();
      const response = await call(context.app, 'PATCH', `/api/v1/admin/users/${user.id}`, {
        token: admin.token,
        body: { role: 'admin' },
      });
      expect(response.status).toBe(200);
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
      const adminToken = await login(context, user);
      await context.redis.del(key(user.id));
      expect(
        (await call(context.app, 'GET', '/api/v1/admin/users', { token: adminToken })).status,
      ).toBe(200);
    });

    it('after a password change', async () => {
      const user = await newUser();
      const response = await call(context.app, 'POST', '/api/v1/auth/change-password', {
        token: user.token,
        body: { currentPassword: user.password, newPassword: 'another long passphrase' },
      });
      expect(response.status).toBe(204);
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
    });

    it('after the role was changed directly in the database, even if the token id still matches', async () => {
      const user = await newUser();
      await context.db
        .collection('users')
        .updateOne({ _id: new ObjectId(user.id) }, { $set: { role: 'admin' } });
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
    });
  });

  describe('a revocation racing a re-warm', () => {
    const store = (): AccessTokenStore => context.app.get(AccessTokenStore);

    it('wins when it lands between the MongoDB read and the Redis write', async () => {
      const user = await newUser();
      const repository = context.app.get(UsersRepository);
      const read = repository.findTokenState.bind(repository);
      vi.spyOn(repository, 'findTokenState').mockImplementationOnce(async (userId) => {
        const state = await read(userId);
        await store().revoke(userId);
        return state;
      });
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
      expect(await context.redis.get(key(user.id))).not.toBe(user.token);
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
    });

    it('wins when Redis also loses the revocation before the re-warm writes', async () => {
      const user = await newUser();
      const repository = context.app.get(UsersRepository);
      const read = repository.findTokenState.bind(repository);
      vi.spyOn(repository, 'findTokenState').mockImplementationOnce(async (userId) => {
        const state = await read(userId);
        await store().revoke(userId);
        await context.redis.del(key(userId));
        return state;
      });
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
      expect(await context.redis.get(key(user.id))).toBeNull();
      expect((await me(user.token)).status).toBe(401);
    });

    it('wins when it lands after the Redis write', async () => {
      const user = await newUser();
      const repository = context.app.get(UsersRepository);
      const read = repository.findTokenState.bind(repository);
      // The second read is the re-warm's check after writing; the revocation's MongoDB write
      // lands just before it, its Redis write just after.
      vi.spyOn(repository, 'findTokenState')
        .mockImplementationOnce(read)
        .mockImplementationOnce(async (userId) => {
          expect(await context.redis.get(key(userId))).toBe(user.token);
          await repository.clearCurrentToken(userId);
          return read(userId);
        });
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
      expect(await context.redis.get(key(user.id))).toBeNull();
      await store().revoke(user.id);
      expect((await me(user.token)).status).toBe(401);
    });

    it('leaves the token refused after many concurrent misses and a logout', async () => {
      const user = await newUser();
      await context.redis.del(key(user.id));
      const [logout] = await Promise.all([
        call(context.app, 'POST', '/api/v1/auth/logout', { token: user.token }),
        ...Array.from({ length: 20 }, () => me(user.token)),
      ]);
      expect(logout.status).toBe(204);
      expect(await context.redis.get(key(user.id))).not.toBe(user.token);
      expect((await me(user.token)).status).toBe(401);
      await context.redis.del(key(user.id));
      expect((await me(user.token)).status).toBe(401);
    });
  });

  describe('a login racing an admin', () => {
    it('is refused with 403 when the account is deactivated before its token is stored', async () => {
      const user = await newUser();
      const repository = context.app.get(UsersRepository);
      const claim = repository.claimCurrentToken.bind(repository);
      vi.spyOn(repository, 'claimCurrentToken').mockImplementationOnce(async (userId, token) => {
        await context.db
          .collection('users')
          .updateOne({ _id: new ObjectId(userId.toString()) }, { $set: { isActive: false } });
        return claim(userId, token);
      });
      const response = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email, password: user.password },
      });
      expect(response.status).toBe(403);
      expect(response.body.accessToken).toBeUndefined();
      expect(await storedTokenId(user.id)).toBe(jtiOf(user.token));
    });

    it('hands out a token with the new role when the role changes before its token is stored', async () => {
      const user = await newUser();
      const repository = context.app.get(UsersRepository);
      const claim = repository.claimCurrentToken.bind(repository);
      vi.spyOn(repository, 'claimCurrentToken').mockImplementationOnce(async (userId, token) => {
        await context.db
          .collection('users')
          .updateOne({ _id: new ObjectId(userId.toString()) }, { $set: { role: 'admin' } });
        return claim(userId, token);
      });
      const response = await call(context.app, 'POST', '/api/v1/auth/login', {
        body: { email: user.email, password: user.password },
      });
      expect(response.status).toBe(200);
      expect(response.body.user.role).toBe('admin');
      const token = response.body.accessToken as string;
      expect(new JwtService().decode<{ role: string }>(token).role).toBe('admin');
      expect(await storedTokenId(user.id)).toBe(jtiOf(token));
    });
  });
});

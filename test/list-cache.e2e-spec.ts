import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAgent,
  createPhone,
  randomIndianNumber,
  validAgentConfig,
} from './support/catalogue-factories.js';
import { registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

type Body = Record<string, any>;

/**
 * The list caches of agents and phones (`cache:api:{route}:{userId}:page:{params}`).
 * To tell a cached answer from a fresh one, documents are written straight into the database,
 * behind the API's back: a cached list does not show them, a fresh one does.
 */
describe('list caches', () => {
  let context: TestContext;
  const users: TestUser[] = [];

  const newUser = async (): Promise<TestUser> => {
    const user = await registerUser(context);
    users.push(user);
    return user;
  };

  const scanKeys = async (pattern: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await context.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };

  const insertAgentBehindTheApi = async (user: TestUser, name: string): Promise<void> => {
    const now = new Date();
    await context.db.collection('agents').insertOne({
      userId: new ObjectId(user.id),
      name,
      config: validAgentConfig(),
      isActive: true,
      stats: { totalCalls: 0, totalDuration: 0, avgDuration: 0, successRate: 0 },
      createdAt: now,
      updatedAt: now,
    });
  };

  const insertPhoneBehindTheApi = async (user: TestUser, tags: string[]): Promise<string> => {
    const now = new Date();
    const number = randomIndianNumber();
    await context.db.collection('phones').insertOne({
      userId: new ObjectId(user.id),
      number,
      country: 'IN',
      provider: 'exotel',
      tags,
      status: 'active',
      createdAt: now,
      updatedAt: now,
    });
    return number;
  };

  beforeAll(async () => {
    context = await createTestContext();
  });
  afterAll(async () => {
    // Only this file's keys: other test files share the Redis.
    for (const user of users) {
      const keys = await scanKeys(`cache:api:*${user.id}*`);
      if (keys.length > 0) {
        await context.redis.del(...keys);
      }
    }
    await context.close();
  });

  describe('GET /agents', () => {
    const listNames = async (user: TestUser, query: Record<string, string> = {}) => {
      const response = await call(context.app, 'GET', '/api/v1/agents', {
        token: user.token,
        query,
      });
      expect(response.status).toBe(200);
      return (response.body.data as Body[]).map((agent) => agent.name as string);
    };

    it('serves a repeated list from Redis under the user’s key for at most 60 s', async () => {
      const user = await newUser();
      await createAgent(context, user, { name: 'First' });
      expect(await listNames(user)).toEqual(['First']);

      const keys = await scanKeys(`cache:api:agents:list:${user.id}:*`);
      expect(keys).toHaveLength(1);
      const ttl = await context.redis.pttl(keys[0] ?? '');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);

      await insertAgentBehindTheApi(user, 'Hidden');
      expect(await listNames(user)).toEqual(['First']);
    });

    it('never serves a page stored under an earlier generation of the user’s lists', async () => {
      const user = await newUser();
      await createAgent(context, user, { name: 'Current' });
      expect(await listNames(user)).toEqual(['Current']);
      const [key] = await scanKeys(`cache:api:agents:list:${user.id}:*`);
      const stale = JSON.stringify({ data: [{ name: 'Stale' }], meta: { page: 1, limit: 20 } });
      await context.redis.set(key ?? '', `an-earlier-generation\n${stale}`, 'PX', 60_000);
      expect(await listNames(user)).toEqual(['Current']);
      // Loaded again and stored behind the current generation, then served from Redis.
      expect(await context.redis.get(key ?? '')).not.toContain('Stale');
      await insertAgentBehindTheApi(user, 'Hidden');
      expect(await listNames(user)).toEqual(['Current']);
    });

    it('shows the user’s own create, update and delete on the very next read', async () => {
      const user = await newUser();
      const agent = await createAgent(context, user, { name: 'Original' });
      expect(await listNames(user)).toEqual(['Original']);
      expect(await listNames(user, { isActive: 'true' })).toEqual(['Original']);

      const created = await createAgent(context, user, { name: 'Created' });
      expect(await listNames(user)).toEqual(['Created', 'Original']);
      expect(await listNames(user, { isActive: 'true' })).toEqual(['Created', 'Original']);

      const patched = await call(context.app, 'PATCH', `/api/v1/agents/${agent.id}`, {
        token: user.token,
        body: { name: 'Renamed', isActive: false },
      });
      expect(patched.status).toBe(200);
      expect(await listNames(user)).toEqual(['Created', 'Renamed']);
      expect(await listNames(user, { isActive: 'true' })).toEqual(['Created']);

      const deleted = await call(context.app, 'DELETE', `/api/v1/agents/${created.id}`, {
        token: user.token,
      });
      expect(deleted.status).toBe(204);
      expect(await listNames(user)).toEqual(['Renamed']);
    });

    it('keeps a user’s cached list when another user writes', async () => {
      const reader = await newUser();
      const writer = await newUser();
      await createAgent(context, reader, { name: 'Reader Agent' });
      expect(await listNames(reader)).toEqual(['Reader Agent']);
      const generationKey = `cache:api:agents:list:generation:${reader.id}`;
      const generationBefore = await context.redis.get(generationKey);

      await insertAgentBehindTheApi(reader, 'Hidden');
      const written = await createAgent(context, writer, { name: 'Writer Agent' });
      await call(context.app, 'PATCH', `/api/v1/agents/${written.id}`, {
        token: writer.token,
        body: { name: 'Writer Renamed' },
      });
      await call(context.app, 'DELETE', `/api/v1/agents/${written.id}`, { token: writer.token });

      expect(await listNames(reader)).toEqual(['Reader Agent']);
      expect(await context.redis.get(generationKey)).toBe(generationBefore);
      expect(await context.redis.get(`cache:api:agents:list:generation:${writer.id}`)).not.toBe(
        generationBefore,
      );
    });

    it('does not drop the cache on a refused write', async () => {
      const user = await newUser();
      const agent = await createAgent(context, user, { name: 'Kept' });
      expect(await listNames(user)).toEqual(['Kept']);
      await insertAgentBehindTheApi(user, 'Hidden');
      const refused = await call(context.app, 'PATCH', `/api/v1/agents/${agent.id}`, {
        token: user.token,
        body: { config: { llm: { temperature: 9 } } },
      });
      expect(refused.status).toBe(400);
      expect(await listNames(user)).toEqual(['Kept']);
    });
  });

  describe('GET /phones', () => {
    const listNumbers = async (user: TestUser, query: Record<string, string> = {}) => {
      const response = await call(context.app, 'GET', '/api/v1/phones', {
        token: user.token,
        query,
      });
      expect(response.status).toBe(200);
      return (response.body.data as Body[]).map((phone) => phone.number as string);
    };

    it('serves a repeated list from Redis under the user’s key', async () => {
      const user = await newUser();
      const phone = await createPhone(context, user, { tags: ['sales'] });
      expect(await listNumbers(user, { tag: 'sales' })).toEqual([phone.number]);

      const keys = await scanKeys(`cache:api:phones:list:${user.id}:*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toContain('tag=sales');
      const ttl = await context.redis.pttl(keys[0] ?? '');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);

      await insertPhoneBehindTheApi(user, ['sales']);
      expect(await listNumbers(user, { tag: 'sales' })).toEqual([phone.number]);
    });

    it('shows the user’s own create, update and delete on the very next read', async () => {
      const user = await newUser();
      const phone = await createPhone(context, user, { tags: ['sales'] });
      expect(await listNumbers(user)).toEqual([phone.number]);
      expect(await listNumbers(user, { tag: 'sales' })).toEqual([phone.number]);

      const created = await createPhone(context, user, { tags: ['sales'] });
      expect(await listNumbers(user)).toEqual([created.number, phone.number]);
      expect(await listNumbers(user, { tag: 'sales' })).toEqual([created.number, phone.number]);

      const patched = await call(context.app, 'PATCH', `/api/v1/phones/${phone.id}`, {
        token: user.token,
        body: { tags: ['support'] },
      });
      expect(patched.status).toBe(200);
      expect(await listNumbers(user, { tag: 'sales' })).toEqual([created.number]);
      expect(await listNumbers(user, { tag: 'support' })).toEqual([phone.number]);

      const deleted = await call(context.app, 'DELETE', `/api/v1/phones/${created.id}`, {
        token: user.token,
      });
      expect(deleted.status).toBe(204);
      expect(await listNumbers(user)).toEqual([phone.number]);
    });

    it('keeps a user’s cached list when another user writes', async () => {
      const reader = await newUser();
      const writer = await newUser();
      const phone = await createPhone(context, reader);
      expect(await listNumbers(reader)).toEqual([phone.number]);
      const generationKey = `cache:api:phones:list:generation:${reader.id}`;
      const generationBefore = await context.redis.get(generationKey);

      await insertPhoneBehindTheApi(reader, []);
      const written = await createPhone(context, writer);
      await call(context.app, 'PATCH', `/api/v1/phones/${written.id}`, {
        token: writer.token,
        body: { status: 'inactive' },
      });
      await call(context.app, 'DELETE', `/api/v1/phones/${written.id}`, { token: writer.token });

      expect(await listNumbers(reader)).toEqual([phone.number]);
      expect(await context.redis.get(generationKey)).toBe(generationBefore);
    });
  });
});

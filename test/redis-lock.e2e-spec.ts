import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { RedisLockService } from '../src/infra/lock/redis-lock.service.js';
import { createTestContext, type TestContext, uniqueName } from './support/test-app.js';

describe('RedisLockService', () => {
  let context: TestContext;
  let locks: RedisLockService;
  const usedNames: string[] = [];

  /** A lock name no other test (or test file) uses; its key is deleted afterwards. */
  const lockName = (): string => {
    const name = uniqueName('lock-test');
    usedNames.push(name);
    return name;
  };

  beforeAll(async () => {
    context = await createTestContext();
    locks = context.app.get(RedisLockService);
  });
  afterEach(async () => {
    const keys = usedNames.splice(0).map((name) => `lock:${name}`);
    if (keys.length > 0) {
      await context.redis.del(...keys);
    }
  });
  afterAll(async () => {
    await context.close();
  });

  it('refuses a second acquire while the lock is held, and allows it after release', async () => {
    const name = lockName();
    const held = await locks.acquire(name, 10_000);
    expect(held).toEqual({ name, token: expect.any(String) });
    expect(await context.redis.get(`lock:${name}`)).toBe(held?.token);
    expect(await locks.acquire(name, 10_000)).toBeUndefined();
    expect(await locks.release(held!)).toBe(true);
    expect(await context.redis.exists(`lock:${name}`)).toBe(0);
    expect(await locks.acquire(name, 10_000)).toEqual({ name, token: expect.any(String) });
  });

  it('lets exactly one of many concurrent acquirers win', async () => {
    const name = lockName();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => locks.acquire(name, 10_000)),
    );
    expect(results.filter((result) => result !== undefined)).toHaveLength(1);
  });

  it('sets the expiry it was given', async () => {
    const name = lockName();
    await locks.acquire(name, 5_000);
    const ttl = await context.redis.pttl(`lock:${name}`);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
  });

  it('does not delete the lock on release with a wrong token', async () => {
    const name = lockName();
    const held = await locks.acquire(name, 10_000);
    expect(await locks.release({ name, token: 'not-the-token' })).toBe(false);
    expect(await context.redis.get(`lock:${name}`)).toBe(held?.token);
    expect(await locks.acquire(name, 10_000)).toBeUndefined();
  });

  it('runs the work when the lock is free and releases it afterwards', async () => {
    const name = lockName();
    const outcome = await locks.runExclusive(name, 10_000, async () => {
      expect(await context.redis.exists(`lock:${name}`)).toBe(1);
      return 42;
    });
    expect(outcome).toEqual({ ran: true, result: 42 });
    expect(await context.redis.exists(`lock:${name}`)).toBe(0);
  });

  it('returns {ran:false} without running the work while the lock is held', async () => {
    const name = lockName();
    await locks.acquire(name, 10_000);
    let ran = false;
    const outcome = await locks.runExclusive(name, 10_000, () => {
      ran = true;
      return Promise.resolve('should not run');
    });
    expect(outcome).toEqual({ ran: false });
    expect(ran).toBe(false);
    expect(await context.redis.exists(`lock:${name}`)).toBe(1);
  });

  it('releases the lock when the work throws', async () => {
    const name = lockName();
    await expect(
      locks.runExclusive(name, 10_000, () => Promise.reject(new Error('work failed'))),
    ).rejects.toThrow('work failed');
    expect(await context.redis.exists(`lock:${name}`)).toBe(0);
  });

  it("expires after its ttl, and the old holder cannot release the new holder's lock", async () => {
    const name = lockName();
    const first = await locks.acquire(name, 150);
    expect(first).toBeDefined();
    expect(await locks.acquire(name, 10_000)).toBeUndefined();
    await sleep(300);
    const second = await locks.acquire(name, 10_000);
    expect(second).toBeDefined();
    expect(second?.token).not.toBe(first?.token);
    expect(await locks.release(first!)).toBe(false);
    expect(await context.redis.get(`lock:${name}`)).toBe(second?.token);
  });

  it('keeps the lock while its work outlasts the time to live, and releases it after', async () => {
    const name = lockName();
    const outcome = await locks.runExclusive(name, 150, async () => {
      // Three times the time to live: only renewal keeps the key.
      await sleep(450);
      return context.redis.get(`lock:${name}`);
    });
    expect(outcome).toEqual({ ran: true, result: expect.any(String) });
    expect(await context.redis.exists(`lock:${name}`)).toBe(0);
  });

  it('does not renew a lock another holder has taken', async () => {
    const name = lockName();
    const first = await locks.acquire(name, 10_000);
    await context.redis.set(`lock:${name}`, 'someone-else', 'PX', 10_000);
    expect(await locks.renew(first!, 10_000)).toBe(false);
    expect(await context.redis.get(`lock:${name}`)).toBe('someone-else');
  });
});

describe('RedisLockService on the queue Redis', () => {
  it('keeps its locks on REDIS_QUEUE_URL (never evicted), not on the cache Redis', async () => {
    const cacheUrl = new URL(inject('redisUrl'));
    const queueUrl = new URL(cacheUrl);
    queueUrl.pathname = '/7';
    const context = await createTestContext({ REDIS_QUEUE_URL: queueUrl.toString() });
    const queueRedis = new Redis(queueUrl.toString());
    const name = uniqueName('lock-test');
    try {
      const held = await context.app.get(RedisLockService).acquire(name, 10_000);
      expect(await queueRedis.get(`lock:${name}`)).toBe(held?.token);
      expect(await context.redis.exists(`lock:${name}`)).toBe(0);
    } finally {
      await queueRedis.del(`lock:${name}`);
      queueRedis.disconnect();
      await context.close();
    }
  });
});

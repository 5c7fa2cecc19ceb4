import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../redis/redis.module.js';
import { RedisKeys } from '../redis/redis-keys.js';

// Deletes the lock only when it still holds our token, so an expired-and-retaken lock is safe.
const RELEASE_SCRIPT = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0`;

export interface HeldLock {
  name: string;
  token: string;
}

/** A cluster-wide mutex on Redis: SET NX PX to take, token-checked delete to release. */
@Injectable()
export class RedisLockService {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async acquire(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    const token = randomUUID();
    const result = await this.redis.set(RedisKeys.lock(name), token, 'PX', ttlMs, 'NX');
    return result === 'OK' ? { name, token } : undefined;
  }

  async release(lock: HeldLock): Promise<boolean> {
    const deleted = await this.redis.eval(RELEASE_SCRIPT, 1, RedisKeys.lock(lock.name), lock.token);
    return deleted === 1;
  }

  /** Runs `work` only if the lock is free; returns undefined when another holder has it. */
  async runExclusive<T>(
    name: string,
    ttlMs: number,
    work: () => Promise<T>,
  ): Promise<{ ran: true; result: T } | { ran: false }> {
    const lock = await this.acquire(name, ttlMs);
    if (!lock) {
      return { ran: false };
    }
    try {
      return { ran: true, result: await work() };
    } finally {
      await this.release(lock);
    }
  }
}

import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { QueueConnectionHolder } from '../queue/queue-connection.holder.js';
import { RedisKeys } from '../redis/redis-keys.js';

// Deletes the lock only when it still holds our token, so an expired-and-retaken lock is safe.
const RELEASE_SCRIPT = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0`;

// Extends the lock only while it still holds our token.
const RENEW_SCRIPT = `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0`;

export interface HeldLock {
  name: string;
  token: string;
}

/**
 * A cluster-wide mutex on the queue Redis (never evicted): SET NX PX to take, renewed every
 * third of its time to live while the work runs, token-checked delete to release. A holder
 * paused for longer than the time to live loses it, so the work itself must stay safe when
 * run twice (the lock only keeps that rare).
 */
@Injectable()
export class RedisLockService {
  private readonly logger = new Logger(RedisLockService.name);
  private readonly redis: Redis;

  constructor(queueConnection: QueueConnectionHolder) {
    this.redis = queueConnection.connection;
  }

  async acquire(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    const token = randomUUID();
    const result = await this.redis.set(RedisKeys.lock(name), token, 'PX', ttlMs, 'NX');
    return result === 'OK' ? { name, token } : undefined;
  }

  async release(lock: HeldLock): Promise<boolean> {
    const deleted = await this.redis.eval(RELEASE_SCRIPT, 1, RedisKeys.lock(lock.name), lock.token);
    return deleted === 1;
  }

  /** Extends a held lock; false when it expired or another holder took it. */
  async renew(lock: HeldLock, ttlMs: number): Promise<boolean> {
    const renewed = await this.redis.eval(
      RENEW_SCRIPT,
      1,
      RedisKeys.lock(lock.name),
      lock.token,
      String(ttlMs),
    );
    return renewed === 1;
  }

  /** Runs `work` only if the lock is free, keeping it while `work` runs; `ran: false` when another holder has it. */
  async runExclusive<T>(
    name: string,
    ttlMs: number,
    work: () => Promise<T>,
  ): Promise<{ ran: true; result: T } | { ran: false }> {
    const lock = await this.acquire(name, ttlMs);
    if (!lock) {
      return { ran: false };
    }
    const renewal = setInterval(
      () => {
        this.renew(lock, ttlMs).then(
          (held) => {
            if (!held) {
              clearInterval(renewal);
              this.logger.warn(`lock ${name} was lost while its work was still running`);
            }
          },
          (error: unknown) => this.logger.warn(`renewing lock ${name} failed: ${String(error)}`),
        );
      },
      Math.max(10, Math.floor(ttlMs / 3)),
    );
    try {
      return { ran: true, result: await work() };
    } finally {
      clearInterval(renewal);
      await this.release(lock);
    }
  }
}

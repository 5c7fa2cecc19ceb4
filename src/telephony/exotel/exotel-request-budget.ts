import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { RedisKeys } from '../../infra/redis/redis-keys.js';
import { REDIS_CLIENT } from '../../infra/redis/redis.module.js';

/** Where requests to one Exotel account are counted; the client waits on it before each one. */
export interface RequestBudget {
  /** Resolves when the caller may send a request to `accountSid`, having counted it. */
  acquire(accountSid: string): Promise<void>;
}

// Waiters on several instances retry at slightly different moments instead of all at once.
const MAX_JITTER_MS = 25;

/**
 * Sliding window in one atomic script, on Redis's own clock so every instance agrees:
 * KEYS[1] sorted set of request start times; ARGV window ms, limit, member.
 * Returns 0 when the request is counted, else the milliseconds until a slot frees up.
 */
const TAKE_SCRIPT = `
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('zadd', KEYS[1], now, ARGV[3])
  redis.call('pexpire', KEYS[1], window)
  return 0
end
local oldest = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)`;

/**
 * Exotel's per-account limit (EXOTEL_REQUESTS_PER_MINUTE, 200 by default) shared by every
 * instance: a caller over it waits for a slot instead of failing, because Exotel answers a
 * burst over its limit with 429s that would cost retries anyway.
 */
@Injectable()
export class ExotelRequestBudget implements RequestBudget {
  private readonly limit: number;
  private readonly windowMs: number;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.limit = config.exotel.requestsPerMinute;
    this.windowMs = config.exotel.requestWindowMs;
  }

  async acquire(accountSid: string): Promise<void> {
    const key = RedisKeys.rateLimit('exotel', accountSid);
    const member = randomUUID();
    for (;;) {
      const waitMs = Number(
        await this.redis.eval(TAKE_SCRIPT, 1, key, this.windowMs, this.limit, member),
      );
      if (waitMs <= 0) {
        return;
      }
      await new Promise((resolve) =>
        setTimeout(resolve, waitMs + Math.floor(Math.random() * MAX_JITTER_MS)),
      );
    }
  }
}

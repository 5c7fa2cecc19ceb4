import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../../infra/redis/redis.module.js';
import { RedisScript } from '../../infra/redis/redis-script.js';

/**
 * Fixed-window counter with optional blocking, in one atomic script:
 * KEYS[1] counter, KEYS[2] block marker; ARGV window ms, limit, block ms.
 * Returns {hits, window ms left, blocked (0/1), block ms left}.
 */
const HIT_SCRIPT = new RedisScript(`
local blockedFor = redis.call('pttl', KEYS[2])
if blockedFor > 0 then
  return {tonumber(redis.call('get', KEYS[1]) or '0'), math.max(redis.call('pttl', KEYS[1]), 0), 1, blockedFor}
end
local hits = redis.call('incr', KEYS[1])
local windowLeft = redis.call('pttl', KEYS[1])
if windowLeft < 0 then
  redis.call('pexpire', KEYS[1], ARGV[1])
  windowLeft = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  local blockMs = tonumber(ARGV[3])
  if blockMs > 0 then
    redis.call('set', KEYS[2], '1', 'PX', blockMs)
    return {hits, windowLeft, 1, blockMs}
  end
  return {hits, windowLeft, 1, windowLeft}
end
return {hits, windowLeft, 0, 0}`);

const REFUND_SCRIPT = `
if tonumber(redis.call('get', KEYS[1]) or '0') > 0 then
  return redis.call('decr', KEYS[1])
end
return 0`;

export interface RateLimitResult {
  hits: number;
  windowLeftMs: number;
  blocked: boolean;
  retryAfterMs: number;
}

/** Counters shared by every instance (Redis), surviving restarts of the app. */
@Injectable()
export class RateLimiterService {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async hit(key: string, limit: number, windowMs: number, blockMs = 0): Promise<RateLimitResult> {
    // Every request runs this (the global rate limit): sent by its SHA1, not as text.
    const [hits, windowLeftMs, blocked, retryAfterMs] = (await HIT_SCRIPT.run(
      this.redis,
      [key, `${key}:blocked`],
      [windowMs, limit, blockMs],
    )) as [number, number, number, number];
    return { hits, windowLeftMs, blocked: blocked === 1, retryAfterMs };
  }

  /**
   * Gives back one hit, e.g. when the counted action was refused for another reason. Only an
   * existing counter is lowered: DECR on an expired key would leave -1 without an expiry.
   */
  async refund(key: string): Promise<void> {
    await this.redis.eval(REFUND_SCRIPT, 1, key);
  }

  /** Forgets the counter and any block on it (e.g. after a successful login). */
  async reset(key: string): Promise<void> {
    await this.redis.del(key, `${key}:blocked`);
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { withinTime } from '../infra/queue/enqueue-within.js';
import { QueueConnectionHolder } from '../infra/queue/queue-connection.holder.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';

/**
 * One atomic step on Redis's clock: KEYS[1] sorted set of the user's active calls; ARGV member,
 * limit, longest a slot is kept (ms). Forgets slots older than that (a release that never came),
 * then takes a slot when one is free. Returns {taken (1/0), active calls}.
 */
const RESERVE_SCRIPT = `
local time = redis.call('time')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('zscore', KEYS[1], ARGV[1]) then
  return {1, redis.call('zcard', KEYS[1])}
end
local active = redis.call('zcard', KEYS[1])
if active >= tonumber(ARGV[2]) then
  return {0, active}
end
redis.call('zadd', KEYS[1], now, ARGV[1])
redis.call('pexpire', KEYS[1], ARGV[3])
return {1, active + 1}`;

// A slot outlives the longest call by this much before it is presumed leaked.
const SLOT_MARGIN_MS = 3_600_000;

/**
 * The per-user concurrent-call limit (MAX_CONCURRENT_CALLS), for outbound and inbound calls
 * alike: a slot is reserved atomically before a call is recorded and released when the call
 * is finalized, so two simultaneous requests can never both take the last one. Kept on the
 * queue Redis, which never evicts; a slot whose release was lost expires after the longest
 * possible call.
 */
@Injectable()
export class ActiveCallSlots {
  private readonly redis: Redis;
  private readonly slotLifetimeMs: number;

  constructor(
    queueConnection: QueueConnectionHolder,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.redis = queueConnection.connection;
    this.slotLifetimeMs = config.calls.timeLimitSeconds * 1000 + SLOT_MARGIN_MS;
  }

  /** Takes a slot for the call (idempotent per session id); `taken: false` when all are in use. */
  reserve(userId: string, sessionId: string): Promise<{ taken: boolean; active: number }> {
    return this.take(RedisKeys.activeCalls(userId), sessionId, this.config.calls.maxConcurrent);
  }

  /** Gives the call's slot back (idempotent). */
  async release(userId: string, sessionId: string): Promise<void> {
    await this.redis.zrem(RedisKeys.activeCalls(userId), sessionId);
  }

  /** A slot among a campaign's `limit` concurrent calls (idempotent per session id). */
  reserveForCampaign(
    campaignId: string,
    sessionId: string,
    limit: number,
  ): Promise<{ taken: boolean; active: number }> {
    return this.take(RedisKeys.campaignActiveCalls(campaignId), sessionId, limit);
  }

  async releaseForCampaign(campaignId: string, sessionId: string): Promise<void> {
    await this.redis.zrem(RedisKeys.campaignActiveCalls(campaignId), sessionId);
  }

  /** The campaign's calls holding a slot now. */
  campaignActive(campaignId: string): Promise<number> {
    return this.redis.zcard(RedisKeys.campaignActiveCalls(campaignId));
  }

  private async take(
    key: string,
    member: string,
    limit: number,
  ): Promise<{ taken: boolean; active: number }> {
    // Called while answering a request: bounded, although this connection waits out outages.
    const [taken, active] = (await withinTime(
      this.redis.eval(RESERVE_SCRIPT, 1, key, member, limit, this.slotLifetimeMs),
      this.config.redis.enqueueTimeoutMs,
      'concurrent-call slots',
    )) as [number, number];
    return { taken: taken === 1, active };
  }
}

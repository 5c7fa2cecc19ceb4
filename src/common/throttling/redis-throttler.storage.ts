import { Injectable } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface.js';
import { RedisKeys } from '../../infra/redis/redis-keys.js';
import { RateLimiterService } from './rate-limiter.service.js';

/** @nestjs/throttler storage on the shared Redis, so limits hold across instances and restarts. */
@Injectable()
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly rateLimiter: RateLimiterService) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const result = await this.rateLimiter.hit(
      RedisKeys.rateLimit(`global:${throttlerName}`, key),
      limit,
      ttl,
      blockDuration,
    );
    return {
      totalHits: result.hits,
      timeToExpire: Math.ceil(result.windowLeftMs / 1000),
      isBlocked: result.blocked,
      timeToBlockExpire: Math.ceil(result.retryAfterMs / 1000),
    };
  }
}

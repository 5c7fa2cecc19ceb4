import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import { RedisKeys, RedisTtl } from '../infra/redis/redis-keys.js';

/**
 * The one valid access token of each user (`user:token:{userId}`). A token that is not the
 * stored one is refused, which is what makes logout, deactivation and role changes revoke
 * at once.
 */
@Injectable()
export class AccessTokenStore {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async remember(userId: string, token: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(
      RedisKeys.userToken(userId),
      token,
      'EX',
      Math.min(ttlSeconds, RedisTtl.userTokenSeconds),
    );
  }

  async isCurrent(userId: string, token: string): Promise<boolean> {
    return (await this.redis.get(RedisKeys.userToken(userId))) === token;
  }

  async revoke(userId: string): Promise<void> {
    await this.redis.del(RedisKeys.userToken(userId));
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { JsonText } from '../common/decorators/json-text.decorator.js';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import { RedisKeys, RedisTtl } from '../infra/redis/redis-keys.js';
import { RedisScript } from '../infra/redis/redis-script.js';
import type { UserResponse } from './dto/user.response.js';

/** Stores the profile only while the version is still the one read before MongoDB was. */
const STORE_IF_VERSION = new RedisScript(`
if (redis.call('hget', KEYS[1], 'version') or '0') ~= ARGV[1] then
  return 0
end
redis.call('hset', KEYS[1], 'json', ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
return 1`);

/** Drops the profile and bumps the version, so a re-warm that read MongoDB before cannot store. */
const DROP = new RedisScript(`
redis.call('hincrby', KEYS[1], 'version', 1)
redis.call('hdel', KEYS[1], 'json')
redis.call('pexpire', KEYS[1], ARGV[1])
return 1`);

export interface CachedProfile {
  /** The serialized profile when cached. */
  json: JsonText<UserResponse> | undefined;
  /** Pass to `store` after reading MongoDB: it refuses when the user changed meanwhile. */
  version: string;
}

/**
 * What GET /auth/me answers, cached as serialized JSON at `user:profile:{userId}` so a warm
 * request reads neither MongoDB nor the serializer. Every write to a user drops it
 * (UsersRepository does, after the write), and a version in the same hash keeps a reader that
 * loaded the user before such a write from putting the old profile back: the reader notes the
 * version before reading MongoDB and stores only while it is unchanged.
 */
@Injectable()
export class UserProfileCache {
  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async read(userId: string): Promise<CachedProfile> {
    const [json, version] = await this.redis.hmget(
      RedisKeys.userProfile(userId),
      'json',
      'version',
    );
    return {
      json: (json ?? undefined) as JsonText<UserResponse> | undefined,
      version: version ?? '0',
    };
  }

  async store(userId: string, version: string, json: JsonText<UserResponse>): Promise<void> {
    await STORE_IF_VERSION.run(
      this.redis,
      [RedisKeys.userProfile(userId)],
      [version, json, RedisTtl.userProfileSeconds * 1000],
    );
  }

  async drop(userId: string): Promise<void> {
    await DROP.run(
      this.redis,
      [RedisKeys.userProfile(userId)],
      [RedisTtl.userProfileSeconds * 1000],
    );
  }
}

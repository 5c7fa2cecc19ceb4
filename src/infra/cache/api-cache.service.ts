import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { type JsonText, toJsonText } from '../../common/decorators/json-text.decorator.js';
import { REDIS_CLIENT } from '../redis/redis.module.js';
import { RedisKeys } from '../redis/redis-keys.js';

// A generation outlives every entry written under it, so an expired generation never
// resurrects stale entries.
const GENERATION_TTL_MS = 24 * 3600 * 1000;

/**
 * Response cache for API lists (`cache:api:{route}:{params}`). Each (route, owner) pair has
 * a generation id inside its keys; a write replaces the generation, so every cached page of
 * that owner becomes unreachable at once, with no key scan and no race with a slow reader.
 * Pages are kept as the JSON the route answers and served as they are (no parsing and
 * serializing again on a hit).
 */
@Injectable()
export class ApiCacheService {
  private readonly logger = new Logger(ApiCacheService.name);

  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  async getOrLoad<T>(
    route: string,
    ownerId: string,
    params: Record<string, unknown>,
    ttlSeconds: number,
    load: () => Promise<T>,
  ): Promise<JsonText<T>> {
    const key = await this.buildKey(route, ownerId, params).catch(() => undefined);
    if (key === undefined) {
      return toJsonText(await load());
    }
    const cached = await this.redis.get(key).catch(() => null);
    if (cached !== null) {
      return cached as JsonText<T>;
    }
    const fresh = toJsonText(await load());
    await this.redis.set(key, fresh, 'PX', ttlSeconds * 1000).catch((error: unknown) => {
      this.logger.warn(`cache write failed for ${key}: ${String(error)}`);
    });
    return fresh;
  }

  /** Makes every cached response of this route and owner stale at once. */
  async invalidate(route: string, ownerId: string): Promise<void> {
    await this.redis.set(this.generationKey(route, ownerId), randomUUID(), 'PX', GENERATION_TTL_MS);
  }

  private generationKey(route: string, ownerId: string): string {
    return RedisKeys.apiCache(`${route}:generation`, ownerId);
  }

  private async buildKey(
    route: string,
    ownerId: string,
    params: Record<string, unknown>,
  ): Promise<string> {
    const generation = (await this.redis.get(this.generationKey(route, ownerId))) ?? '0';
    const canonicalParams = Object.keys(params)
      .sort()
      .filter((name) => params[name] !== undefined)
      .map((name) => `${name}=${encodeURIComponent(String(params[name]))}`)
      .join('&');
    // `json:` tells these entries (the JSON itself) from those of the earlier cache store,
    // which wrapped each value in an envelope of its own.
    return RedisKeys.apiCache(route, `${ownerId}:${generation}:json:${canonicalParams}`);
  }
}

import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { type JsonText, toJsonText } from '../../common/decorators/json-text.decorator.js';
import { REDIS_CLIENT } from '../redis/redis.module.js';
import { RedisKeys } from '../redis/redis-keys.js';

// A generation outlives every entry written under it, so an expired generation (read as '0'
// again) never matches a page stored before it expired.
const GENERATION_TTL_MS = 24 * 3600 * 1000;

/**
 * Response cache for API lists (`cache:api:{route}:{ownerId}:page:{params}`). Each (route,
 * owner) pair has a generation id, and each page is stored behind the generation it was loaded
 * under (`{generation}\n{json}`); a write replaces the generation, so every cached page of that
 * owner becomes stale at once, with no key scan and no race with a slow reader (its page carries
 * the generation it read before loading). A read fetches the generation and the page together
 * (one MGET, one round trip). Pages are kept as the JSON the route answers and served as they
 * are (no parsing and serializing again on a hit).
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
    const key = this.pageKey(route, ownerId, params);
    const read = await this.redis
      .mget(this.generationKey(route, ownerId), key)
      .catch(() => undefined);
    if (read === undefined) {
      return toJsonText(await load());
    }
    const [generation, cached] = read;
    const tag = `${generation ?? '0'}\n`;
    if (cached?.startsWith(tag)) {
      return cached.slice(tag.length) as JsonText<T>;
    }
    const fresh = toJsonText(await load());
    await this.redis.set(key, tag + fresh, 'PX', ttlSeconds * 1000).catch((error: unknown) => {
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

  private pageKey(route: string, ownerId: string, params: Record<string, unknown>): string {
    const canonicalParams = Object.keys(params)
      .sort()
      .filter((name) => params[name] !== undefined)
      .map((name) => `${name}=${encodeURIComponent(String(params[name]))}`)
      .join('&');
    // `page:` tells these entries (generation, then JSON) from those of earlier formats.
    return RedisKeys.apiCache(route, `${ownerId}:page:${canonicalParams}`);
  }
}

import { randomUUID } from 'node:crypto';
import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { RedisKeys } from '../redis/redis-keys.js';

// A generation outlives every entry written under it, so an expired generation never
// resurrects stale entries.
const GENERATION_TTL_MS = 24 * 3600 * 1000;

/**
 * Response cache for API lists (`cache:api:{route}:{params}`). Each (route, owner) pair has
 * a generation id inside its keys; a write replaces the generation, so every cached page of
 * that owner becomes unreachable at once, with no key scan and no race with a slow reader.
 */
@Injectable()
export class ApiCacheService implements OnApplicationShutdown {
  private readonly logger = new Logger(ApiCacheService.name);

  constructor(@Inject(CACHE_MANAGER) private readonly cache: Cache) {}

  async getOrLoad<T>(
    route: string,
    ownerId: string,
    params: Record<string, unknown>,
    ttlSeconds: number,
    load: () => Promise<T>,
  ): Promise<T> {
    const key = await this.buildKey(route, ownerId, params).catch(() => undefined);
    if (key === undefined) {
      return load();
    }
    const cached = await this.cache.get<T>(key).catch(() => undefined);
    if (cached !== undefined && cached !== null) {
      return cached;
    }
    const fresh = await load();
    await this.cache.set(key, fresh, ttlSeconds * 1000).catch((error: unknown) => {
      this.logger.warn(`cache write failed for ${key}: ${String(error)}`);
    });
    return fresh;
  }

  /** Makes every cached response of this route and owner stale at once. */
  async invalidate(route: string, ownerId: string): Promise<void> {
    await this.cache.set(this.generationKey(route, ownerId), randomUUID(), GENERATION_TTL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.cache.disconnect().catch(() => undefined);
  }

  private generationKey(route: string, ownerId: string): string {
    return RedisKeys.apiCache(`${route}:generation`, ownerId);
  }

  private async buildKey(
    route: string,
    ownerId: string,
    params: Record<string, unknown>,
  ): Promise<string> {
    const generation = (await this.cache.get<string>(this.generationKey(route, ownerId))) ?? '0';
    const canonicalParams = Object.keys(params)
      .sort()
      .filter((name) => params[name] !== undefined)
      .map((name) => `${name}=${encodeURIComponent(String(params[name]))}`)
      .join('&');
    return RedisKeys.apiCache(route, `${ownerId}:${generation}:${canonicalParams}`);
  }
}

import { Logger } from '@nestjs/common';
import KeyvRedis, { Keyv } from '@keyv/redis';
import { RedisUnavailableError } from './redis-unavailable.error.js';

const CONNECTION_NAME = 'ai-calling-platform:cache';
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * The cache store's adapter, failing the way the other request-path clients fail: every
 * failure of the store is a RedisUnavailableError (for plain GET/SET/DEL a failure can only
 * mean Redis is unreachable, slow or refusing writes), so the exception filter answers 503.
 */
class FailFastKeyvRedis<T> extends KeyvRedis<T> {
  override get<U = T>(key: string): Promise<U | undefined> {
    return unavailableOnFailure(() => super.get<U>(key));
  }
  override getMany<U = T>(keys: string[]): Promise<Array<U | undefined>> {
    return unavailableOnFailure(() => super.getMany<U>(keys));
  }
  override has(key: string): Promise<boolean> {
    return unavailableOnFailure(() => super.has(key));
  }
  override hasMany(keys: string[]): Promise<boolean[]> {
    return unavailableOnFailure(() => super.hasMany(keys));
  }
  override set(key: string, value: string, ttl?: number): Promise<void> {
    return unavailableOnFailure(() => super.set(key, value, ttl));
  }
  override setMany(entries: Parameters<KeyvRedis<T>['setMany']>[0]): Promise<void> {
    return unavailableOnFailure(() => super.setMany(entries));
  }
  override delete(key: string): Promise<boolean> {
    return unavailableOnFailure(() => super.delete(key));
  }
  override deleteMany(keys: string[]): Promise<boolean> {
    return unavailableOnFailure(() => super.deleteMany(keys));
  }
  override clear(): Promise<void> {
    return unavailableOnFailure(() => super.clear());
  }
}

async function unavailableOnFailure<R>(operation: () => Promise<R>): Promise<R> {
  try {
    return await operation();
  } catch (error) {
    throw new RedisUnavailableError(CONNECTION_NAME, error);
  }
}

/**
 * The API response cache on Redis. Commands are bounded in time and, while Redis is away,
 * refused at once instead of queued (node-redis would otherwise hold them until it
 * reconnects); failures are thrown, not swallowed, so a write whose cache invalidation did
 * not happen is not reported as done.
 */
export function createRedisCacheStore(url: string, commandTimeoutMs: number): Keyv {
  const store = new FailFastKeyvRedis(
    {
      url,
      name: CONNECTION_NAME,
      disableOfflineQueue: true,
      commandOptions: { timeout: commandTimeoutMs },
      socket: {
        connectTimeout: commandTimeoutMs,
        reconnectStrategy: (attempt: number) => Math.min(attempt * 200, 5000),
      },
    },
    { throwOnConnectError: true, throwOnErrors: true, connectionTimeout: commandTimeoutMs },
  );
  const keyv = new Keyv(store, { useKeyPrefix: false, throwOnErrors: true });
  // As createKeyv does: cache-manager builds the keys, Keyv must not prefix them again.
  keyv.namespace = undefined;
  // Unheard, every failed reconnect would be printed with its stack; log them, at most every 10 s.
  const logger = new Logger(`Redis:${CONNECTION_NAME}`);
  let lastLogged = 0;
  const logError = (error: unknown): void => {
    if (Date.now() - lastLogged >= ERROR_LOG_INTERVAL_MS) {
      lastLogged = Date.now();
      logger.warn(`${error instanceof Error ? error.message : String(error)} (retrying)`);
    }
  };
  keyv.on('error', logError);
  return keyv;
}

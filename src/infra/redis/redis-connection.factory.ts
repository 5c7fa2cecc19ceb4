import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';

const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * The one place Redis connections are built. BullMQ needs `maxRetriesPerRequest: null`
 * (its blocking commands must wait out a reconnect); request-path clients fail fast instead.
 */
export function createRedisConnection(
  url: string,
  purpose: 'cache' | 'queue',
  connectionName: string,
): Redis {
  const options: RedisOptions = {
    connectionName,
    enableReadyCheck: true,
    maxRetriesPerRequest: purpose === 'queue' ? null : 2,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
  };
  const redis = new Redis(url, options);
  // Without a listener ioredis reports every failed reconnect as unhandled; log them, at most every 10 s.
  const logger = new Logger(`Redis:${connectionName}`);
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    if (Date.now() - lastLogged >= ERROR_LOG_INTERVAL_MS) {
      lastLogged = Date.now();
      logger.warn(`${error.message} (retrying)`);
    }
  });
  return redis;
}

/** Closes gracefully when connected; a client that is not connected is dropped at once instead of waiting for Redis. */
export async function closeRedisConnection(redis: Redis): Promise<void> {
  if (redis.status === 'end') {
    return;
  }
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}

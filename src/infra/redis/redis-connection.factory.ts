import { Redis, type RedisOptions } from 'ioredis';

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
    lazyConnect: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: purpose === 'queue' ? null : 2,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
  };
  return new Redis(url, options);
}

import { Logger } from '@nestjs/common';
import { type Command, Redis, type RedisOptions, ReplyError } from 'ioredis';
import type { DatabaseCommandCounter } from '../commands/database-command-counter.js';
import { RedisUnavailableError } from './redis-unavailable.error.js';

const ERROR_LOG_INTERVAL_MS = 10_000;
/** Request-path default when a caller gives none (the CLI); the app passes REDIS_COMMAND_TIMEOUT_MS. */
const DEFAULT_COMMAND_TIMEOUT_MS = 1000;

export interface RedisConnectionOptions {
  /** Request-path clients only: longest wait for one command before it fails. */
  commandTimeoutMs?: number;
  /** Counts every command sent on this connection (not on the duplicates BullMQ makes). */
  counter?: DatabaseCommandCounter;
}

/**
 * The one place Redis connections are built. BullMQ needs `maxRetriesPerRequest: null`
 * (its blocking commands must wait out a reconnect); request-path clients fail fast instead:
 * each command is bounded in time, and once connected nothing is queued while Redis is away,
 * so a request answers 503 at once instead of waiting for a Redis that may not come back.
 */
export function createRedisConnection(
  url: string,
  purpose: 'cache' | 'queue',
  connectionName: string,
  options: RedisConnectionOptions = {},
): Redis {
  const redisOptions: RedisOptions = {
    connectionName,
    enableReadyCheck: true,
    maxRetriesPerRequest: purpose === 'queue' ? null : 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
    ...(purpose === 'cache'
      ? {
          commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
          // Commands issued in the same tick (the many requests in flight) leave in one socket
          // write: each write is a system call, which cost more than the commands themselves.
          enableAutoPipelining: true,
        }
      : {}),
  };
  const redis = new Redis(url, redisOptions);
  if (purpose === 'cache') {
    failFastOnceConnected(redis, connectionName);
  }
  if (options.counter?.enabled) {
    countCommands(redis, options.counter);
  }
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

/**
 * Commands sent while the client first connects wait (bounded by the command timeout), so
 * start-up and one-shot CLI commands need no ready check; after the first connection the
 * offline queue is off, so during an outage commands fail at once. Every failure that is not
 * Redis's own reply becomes a RedisUnavailableError: ioredis reports these as plain errors
 * ("Connection is closed.", "Command timed out"), and callers need a type to recognise.
 */
function failFastOnceConnected(redis: Redis, connectionName: string): void {
  redis.once('ready', () => {
    redis.options.enableOfflineQueue = false;
  });
  const typed = new WeakSet<Command>();
  const sendCommand = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    // The rejection itself is replaced, not chained: ioredis resends commands after a
    // reconnect and ignores what sendCommand returns, so a chained promise could go unhandled.
    if (!typed.has(command)) {
      typed.add(command);
      const reject = command.reject;
      command.reject = (error: Error) => {
        // Scripts look for Redis's NOSCRIPT reply to resend themselves: replies stay as they are.
        reject(
          error instanceof ReplyError ? error : new RedisUnavailableError(connectionName, error),
        );
      };
    }
    return sendCommand(command, stream);
  };
}

function countCommands(redis: Redis, counter: DatabaseCommandCounter): void {
  const sendCommand = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    counter.recordRedis(command.name);
    return sendCommand(command, stream);
  };
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

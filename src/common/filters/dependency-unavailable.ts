import {
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import mongoose from 'mongoose';
import { RedisUnavailableError } from '../../infra/redis/redis-unavailable.error.js';

export interface DependencyUnavailable {
  dependency: 'redis' | 'mongodb';
  code: 'REDIS_UNAVAILABLE' | 'DATABASE_UNAVAILABLE';
  message: string;
}

const REDIS_UNAVAILABLE: DependencyUnavailable = {
  dependency: 'redis',
  code: 'REDIS_UNAVAILABLE',
  message: 'Redis is unavailable, try again shortly',
};
const MONGODB_UNAVAILABLE: DependencyUnavailable = {
  dependency: 'mongodb',
  code: 'DATABASE_UNAVAILABLE',
  message: 'The database is unavailable, try again shortly',
};

/** Driver errors that mean the server could not be reached, not that the request was wrong. */
const MONGO_UNREACHABLE = [
  // Includes the driver's PoolClearedError (not exported; it extends MongoNetworkError).
  MongoNetworkError,
  MongoServerSelectionError,
  MongoNotConnectedError,
  MongoTopologyClosedError,
  // Mongoose's own name for a server selection that failed while it was (re)connecting.
  mongoose.Error.MongooseServerSelectionError,
];

/**
 * Server answers that mean it is going away or cannot serve right now, not that the request
 * was wrong: shutdown (mongod interrupts what is running when it is stopped), a primary
 * stepping down or not being primary during an election, and the server's own network errors.
 */
const MONGO_SERVER_UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/**
 * Socket errors of Node itself. The MongoDB driver usually wraps them in MongoNetworkError,
 * but lets one through now and then when the server goes away mid-write (seen: EPIPE "This
 * socket has been ended by the other party"). The request-path Redis clients always throw
 * RedisUnavailableError, so a bare socket error reaching a request is MongoDB's.
 */
const SOCKET_ERROR_CODES = new Set([
  'EPIPE',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ENOTCONN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

function isSocketError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && SOCKET_ERROR_CODES.has(code);
}

/**
 * Which dependency an error says is down, if any: a request that failed only because Redis or
 * MongoDB could not answer gets 503 (retry later), not a 500 that reads as a bug. Recognised by
 * type: the request-path Redis clients and the enqueue helper throw RedisUnavailableError;
 * the MongoDB driver has a class per connection failure, and labels a failure as a pool reset
 * or a retryable write when the server went away mid-operation. `mongo.connected` false (the
 * connection has seen the server go) makes any driver or Mongoose error a 503 too: a server
 * dying mid-reply can fail a request in more ways than the classes above.
 */
export function dependencyUnavailable(
  error: unknown,
  mongo: { connected: boolean } = { connected: true },
): DependencyUnavailable | undefined {
  if (error instanceof RedisUnavailableError) {
    return REDIS_UNAVAILABLE;
  }
  if (!mongo.connected && (error instanceof MongoError || error instanceof mongoose.Error)) {
    // Whatever the driver or Mongoose raised, it did so while the app knew MongoDB was gone.
    return MONGODB_UNAVAILABLE;
  }
  if (MONGO_UNREACHABLE.some((type) => error instanceof type) || isSocketError(error)) {
    return MONGODB_UNAVAILABLE;
  }
  if (
    error instanceof MongoServerError &&
    typeof error.code === 'number' &&
    MONGO_SERVER_UNAVAILABLE_CODES.has(error.code)
  ) {
    return MONGODB_UNAVAILABLE;
  }
  if (
    error instanceof MongoError &&
    (error.hasErrorLabel(MongoErrorLabel.ResetPool) ||
      error.hasErrorLabel(MongoErrorLabel.RetryableWriteError))
  ) {
    return MONGODB_UNAVAILABLE;
  }
  return undefined;
}

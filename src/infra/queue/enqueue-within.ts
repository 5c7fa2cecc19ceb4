import type { Queue } from 'bullmq';
import { RedisUnavailableError } from '../redis/redis-unavailable.error.js';

/**
 * A request handler could not hand its job to the queue in time: the queue's Redis is
 * unreachable. A Redis failure like any other, so the request answers 503.
 */
export class QueueUnavailableError extends RedisUnavailableError {
  constructor(what: string, timeoutMs: number) {
    super(what, new Error(`no answer within ${timeoutMs} ms`));
  }
}

/**
 * `queue.add` for request handlers, bounded in time. The queue connection waits out Redis
 * outages on purpose (its workers must survive them), so an unbounded `add` would hold the
 * request until Redis returns. After the timeout the add is not withdrawn: it still runs if
 * Redis comes back while this process lives, and a retried request with the same job id
 * collapses into the same job.
 */
export async function enqueueWithin<DataType, NameType extends string>(
  queue: Queue<DataType, unknown, NameType>,
  timeoutMs: number,
  ...job: Parameters<Queue<DataType, unknown, NameType>['add']>
): Promise<void> {
  await withinTime(queue.add(...job), timeoutMs, `queue ${queue.name}`);
}

/**
 * Any command on the queue connection from a request handler, bounded in time the same way
 * (e.g. reserving a concurrent-call slot): `QueueUnavailableError` after `timeoutMs`.
 */
export async function withinTime<T>(
  operation: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      operation,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new QueueUnavailableError(what, timeoutMs));
        }, timeoutMs);
      }),
    ]);
  } catch (error) {
    // A late failure of the abandoned operation must not surface as an unhandled rejection.
    operation.catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

import type { Queue } from 'bullmq';
import { RedisUnavailableError } from '../redis/redis-unavailable.error.js';

/**
 * A request handler could not hand its job to the queue in time: the queue's Redis is
 * unreachable. A Redis failure like any other, so the request answers 503.
 */
export class QueueUnavailableError extends RedisUnavailableError {
  constructor(queueName: string, timeoutMs: number) {
    super(`queue ${queueName}`, new Error(`the job was not accepted within ${timeoutMs} ms`));
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
  let timer: NodeJS.Timeout | undefined;
  const added = queue.add(...job);
  try {
    await Promise.race([
      added,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          reject(new QueueUnavailableError(queue.name, timeoutMs));
        }, timeoutMs);
      }),
    ]);
  } catch (error) {
    // A late failure of the abandoned add must not surface as an unhandled rejection.
    added.catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

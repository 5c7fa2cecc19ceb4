import { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { toErrorBody } from '../../common/filters/all-exceptions.filter.js';
import { enqueueWithin, QueueUnavailableError, withinTime } from './enqueue-within.js';

/** A queue whose Redis never answers, as BullMQ's connection behaves during an outage. */
const unansweredQueue = { name: 'call-events', add: () => new Promise(() => undefined) };
const silentLogger = Object.assign(new Logger('test'), { warn: () => undefined });

describe('enqueueWithin', () => {
  it('gives up on a queue that does not answer with QueueUnavailableError, answered as 503', async () => {
    const started = performance.now();
    const failure = await enqueueWithin(
      unansweredQueue as unknown as Queue,
      100,
      'call-status',
      {},
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(QueueUnavailableError);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(toErrorBody(failure, 'req-1', silentLogger)).toMatchObject({
      statusCode: 503,
      message: 'Redis is unavailable, try again shortly',
      requestId: 'req-1',
    });
  });

  it('resolves once the queue accepts the job in time', async () => {
    const added: string[] = [];
    const queue = {
      name: 'call-events',
      add: (name: string) => {
        added.push(name);
        return Promise.resolve({ id: '1' });
      },
    };
    await enqueueWithin(queue as unknown as Queue, 100, 'call-status', {});
    expect(added).toEqual(['call-status']);
  });
});

describe('withinTime', () => {
  it('gives any queue-connection command that does not answer QueueUnavailableError naming it', async () => {
    const failure = await withinTime(
      new Promise(() => undefined),
      50,
      'concurrent-call slots',
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(QueueUnavailableError);
    expect((failure as Error).message).toContain('concurrent-call slots');
  });

  it('returns the answer when it comes in time', async () => {
    expect(await withinTime(Promise.resolve([1, 3]), 50, 'slots')).toEqual([1, 3]);
  });
});

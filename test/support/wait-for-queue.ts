import { getQueueToken } from '@nestjs/bullmq';
import type { INestApplicationContext } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { waitFor } from './wait-for.js';

/** Job states in which BullMQ still has work to do (a retry waiting out its backoff is delayed). */
const UNFINISHED_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
] as const;

const queueOf = (app: INestApplicationContext, queueName: string): Queue =>
  app.get<Queue>(getQueueToken(queueName));

/**
 * Waits until none of `queueNames` has a job left to run, so that a test may then assert that
 * the work did not change something. A job that enqueues a follow-up does so before it
 * completes, so the follow-up is counted before its parent stops being.
 */
export async function waitForQueuesDrained(
  app: INestApplicationContext,
  queueNames: readonly string[],
  timeoutMs = 20_000,
): Promise<void> {
  await waitFor(
    async () => {
      for (const queueName of queueNames) {
        const counts = await queueOf(app, queueName).getJobCounts(...UNFINISHED_STATES);
        if (Object.values(counts).some((count) => count > 0)) {
          return undefined;
        }
      }
      return true;
    },
    timeoutMs,
    `queues ${queueNames.join(', ')} to drain`,
  );
}

/** Waits until the job `jobId` of `queueName` has finished for good; returns how it ended. */
export async function waitForJobSettled(
  app: INestApplicationContext,
  queueName: string,
  jobId: string,
  timeoutMs = 20_000,
): Promise<'completed' | 'failed'> {
  return waitFor(
    async () => {
      const state = await (await queueOf(app, queueName).getJob(jobId))?.getState();
      return state === 'completed' || state === 'failed' ? state : undefined;
    },
    timeoutMs,
    `job ${jobId} of ${queueName} to finish`,
  );
}

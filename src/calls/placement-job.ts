import type { JobsOptions } from 'bullmq';
import { DEFAULT_JOB_OPTIONS } from '../infra/queue/queues.js';

/** Runs of the placement job: sending (or looking the call up at Exotel) and its retries. */
export const PLACEMENT_ATTEMPTS = 5;

/** The one job per call that places it (its id is the call's, so repeats collapse). */
export function placementJobOptions(callLogId: string, retryDelayMs: number): JobsOptions {
  return {
    ...DEFAULT_JOB_OPTIONS,
    attempts: PLACEMENT_ATTEMPTS,
    backoff: { type: 'exponential', delay: retryDelayMs },
    jobId: callLogId,
  };
}

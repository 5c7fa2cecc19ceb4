import type { JobsOptions } from 'bullmq';

/** Every queue and job name, with their default options, in one place. */
export const Queues = {
  callPlacement: 'call-placement',
  callEvents: 'call-events',
  maintenance: 'maintenance',
  /** Fans each recorded call event out to the user's endpoints (one delivery each). */
  webhookDispatch: 'webhook-dispatch',
  /** One attempt per job: sends a delivery, and schedules the next attempt when it fails. */
  webhookDelivery: 'webhook-delivery',
  /** Post-call analysis with the agent's model (slow: its own queue and concurrency). */
  callAnalysis: 'call-analysis',
  /** Copies a finished call's recording from the carrier into our storage. */
  recordingCopy: 'recording-copy',
  /** Runs of the campaign dispatcher (repeating, and one more whenever a campaign starts). */
  campaignDispatch: 'campaign-dispatch',
} as const;

export const Jobs = {
  placeCall: 'place-call',
  callStatus: 'call-status',
  finalizeCall: 'finalize-call',
  dispatchWebhooks: 'dispatch-webhooks',
  deliverWebhook: 'deliver-webhook',
  analyzeCall: 'analyze-call',
  copyRecording: 'copy-recording',
  dispatchCampaigns: 'dispatch-campaigns',
} as const;

/** Retried with exponential backoff; failed jobs are kept so they stay visible. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: false,
};

/** BullMQ custom job ids may not contain ':'; ids built from several parts join with '-'. */
export function jobId(...parts: Array<string | number>): string {
  return parts.map((part) => String(part).replace(/[^\w.-]/g, '_')).join('-');
}

import { Processor } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ClosingWorkerHost } from '../infra/queue/closing-worker-host.js';
import { Queues } from '../infra/queue/queues.js';
import { CallAnalysisService } from './call-analysis.service.js';
import type { DispatchWebhooksJob } from './call-webhook-events.js';
import type { AnalyzeCallJob } from './post-call-jobs.js';
import { DispatchBusyError, WebhookDispatcher } from './webhook-dispatcher.js';
import { type DeliverWebhookJob, WebhookDeliveryService } from './webhook-delivery.service.js';

/** How soon a dispatch that found its call being dispatched elsewhere looks again. */
const BUSY_RETRY_MS = 150;

/**
 * Fans recorded call events out to deliveries, several calls at once (each dispatch is a chain
 * of round trips; one call's dispatches are serialized by its lock, so its events stay in order).
 */
@Processor(Queues.webhookDispatch)
export class WebhookDispatchProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly dispatcher: WebhookDispatcher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.webhooks.dispatchConcurrency;
  }

  async process(job: Job<DispatchWebhooksJob>, token?: string): Promise<string> {
    try {
      const created = await this.dispatcher.dispatch(job.data.callLogId);
      return `${created} deliveries`;
    } catch (error) {
      if (!(error instanceof DispatchBusyError)) {
        throw error;
      }
      // Another dispatch of the call runs now (its events come close together): look again
      // shortly, without spending one of the job's attempts.
      await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
      throw new DelayedError();
    }
  }
}

/** One attempt of one delivery per job; many in parallel (they mostly wait on the network). */
@Processor(Queues.webhookDelivery)
export class WebhookDeliveryProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly delivery: WebhookDeliveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.webhooks.concurrency;
  }

  process(job: Job<DeliverWebhookJob>): Promise<string> {
    return this.delivery.attempt(job.data.deliveryId, job.data.attempt);
  }
}

/** Post-call analyses: a vendor failure is retried by the queue, the last one is recorded. */
@Processor(Queues.callAnalysis)
export class CallAnalysisProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly analysis: CallAnalysisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.webhooks.analysisConcurrency;
  }

  process(job: Job<AnalyzeCallJob>): Promise<string> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return this.analysis.analyze(job.data.callLogId, lastAttempt);
  }
}

import { Processor } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ClosingWorkerHost } from '../infra/queue/closing-worker-host.js';
import { Queues } from '../infra/queue/queues.js';
import { CallAnalysisService } from './call-analysis.service.js';
import type { DispatchWebhooksJob } from './call-webhook-events.js';
import type { AnalyzeCallJob } from './post-call-jobs.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { type DeliverWebhookJob, WebhookDeliveryService } from './webhook-delivery.service.js';

/** Fans recorded call events out to deliveries. */
@Processor(Queues.webhookDispatch)
export class WebhookDispatchProcessor extends ClosingWorkerHost {
  constructor(private readonly dispatcher: WebhookDispatcher) {
    super();
  }

  async process(job: Job<DispatchWebhooksJob>): Promise<string> {
    const created = await this.dispatcher.dispatch(job.data.callLogId);
    return `${created} deliveries`;
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
export class CallAnalysisProcessor extends ClosingWorkerHost {
  constructor(private readonly analysis: CallAnalysisService) {
    super();
  }

  process(job: Job<AnalyzeCallJob>): Promise<string> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return this.analysis.analyze(job.data.callLogId, lastAttempt);
  }
}

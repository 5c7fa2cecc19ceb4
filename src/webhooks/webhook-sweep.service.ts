import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { withinTime } from '../infra/queue/enqueue-within.js';
import { DEFAULT_JOB_OPTIONS, Jobs, jobId, Queues } from '../infra/queue/queues.js';
import type { DispatchWebhooksJob } from './call-webhook-events.js';
import { PostCallJobs } from './post-call-jobs.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';

/** How long a recorded event may wait for its dispatch job before the sweep queues another. */
const DISPATCH_GRACE_MS = 60_000;
/** An analysis recorded as due and not done this long after finalization is queued again. */
const ANALYSIS_GRACE_MS = 5 * 60_000;
/** A pending delivery this far past its next attempt lost its job (a crash between two steps). */
const DELIVERY_GRACE_MS = 2 * 60_000;
const BATCH = 500;

export interface WebhookSweepResult {
  dispatches: number;
  analyses: number;
  deliveries: number;
}

/**
 * Repairs what a crash between a write and its enqueue left behind (each write records its
 * follow-up first, so nothing is lost, only late): events recorded on a call but never
 * dispatched, analyses marked due but never run, pending deliveries whose next attempt was
 * never queued. Runs with the reconciliation cron; the daily cleanup purges the delivery log.
 */
@Injectable()
export class WebhookSweepService {
  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly delivery: WebhookDeliveryService,
    private readonly postCall: PostCallJobs,
    @InjectQueue(Queues.webhookDispatch) private readonly dispatch: Queue<DispatchWebhooksJob>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(now = new Date()): Promise<WebhookSweepResult> {
    const result: WebhookSweepResult = { dispatches: 0, analyses: 0, deliveries: 0 };
    const calls = await this.callLogs.findWithUndispatchedWebhooks(
      new Date(now.getTime() - DISPATCH_GRACE_MS),
      BATCH,
    );
    for (const call of calls) {
      const callLogId = call._id.toString();
      await withinTime(
        this.dispatch.add(
          Jobs.dispatchWebhooks,
          { callLogId },
          {
            ...DEFAULT_JOB_OPTIONS,
            jobId: jobId('dispatch-sweep', callLogId, call.webhookEvents?.length ?? 0),
          },
        ),
        this.config.redis.enqueueTimeoutMs,
        `queue ${Queues.webhookDispatch}`,
      );
      result.dispatches += 1;
    }
    for (const call of await this.callLogs.findWithPendingAnalysis(
      new Date(now.getTime() - ANALYSIS_GRACE_MS),
      BATCH,
    )) {
      await this.postCall.requestAnalysis(call._id.toString());
      result.analyses += 1;
    }
    for (const overdue of await this.deliveries.findOverdue(
      new Date(now.getTime() - DELIVERY_GRACE_MS),
      BATCH,
    )) {
      if (overdue.claimedUntil && overdue.claimedUntil > now) {
        continue;
      }
      await this.delivery.schedule(overdue._id, overdue.attempts + 1, 0, `s${now.getTime()}`);
      result.deliveries += 1;
    }
    return result;
  }

  /** Deletes delivery log entries past the retention; returns how many. */
  async purgeDeliveries(now = new Date()): Promise<{ deleted: number }> {
    const before = new Date(
      now.getTime() - this.config.webhooks.deliveryRetentionDays * 86_400_000,
    );
    return { deleted: await this.deliveries.purgeCreatedBefore(before) };
  }
}

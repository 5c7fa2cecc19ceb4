import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Types } from 'mongoose';
import type { CallStatus, CallWebhookEvent } from '../calls/schemas/call-log.schema.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { enqueueWithin } from '../infra/queue/enqueue-within.js';
import { DEFAULT_JOB_OPTIONS, Jobs, jobId, Queues } from '../infra/queue/queues.js';
import type { WebhookEventType } from './webhook-event-types.js';
import { WebhookRoutes } from './webhook-routes.js';

export interface DispatchWebhooksJob {
  callLogId: string;
}

/** The call an event is about: whose endpoints may take it. */
export interface EventSubject {
  userId: { toString(): string };
  agentId: { toString(): string };
}

/**
 * The call paths' side of webhooks, in two steps around the write that causes an event:
 * `prepare` gives the entry to record in that same write (nothing when no endpoint of the user
 * takes the event), `announce` hands the call to the dispatcher once the write is done. A
 * process dying between the two loses nothing: the entry is recorded, and the reconciliation
 * sweep dispatches what was recorded and never dispatched.
 */
@Injectable()
export class CallWebhookEvents {
  private readonly logger = new Logger(CallWebhookEvents.name);

  constructor(
    private readonly routes: WebhookRoutes,
    @InjectQueue(Queues.webhookDispatch) private readonly dispatch: Queue<DispatchWebhooksJob>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The entry for a status change, or undefined when nobody subscribed. */
  status(subject: EventSubject, status: CallStatus, occurredAt: Date) {
    return this.prepare(subject, 'call.status', occurredAt, { status });
  }

  async prepare(
    subject: EventSubject,
    type: WebhookEventType,
    occurredAt: Date,
    details: Pick<CallWebhookEvent, 'status' | 'turnId'> = {},
  ): Promise<CallWebhookEvent | undefined> {
    try {
      if (!(await this.routes.wants(subject.userId, subject.agentId, type))) {
        return undefined;
      }
    } catch (error) {
      // Routing must not fail the call path: the event is recorded, the dispatcher decides.
      this.logger.warn(`webhook routing unavailable (${String(error)}); recording ${type}`);
    }
    return { eventId: new Types.ObjectId(), type, occurredAt, ...details };
  }

  /**
   * Asks for the call's recorded events to be dispatched. Never throws: an event that could not
   * be announced is found by the sweep.
   */
  async announce(callLogId: { toString(): string }, event: CallWebhookEvent): Promise<void> {
    try {
      await enqueueWithin(
        this.dispatch,
        this.config.redis.enqueueTimeoutMs,
        Jobs.dispatchWebhooks,
        { callLogId: callLogId.toString() },
        { ...DEFAULT_JOB_OPTIONS, jobId: jobId('dispatch', event.eventId.toString()) },
      );
    } catch (error) {
      this.logger.warn(
        `webhook event ${event.type} of call ${callLogId.toString()} left for the sweep: ${String(error)}`,
      );
    }
  }
}

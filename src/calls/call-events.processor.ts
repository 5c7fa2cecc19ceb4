import { Processor } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ClosingWorkerHost } from '../infra/queue/closing-worker-host.js';
import { Jobs, Queues } from '../infra/queue/queues.js';
import { CallLifecycleService, type CallStatusEvent } from './call-lifecycle.service.js';

/** A CallStatusEvent as it travels through Redis (dates as ISO strings). */
export type CallStatusJob = Omit<CallStatusEvent, 'occurredAt' | 'startedAt' | 'endedAt'> & {
  occurredAt: string;
  startedAt?: string;
  endedAt?: string;
};

export interface FinalizeCallJob {
  callLogId: string;
}

export function toCallStatusJob(event: CallStatusEvent): CallStatusJob {
  return {
    ...event,
    occurredAt: event.occurredAt.toISOString(),
    startedAt: event.startedAt?.toISOString(),
    endedAt: event.endedAt?.toISOString(),
  };
}

function fromCallStatusJob(job: CallStatusJob): CallStatusEvent {
  return {
    ...job,
    occurredAt: new Date(job.occurredAt),
    startedAt: job.startedAt ? new Date(job.startedAt) : undefined,
    endedAt: job.endedAt ? new Date(job.endedAt) : undefined,
  };
}

/** Applies call status events and end-of-call work off the request path. */
@Processor(Queues.callEvents)
export class CallEventsProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly lifecycle: CallLifecycleService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.calls.eventConcurrency;
  }

  async process(job: Job<CallStatusJob | FinalizeCallJob>): Promise<string> {
    if (job.name === Jobs.finalizeCall) {
      return this.lifecycle.finalize(job.data.callLogId);
    }
    const advanced = await this.lifecycle.applyEvent(fromCallStatusJob(job.data as CallStatusJob));
    return advanced ? `moved to ${advanced.status}` : 'no change';
  }
}

import { Processor } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { PlaceCallJob } from '../calls/calls.service.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ClosingWorkerHost } from '../infra/queue/closing-worker-host.js';
import { Queues } from '../infra/queue/queues.js';
import { CallPlacementService, type PlacementOutcome } from './call-placement.service.js';

@Processor(Queues.callPlacement)
export class CallPlacementProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly placement: CallPlacementService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.calls.placementConcurrency;
  }

  process(job: Job<PlaceCallJob>): Promise<PlacementOutcome> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return this.placement.place(job.data.callLogId, lastAttempt);
  }
}

import { Processor } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ClosingWorkerHost } from '../infra/queue/closing-worker-host.js';
import { Queues } from '../infra/queue/queues.js';
import type { CopyRecordingJob } from '../webhooks/post-call-jobs.js';
import { RecordingCopyService } from './recording-copy.service.js';

/** Recording copies: a failure that may pass is retried by the queue, the last one recorded. */
@Processor(Queues.recordingCopy)
export class RecordingCopyProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly copies: RecordingCopyService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.recordings.concurrency;
  }

  process(job: Job<CopyRecordingJob>): Promise<string> {
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    return this.copies.copy(job.data.callLogId, lastAttempt);
  }
}

import { InjectQueue, Processor } from '@nestjs/bullmq';
import { Inject, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ClosingWorkerHost } from '../infra/queue/closing-worker-host.js';
import { Jobs, Queues } from '../infra/queue/queues.js';
import { CampaignDispatcher, type DispatchReport } from './campaign-dispatcher.js';

/** The repeating job's scheduler id: one per deployment, whichever worker set it up. */
export const DISPATCH_SCHEDULER_ID = 'campaign-dispatch';

/**
 * Runs the campaign dispatcher as queue jobs: every CAMPAIGN_DISPATCH_INTERVAL_MS (one job
 * scheduler shared by all workers, so one run per interval whatever their number) and once
 * more whenever a campaign starts or resumes.
 */
@Processor(Queues.campaignDispatch)
export class CampaignDispatchProcessor extends ClosingWorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(CampaignDispatchProcessor.name);

  constructor(
    private readonly dispatcher: CampaignDispatcher,
    @InjectQueue(Queues.campaignDispatch) private readonly queue: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = 1;
    // Not awaited: start-up must not wait for the queue Redis (it may be down for a while).
    void this.setUpSchedule().catch((error: unknown) => {
      this.logger.warn(`campaign dispatch schedule not set up: ${String(error)}`);
    });
  }

  /** The repeating run, shared by every worker; removed when CAMPAIGN_DISPATCH_INTERVAL_MS=0. */
  private async setUpSchedule(): Promise<void> {
    const every = this.config.campaigns.dispatchIntervalMs;
    if (every > 0) {
      await this.queue.upsertJobScheduler(
        DISPATCH_SCHEDULER_ID,
        { every },
        {
          name: Jobs.dispatchCampaigns,
          opts: { removeOnComplete: true, removeOnFail: 100, attempts: 1 },
        },
      );
    } else {
      await this.queue.removeJobScheduler(DISPATCH_SCHEDULER_ID);
    }
  }

  async process(): Promise<DispatchReport> {
    const report = await this.dispatcher.run();
    if (report.started + report.recovered + report.campaignsCompleted > 0) {
      this.logger.debug(`campaign dispatch: ${JSON.stringify(report)}`);
    }
    return report;
  }
}

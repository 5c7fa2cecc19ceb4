import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { enqueueWithin } from '../infra/queue/enqueue-within.js';
import { Jobs, Queues } from '../infra/queue/queues.js';

/** Asks for a dispatcher run now (a campaign started or resumed), besides the repeating ones. */
@Injectable()
export class CampaignDispatchKick {
  private readonly logger = new Logger(CampaignDispatchKick.name);

  constructor(
    @InjectQueue(Queues.campaignDispatch) private readonly queue: Queue,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Never throws: without it the next repeating run starts the calls. With
   * CAMPAIGN_DISPATCH_INTERVAL_MS=0 the dispatcher never runs by itself, so nothing is queued.
   */
  async kick(): Promise<void> {
    if (this.config.campaigns.dispatchIntervalMs === 0) {
      return;
    }
    try {
      await enqueueWithin(
        this.queue,
        this.config.redis.enqueueTimeoutMs,
        Jobs.dispatchCampaigns,
        {},
        { removeOnComplete: true, removeOnFail: 100, attempts: 1 },
      );
    } catch (error) {
      this.logger.warn(`campaign dispatch not kicked (the next run will do): ${String(error)}`);
    }
  }
}

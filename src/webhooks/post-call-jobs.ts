import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { enqueueWithin } from '../infra/queue/enqueue-within.js';
import { DEFAULT_JOB_OPTIONS, Jobs, jobId, Queues } from '../infra/queue/queues.js';
import type { SessionDocument } from '../sessions/schemas/session.schema.js';
import { WebhookRoutes } from './webhook-routes.js';

export interface AnalyzeCallJob {
  callLogId: string;
}

/**
 * Decides whether a finished call gets a post-call analysis and queues it. An analysis costs a
 * model request, so it runs only when someone will read it: the agent defines an `analysis`
 * section, or one of the user's endpoints takes `call.analyzed`. And only for a call that had a
 * conversation (the caller said something) and when a model is configured.
 */
@Injectable()
export class PostCallJobs {
  private readonly logger = new Logger(PostCallJobs.name);

  constructor(
    private readonly routes: WebhookRoutes,
    @InjectQueue(Queues.callAnalysis) private readonly analyses: Queue<AnalyzeCallJob>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async analysisDue(call: CallLogDocument, session: SessionDocument | null): Promise<boolean> {
    if (!this.config.voice.openai.apiKey || !session) {
      return false;
    }
    const callerSpoke = session.conversationHistory.some((message) => message.role === 'user');
    if (!callerSpoke) {
      return false;
    }
    if (session.agentConfig.analysis) {
      return true;
    }
    try {
      return await this.routes.wants(call.userId, call.agentId, 'call.analyzed');
    } catch (error) {
      this.logger.warn(
        `webhook routing unavailable (${String(error)}); analysing call ${call._id.toString()}`,
      );
      return true;
    }
  }

  /** Queues the analysis; never throws (the sweep re-queues an analysis recorded as due). */
  async requestAnalysis(callLogId: string): Promise<void> {
    try {
      await enqueueWithin(
        this.analyses,
        this.config.redis.enqueueTimeoutMs,
        Jobs.analyzeCall,
        { callLogId },
        { ...DEFAULT_JOB_OPTIONS, jobId: jobId('analysis', callLogId) },
      );
    } catch (error) {
      this.logger.warn(`analysis of call ${callLogId} left for the sweep: ${String(error)}`);
    }
  }
}

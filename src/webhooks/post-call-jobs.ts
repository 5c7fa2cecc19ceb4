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

export interface CopyRecordingJob {
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
    @InjectQueue(Queues.recordingCopy) private readonly recordingCopies: Queue<CopyRecordingJob>,
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

  /**
   * Queues the copy of the call's recording, retried with backoff (RECORDING_COPY_ATTEMPTS,
   * doubling from RECORDING_RETRY_BASE_MS); never throws (the sweep re-queues a copy recorded
   * as due). `again` (the sweep): a finished job of the same id is replaced, since the copy is
   * still due; one still waiting or running is left to finish.
   */
  async requestRecordingCopy(callLogId: string, { again = false } = {}): Promise<void> {
    const { maxAttempts, retryBaseMs } = this.config.recordings;
    const id = jobId('recording', callLogId);
    try {
      if (again) {
        const existing = await this.recordingCopies.getJob(id);
        const state = await existing?.getState();
        if (state === 'completed' || state === 'failed') {
          await existing?.remove();
        } else if (existing !== undefined) {
          return;
        }
      }
      await enqueueWithin(
        this.recordingCopies,
        this.config.redis.enqueueTimeoutMs,
        Jobs.copyRecording,
        { callLogId },
        {
          ...DEFAULT_JOB_OPTIONS,
          attempts: maxAttempts,
          backoff: { type: 'exponential', delay: retryBaseMs },
          jobId: id,
        },
      );
    } catch (error) {
      this.logger.warn(`recording copy of call ${callLogId} left for the sweep: ${String(error)}`);
    }
  }
}

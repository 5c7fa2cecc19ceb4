import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { CallLifecycleService } from '../calls/call-lifecycle.service.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { PlaceCallJob } from '../calls/calls.service.js';
import { placementJobOptions } from '../calls/placement-job.js';
import { fromExotelStatus, isTerminal } from '../calls/call-status.js';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { Jobs, Queues } from '../infra/queue/queues.js';
import { CallPlacementService } from '../telephony/call-placement.service.js';
import { ExotelClient } from '../telephony/exotel/exotel.client.js';
import { UsersRepository } from '../users/users.repository.js';
import { MarkerSweepService } from './marker-sweep.service.js';

export interface ReconciliationSummary {
  /** Placement jobs enqueued again for calls whose job was lost (e.g. Redis lost its data). */
  requeued: number;
  stale: number;
  finishedFromExotel: number;
  neverPlaced: number;
  stillRunning: number;
  errors: number;
  refinalized: number;
  /** Finalized calls whose exactly-once markers were removed (past their retention). */
  markersRemoved: number;
}

const BATCH = 200;
// A placement job normally starts within seconds of POST /calls.
const LOST_PLACEMENT_AFTER_MS = 2 * 60_000;
const FIRST_DEFER_MS = 5 * 60_000;
const MAX_DEFER_MS = 6 * 3600_000;
// A terminal call normally finalizes within milliseconds; older ones were interrupted.
const UNFINALIZED_GRACE_MS = 60_000;

/**
 * Exotel's status callbacks can be lost. Calls stuck in a non-terminal status are checked
 * against Exotel's call details and finished through the same lifecycle path as a callback;
 * calls that never reached Exotel are failed with NEVER_PLACED. Terminal calls whose
 * end-of-call work was interrupted are finalized again. Last, the exactly-once markers of
 * calls finalized long enough ago are removed (MarkerSweepService).
 */
@Injectable()
export class CallReconciliationService {
  private readonly logger = new Logger(CallReconciliationService.name);

  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly users: UsersRepository,
    private readonly lifecycle: CallLifecycleService,
    private readonly markerSweep: MarkerSweepService,
    private readonly exotel: ExotelClient,
    private readonly placement: CallPlacementService,
    @InjectQueue(Queues.callPlacement) private readonly placementQueue: Queue<PlaceCallJob>,
    private readonly secretBox: SecretBoxService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(now = new Date()): Promise<ReconciliationSummary> {
    const summary: ReconciliationSummary = {
      requeued: 0,
      stale: 0,
      finishedFromExotel: 0,
      neverPlaced: 0,
      stillRunning: 0,
      errors: 0,
      refinalized: 0,
      markersRemoved: 0,
    };
    const staleMs = this.config.maintenance.staleCallMinutes * 60_000;
    summary.requeued = await this.requeueLostPlacements(now, new Date(now.getTime() - staleMs));
    const stale = await this.callLogs.findStale(new Date(now.getTime() - staleMs), now, BATCH);
    summary.stale = stale.length;
    for (const call of stale) {
      try {
        await this.reconcile(call, now, summary);
      } catch (error) {
        summary.errors += 1;
        await this.defer(call, now, error);
      }
    }
    for (const call of await this.callLogs.findUnfinalized(
      new Date(now.getTime() - UNFINALIZED_GRACE_MS),
      now,
      BATCH,
    )) {
      try {
        if ((await this.lifecycle.finalize(call._id.toString())) === 'finalized') {
          summary.refinalized += 1;
        }
      } catch (error) {
        summary.errors += 1;
        await this.defer(call, now, error);
      }
    }
    summary.markersRemoved = await this.markerSweep.run(now);
    return summary;
  }

  /**
   * A call recorded by POST /calls always has a placement job; if the queue lost it (Redis
   * restarted empty, or enqueueing failed after the call was stored), the call would wait
   * until it turned stale and failed NEVER_PLACED. Calls still young get their job again
   * (same job id, so a job that exists is left alone; the placement claim makes a second
   * run harmless anyway).
   */
  private async requeueLostPlacements(now: Date, staleBefore: Date): Promise<number> {
    let requeued = 0;
    const waiting = await this.callLogs.findUnplaced(
      new Date(now.getTime() - LOST_PLACEMENT_AFTER_MS),
      staleBefore,
      BATCH,
    );
    for (const call of waiting) {
      const callLogId = call._id.toString();
      if (await this.placementQueue.getJob(callLogId)) {
        continue;
      }
      await this.placementQueue.add(
        Jobs.placeCall,
        { callLogId },
        placementJobOptions(callLogId, this.config.calls.placementRetryDelayMs),
      );
      this.logger.warn(`placement job of call ${callLogId} was missing: enqueued again`);
      requeued += 1;
    }
    return requeued;
  }

  /**
   * A call that could not be settled is left alone for a while, longer after each failure,
   * so the same failing calls never fill every batch and starve the others.
   */
  private async defer(call: CallLogDocument, now: Date, error: unknown): Promise<void> {
    const attempts = call.reconcile?.attempts ?? 0;
    const waitMs = Math.min(MAX_DEFER_MS, FIRST_DEFER_MS * 2 ** attempts);
    this.logger.warn(
      `reconciling call ${call._id.toString()} failed (attempt ${attempts + 1}), next try in ${Math.round(waitMs / 60_000)} min: ${String(error)}`,
    );
    await this.callLogs.deferReconciliation(
      call._id,
      new Date(now.getTime() + waitMs),
      error instanceof Error ? error.message : String(error),
    );
  }

  /**
   * An outbound call Exotel never confirmed: one whose connect request was never sent is
   * withdrawn and failed (NEVER_PLACED); one whose request was sent with its outcome unknown
   * (a placement job that gave up or was lost) is settled by looking it up at Exotel, never
   * by sending it again.
   */
  private async reconcileUnplaced(
    call: CallLogDocument,
    now: Date,
    summary: ReconciliationSummary,
  ): Promise<void> {
    const callLogId = call._id.toString();
    if (await this.callLogs.withdrawPlacement(call._id)) {
      await this.lifecycle.applyEvent({
        callLogId,
        status: 'failed',
        occurredAt: now,
        error: { code: 'NEVER_PLACED', message: 'The call never reached Exotel' },
      });
      summary.neverPlaced += 1;
      return;
    }
    const outcome = await this.placement.place(callLogId, true);
    if (outcome === 'failed') {
      summary.neverPlaced += 1;
    } else {
      summary.stillRunning += 1;
    }
  }

  private async reconcile(
    call: CallLogDocument,
    now: Date,
    summary: ReconciliationSummary,
  ): Promise<void> {
    const callLogId = call._id.toString();
    if (!call.exotelCallSid) {
      if (call.direction === 'outbound' && call.status === 'initiated') {
        await this.reconcileUnplaced(call, now, summary);
      } else {
        summary.stillRunning += 1;
      }
      return;
    }
    const user = await this.users.findById(call.userId.toString());
    if (!user?.exotelConfig) {
      summary.stillRunning += 1;
      return;
    }
    const details = await this.exotel.getCallDetails(
      {
        apiKey: user.exotelConfig.apiKey,
        apiToken: this.secretBox.decrypt(user.exotelConfig.apiToken, user._id.toString()),
        sid: user.exotelConfig.sid,
        subdomain: user.exotelConfig.subdomain,
      },
      call.exotelCallSid,
    );
    const status = fromExotelStatus(details.status);
    if (!status || !isTerminal(status)) {
      summary.stillRunning += 1;
      return;
    }
    await this.lifecycle.applyEvent({
      callLogId,
      status,
      occurredAt: now,
      exotelCallSid: call.exotelCallSid,
      durationSec: details.durationSec,
      recordingUrl: details.recordingUrl,
    });
    summary.finishedFromExotel += 1;
  }
}

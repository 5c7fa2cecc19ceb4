import { Inject, Injectable, Logger } from '@nestjs/common';
import { AgentsRepository } from '../agents/agents.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisLockService } from '../infra/lock/redis-lock.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersRepository } from '../users/users.repository.js';
import { ActiveCallSlots } from './active-call-slots.js';
import { CallCostCalculator } from './call-cost.calculator.js';
import { CallLogsRepository, type StatusChange } from './call-logs.repository.js';
import { isSuccessful, isTerminal, statusesBefore } from './call-status.js';
import type { CallLogDocument, CallStatus } from './schemas/call-log.schema.js';

/** Exotel's longest call (its TimeLimit maximum): inbound calls get no TimeLimit of ours. */
const EXOTEL_LONGEST_CALL_SECONDS = 14_400;

// Renewed while the finalizer runs; a finalizer paused past it is fenced by the database.
const FINALIZE_LOCK_MS = 60_000;

/** One status report about a call, from Exotel, the placement worker, a timeout or a hangup. */
export interface CallStatusEvent {
  callLogId: string;
  status: CallStatus;
  occurredAt: Date;
  exotelCallSid?: string;
  startedAt?: Date;
  endedAt?: Date;
  durationSec?: number;
  recordingUrl?: string;
  error?: { code: string; message: string };
}

/**
 * The single path every call status goes through. Each step is an atomic, conditional
 * single-document update, so events may repeat, arrive in any order or run concurrently;
 * and every end-of-call step is idempotent, so re-running `finalize` after a crash (the
 * queue retries the job, the reconciliation job sweeps calls left unfinalized) completes
 * the work without doing any part twice.
 */
@Injectable()
export class CallLifecycleService {
  private readonly logger = new Logger(CallLifecycleService.name);

  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly sessions: SessionsService,
    private readonly users: UsersRepository,
    private readonly agents: AgentsRepository,
    private readonly costs: CallCostCalculator,
    private readonly locks: RedisLockService,
    private readonly slots: ActiveCallSlots,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async applyEvent(event: CallStatusEvent): Promise<CallLogDocument | null> {
    const current = await this.callLogs.findById(event.callLogId);
    if (!current) {
      this.logger.warn(`status ${event.status} for unknown call ${event.callLogId} ignored`);
      return null;
    }
    if (
      event.exotelCallSid &&
      current.exotelCallSid &&
      event.exotelCallSid !== current.exotelCallSid
    ) {
      // A report about another Exotel call (a replayed URL, a mixed-up callback) must never
      // finish or bill this one; retrying cannot make it match, so the job just completes.
      this.logger.warn(
        `status ${event.status} for call ${event.callLogId} with CallSid ${JSON.stringify(event.exotelCallSid)} ignored: the call is ${current.exotelCallSid}`,
      );
      return null;
    }
    if (isTerminal(current.status) && current.finalizedAt) {
      // Finished and fully settled: a repeated or late event has nothing left to do.
      return null;
    }
    if (!statusesBefore(event.status).includes(current.status)) {
      // The call is already at or past this status; only a terminal call's end may be pending.
      if (isTerminal(current.status)) {
        await this.finalize(current._id.toString());
      }
      return null;
    }
    if (event.exotelCallSid && !current.exotelCallSid) {
      await this.callLogs.setExotelCallSid(current._id, event.exotelCallSid);
    }
    const change: StatusChange = {
      status: event.status,
      exotelCallSid: current.exotelCallSid ? undefined : event.exotelCallSid,
      recordingUrl: event.recordingUrl,
      error: event.error,
    };
    if (event.status === 'in-progress') {
      change.startedAt = current.startedAt ?? event.startedAt ?? event.occurredAt;
    }
    if (isTerminal(event.status)) {
      const endedAt = event.endedAt ?? event.occurredAt;
      const startedAt = current.startedAt ?? event.startedAt;
      change.startedAt = startedAt;
      change.endedAt = endedAt;
      // Measured from timestamps when no duration is reported: never more than a call can last.
      const longest =
        current.direction === 'outbound'
          ? this.config.calls.timeLimitSeconds
          : EXOTEL_LONGEST_CALL_SECONDS;
      change.durationSec =
        event.durationSec ??
        (startedAt
          ? Math.min(
              longest,
              Math.max(0, Math.round((endedAt.getTime() - startedAt.getTime()) / 1000)),
            )
          : 0);
    }
    const advanced = await this.callLogs.advanceStatus(current._id, change);
    const latest = advanced ?? current;
    if (isTerminal(latest.status)) {
      // Also on a repeated terminal event: finishes what a crashed run left undone.
      await this.finalize(latest._id.toString());
    }
    return advanced;
  }

  /**
   * Runs every end-of-call step that has not completed yet; safe to call any number of times.
   * One finalizer per call at a time (cluster lock): the markers that make each step
   * idempotent are removed at the end of a run, so two interleaved runs could otherwise
   * both pass a check. A run that finds the lock taken leaves the work to its holder; if the
   * holder dies, its queue job is retried and the reconciliation job sweeps unfinished calls.
   */
  async finalize(callLogId: string): Promise<'finalized' | 'busy' | 'skipped'> {
    const outcome = await this.locks.runExclusive(
      `finalize-call:${callLogId}`,
      FINALIZE_LOCK_MS,
      () => this.finalizeUnlocked(callLogId),
    );
    return outcome.ran ? outcome.result : 'busy';
  }

  private async finalizeUnlocked(callLogId: string): Promise<'finalized' | 'skipped'> {
    let call = await this.callLogs.findById(callLogId);
    if (!call || !isTerminal(call.status) || call.finalizedAt) {
      return 'skipped';
    }
    const session = await this.sessions.end(call.sessionId, call.endedAt ?? new Date());
    await this.slots.release(call.userId.toString(), call.sessionId);

    if (!call.billing) {
      await this.callLogs.prepareBilling(
        call._id,
        session ? await this.sessions.transcript(session) : '',
        this.costs.calculate(call.durationSec ?? 0, session?.usage),
      );
      call = await this.reload(call);
    }
    if (call.billing?.state === 'pending') {
      const amount = call.billing.amount;
      const charged = await this.users.chargeCallOnce(call.userId, callLogId, amount, async () => {
        const latest = await this.callLogs.findById(callLogId);
        return latest?.billing?.state === 'pending';
      });
      if (charged !== null) {
        await this.callLogs.markBillingApplied(
          call._id,
          charged ?? 0,
          Math.round((amount - (charged ?? 0)) * 10_000) / 10_000,
        );
      }
      call = await this.reload(call);
    }
    if (call.billing?.state === 'applied') {
      await this.users.settleCallCharge(call.userId, callLogId, call.billing.charged ?? 0);
      await this.callLogs.markBillingDone(call._id);
    }

    if (call.agentStatsState !== 'applied' && call.agentStatsState !== 'done') {
      const added = await this.agents.addCallToStatsOnce(
        call.agentId,
        callLogId,
        { durationSec: call.durationSec ?? 0, successful: isSuccessful(call.status) },
        async () => {
          const state = (await this.callLogs.findById(callLogId))?.agentStatsState;
          return state !== 'applied' && state !== 'done';
        },
      );
      if (added) {
        await this.callLogs.setAgentStatsState(call._id, 'applied');
      }
    }
    if (call.agentStatsState !== 'done') {
      await this.agents.settleCallStats(call.agentId, callLogId);
      await this.callLogs.setAgentStatsState(call._id, 'done');
    }
    await this.callLogs.markFinalized(call._id, new Date());
    this.logger.debug(
      `call ${callLogId} finalized (${call.status}, charged ${call.billing?.charged ?? 0})`,
    );
    return 'finalized';
  }

  private async reload(call: CallLogDocument): Promise<CallLogDocument> {
    return (await this.callLogs.findById(call._id)) ?? call;
  }
}

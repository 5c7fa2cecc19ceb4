import { Inject, Injectable, Logger } from '@nestjs/common';
import { AgentsRepository, type AgentStatsFence } from '../agents/agents.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisLockService } from '../infra/lock/redis-lock.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { type ChargeFence, UsersRepository } from '../users/users.repository.js';
import { ActiveCallSlots } from './active-call-slots.js';
import { CallCostCalculator } from './call-cost.calculator.js';
import { CallLogsRepository, type StatusChange } from './call-logs.repository.js';
import { isSuccessful, isTerminal, statusesBefore } from './call-status.js';
import {
  type DailyCallStatFence,
  type DailyCallStatKey,
  DailyCallStatsRepository,
} from './daily-call-stats.repository.js';
import type { CallLogDocument, CallStatus } from './schemas/call-log.schema.js';
import { utcDay } from './schemas/daily-call-stat.schema.js';

/** Exotel's longest call (its TimeLimit maximum): inbound calls get no TimeLimit of ours. */
const EXOTEL_LONGEST_CALL_SECONDS = 14_400;

// Renewed while the finalizer runs; a finalizer paused past it is fenced by the database.
const FINALIZE_LOCK_MS = 60_000;
// Rounds of fenced writes before giving up (each lost round means another charge landed).
const FENCE_ATTEMPTS = 50;

const round4 = (value: number): number => Math.round(value * 10_000) / 10_000;

/** The end-of-call effects still to apply, as far as this finalizer knows. */
interface Effects {
  /** Credits to take (the billing is pending). */
  charge: boolean;
  /** Agent stats and the daily roll-up to add to (one step on the call log). */
  stats: boolean;
}

function effectsDue(call: CallLogDocument): Effects {
  return {
    charge: call.billing?.state === 'pending',
    stats: call.agentStatsState !== 'applied' && call.agentStatsState !== 'done',
  };
}

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
    private readonly dailyStats: DailyCallStatsRepository,
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
        await this.finalize(current._id.toString(), current);
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
      await this.finalize(latest._id.toString(), latest);
    }
    return advanced;
  }

  /**
   * Runs every end-of-call step that has not completed yet; safe to call any number of times.
   * One finalizer per call at a time (cluster lock): the markers that make each step
   * idempotent are removed at the end of a run, so two interleaved runs could otherwise
   * both pass a check. A run that finds the lock taken leaves the work to its holder; if the
   * holder dies, its queue job is retried and the reconciliation job sweeps unfinished calls.
   * `known` is the call as the caller just read or wrote it (spares reading it again).
   */
  async finalize(
    callLogId: string,
    known?: CallLogDocument,
  ): Promise<'finalized' | 'busy' | 'skipped'> {
    const outcome = await this.locks.runExclusive(
      `finalize-call:${callLogId}`,
      FINALIZE_LOCK_MS,
      () => this.finalizeUnlocked(callLogId, known),
    );
    return outcome.ran ? outcome.result : 'busy';
  }

  /**
   * In order: end the session (its usage prices the call), fix transcript and cost, then apply
   * the charge, the agent stats and the daily roll-up, each at most once (fenced: see
   * `applyEffects`), record them on the call, settle the markers, and mark the call finalized.
   */
  private async finalizeUnlocked(
    callLogId: string,
    known?: CallLogDocument,
  ): Promise<'finalized' | 'skipped'> {
    let call = known ?? (await this.callLogs.findById(callLogId));
    if (!call || !isTerminal(call.status) || call.finalizedAt) {
      return 'skipped';
    }
    const session = await this.sessions.end(call.sessionId, call.endedAt ?? new Date());
    await this.slots.release(call.userId.toString(), call.sessionId);

    let due = effectsDue(call);
    const needsBilling = !call.billing;
    // Read before the call is read again (below), so the fences hold (see applyEffects).
    let fences = await this.readFences(call, {
      charge: needsBilling || due.charge,
      stats: due.stats,
    });
    if (needsBilling) {
      const prepared = await this.callLogs.prepareBilling(
        call._id,
        session ? await this.sessions.transcript(session) : '',
        this.costs.calculate(call.durationSec ?? 0, session?.usage),
      );
      call = prepared ?? (await this.callLogs.findById(callLogId)) ?? call;
    } else {
      call = (await this.callLogs.findById(callLogId)) ?? call;
    }

    let charged: number | undefined;
    let statsApplied = false;
    // What this run has not settled yet: after a lost round, only that part is tried again.
    let remaining: Effects = { charge: true, stats: true };
    for (let attempt = 0; ; attempt += 1) {
      const now = effectsDue(call);
      due = { charge: now.charge && remaining.charge, stats: now.stats && remaining.stats };
      const outcome = await this.applyEffects(call, due, fences);
      charged ??= outcome.charged;
      statsApplied ||= outcome.statsApplied;
      if (!outcome.retry.charge && !outcome.retry.stats) {
        break;
      }
      if (attempt + 1 >= FENCE_ATTEMPTS) {
        throw new Error(`Could not finalize call ${callLogId}: its user or agent keeps changing`);
      }
      remaining = outcome.retry;
      fences = await this.readFences(call, remaining);
      call = (await this.callLogs.findById(callLogId)) ?? call;
    }

    const amount = call.billing?.amount ?? 0;
    const charge =
      charged === undefined ? undefined : { charged, shortfall: round4(amount - charged) };
    await this.callLogs.recordApplied(call._id, { charge, agentStats: statsApplied });

    const settledCharge =
      charge?.charged ?? (call.billing?.state === 'applied' ? call.billing.charged : undefined);
    const settleStats = statsApplied || call.agentStatsState === 'applied';
    const key = this.dailyKey(call);
    await Promise.all([
      settledCharge === undefined
        ? undefined
        : this.users.settleCallCharge(call.userId, callLogId, settledCharge),
      settleStats ? this.agents.settleCallStats(call.agentId, callLogId) : undefined,
      settleStats ? this.dailyStats.settleCall(key, callLogId) : undefined,
    ]);
    await this.callLogs.recordFinalized(call._id, new Date());
    this.logger.debug(
      `call ${callLogId} finalized (${call.status}, charged ${settledCharge ?? 0})`,
    );
    return 'finalized';
  }

  /** The fences of the effects in `which` (user, agent, roll-up document), read together. */
  private async readFences(
    call: CallLogDocument,
    which: Effects,
  ): Promise<{ user?: ChargeFence; agent?: AgentStatsFence; day?: DailyCallStatFence }> {
    const callLogId = call._id.toString();
    const [user, agent, day] = await Promise.all([
      which.charge ? this.users.readChargeFence(call.userId, callLogId) : undefined,
      which.stats ? this.agents.readStatsFence(call.agentId, callLogId) : undefined,
      which.stats ? this.dailyStats.readFence(this.dailyKey(call), callLogId) : undefined,
    ]);
    return { user, agent, day };
  }

  /**
   * Applies the effects `due` says the call still needs, each in one conditional update on the
   * fence read before `call` was (re)read. That order is what makes them exactly-once even for
   * a finalizer that lost its lock: if another one applied an effect and already removed its
   * marker, it had recorded the effect on the call before, so `call` does not list it as due;
   * if it applied it after the fence was read, the fence moved and the update does not apply
   * (`retry` lists it: read the fence and the call again). A marker still there means applied.
   */
  private async applyEffects(
    call: CallLogDocument,
    due: Effects,
    fences: { user?: ChargeFence; agent?: AgentStatsFence; day?: DailyCallStatFence },
  ): Promise<{ charged?: number; statsApplied: boolean; retry: Effects }> {
    const callLogId = call._id.toString();
    const contribution = {
      durationSec: call.durationSec ?? 0,
      successful: isSuccessful(call.status),
    };
    const chargeUser = async (): Promise<number | null | undefined> => {
      if (!due.charge) {
        return undefined;
      }
      const fence = fences.user;
      if (fence === undefined) {
        return 0; // The user is gone: nothing to take.
      }
      if (fence.charged !== undefined) {
        return fence.charged;
      }
      return (
        (await this.users.chargeCall(call.userId, callLogId, fence, call.billing?.amount ?? 0)) ??
        null
      );
    };
    const addToAgent = async (): Promise<boolean | undefined> => {
      const fence = fences.agent;
      if (!due.stats || fence === undefined || fence.pending) {
        return due.stats; // A missing agent has no stats to add to.
      }
      return this.agents.addCallToStats(call.agentId, callLogId, fence, contribution);
    };
    const addToDay = async (): Promise<boolean | undefined> => {
      const fence = fences.day;
      if (!due.stats || fence === undefined || fence.pending) {
        return due.stats;
      }
      return this.dailyStats.addCall(this.dailyKey(call), callLogId, fence, {
        ...contribution,
        cost: call.costBreakdown?.total ?? 0,
      });
    };
    const [charged, agentAdded, dayAdded] = await Promise.all([
      chargeUser(),
      addToAgent(),
      addToDay(),
    ]);
    return {
      charged: charged ?? undefined,
      statsApplied: due.stats && agentAdded === true && dayAdded === true,
      retry: { charge: charged === null, stats: due.stats && (!agentAdded || !dayAdded) },
    };
  }

  private dailyKey(call: CallLogDocument): DailyCallStatKey {
    return {
      userId: call.userId,
      day: utcDay(call.createdAt),
      agentId: call.agentId,
      status: call.status,
    };
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AgentsRepository } from '../agents/agents.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisLockService } from '../infra/lock/redis-lock.service.js';
import type { SessionDocument } from '../sessions/schemas/session.schema.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersRepository } from '../users/users.repository.js';
import { CallWebhookEvents } from '../webhooks/call-webhook-events.js';
import { PostCallJobs } from '../webhooks/post-call-jobs.js';
import { ActiveCallSlots } from './active-call-slots.js';
import { CallCostCalculator } from './call-cost.calculator.js';
import { CALL_OUTCOME_LISTENER, type CallOutcomeListener } from './call-outcome.port.js';
import { CallLogsRepository, type StatusChange } from './call-logs.repository.js';
import { isSuccessful, isTerminal, statusesBefore } from './call-status.js';
import { DailyCallStatsRepository, dailyCallStatKey } from './daily-call-stats.repository.js';
import {
  FINALIZER_DEADLINE_MS,
  FinalizationClock,
  FinalizerDeadlineExceeded,
} from './finalization-deadline.js';
import type { CallLogDocument, CallStatus, CostBreakdown } from './schemas/call-log.schema.js';

/** Exotel's longest call (its TimeLimit maximum): inbound calls get no TimeLimit of ours. */
const EXOTEL_LONGEST_CALL_SECONDS = 14_400;

// Renewed while the finalizer runs (the deadline, not the lock, is what fences a paused one).
const FINALIZE_LOCK_MS = 60_000;
// Rounds of one effect's write before giving up (each lost round means its document changed).
const WRITE_ATTEMPTS = 50;

const round4 = (value: number): number => Math.round(value * 10_000) / 10_000;

/** The end-of-call effects still to apply, as far as this finalizer knows. */
interface Effects {
  /** Credits to take (the billing is pending). */
  charge: boolean;
  /** Agent stats and the daily roll-up to add to. */
  stats: boolean;
}

function effectsDue(call: CallLogDocument): Effects {
  return {
    charge: call.billing?.state === 'pending',
    stats: call.agentStatsState !== 'applied' && call.agentStatsState !== 'done',
  };
}

/** The call as a caller just read or wrote it, and when (FinalizationClock) it sent that command. */
export interface CallRead {
  call: CallLogDocument;
  readAt: number;
  /** Set when the caller ended the call's session already: the session as it was then. */
  ended?: { session: SessionDocument | null };
}

/** What fixes a call's bill: the transcript, the cost, the amount to charge. */
type Bill = Required<Pick<StatusChange, 'transcript' | 'costBreakdown' | 'billing'>>;

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
 *
 * Exactly-once end-of-call effects, without transactions:
 * - Each effect (the charge, the agent stats, the daily roll-up) is one conditional update
 *   that pushes the call's marker in the same atomic write and applies only while the marker
 *   is absent. A duplicate write finding the marker changes nothing.
 * - Markers stay after finalization: the marker sweep removes a call's markers only once its
 *   `finalizedAt` (the database server's time of the final write) is MARKER_RETENTION_MS old.
 * - A finalizer writes an effect only within FINALIZER_DEADLINE_MS of having sent the read
 *   of the call log that showed the effect due (checked right before each effect write);
 *   past it, it stops and a fresh run starts over. So a finalizer that lost its lock (paused,
 *   partitioned) and writes an effect another one already applied: it read the call before
 *   that one's final write (the call was not finalized), so `finalizedAt` is after its read,
 *   the marker stays until at least read + MARKER_RETENTION_MS, and the write is sent before
 *   read + FINALIZER_DEADLINE_MS: it finds the marker. The gap between the two (13 minutes)
 *   absorbs the write's time in flight and the clock difference between application and
 *   database server.
 * - The bill is fixed on the call log before any charge (with the terminal status, or
 *   `prepareBilling`), so every finalizer charges the same amount.
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
    private readonly clock: FinalizationClock,
    private readonly webhookEvents: CallWebhookEvents,
    private readonly postCall: PostCallJobs,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly moduleRef: ModuleRef,
  ) {}

  // Campaigns implement the port and depend on this module, so it is looked up at run time.
  private outcomeListener(): CallOutcomeListener {
    return this.moduleRef.get<CallOutcomeListener>(CALL_OUTCOME_LISTENER, { strict: false });
  }

  async applyEvent(event: CallStatusEvent): Promise<CallLogDocument | null> {
    const readAt = this.clock.now();
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
        await this.finalize(current._id.toString(), { call: current, readAt });
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
    let ended: CallRead['ended'];
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
      if (!current.billing) {
        // The session ends first (its usage prices the call), so the bill is fixed in the same
        // write as the status and the duration it prices. Ending it is harmless if another
        // event wins the move: that one ends the call too.
        const session = await this.sessions.end(current.sessionId, endedAt);
        ended = { session };
        Object.assign(change, await this.bill(session, change.durationSec));
      }
    }
    const webhookEvent = await this.webhookEvents.status(current, event.status, event.occurredAt);
    const advancedAt = this.clock.now();
    const advanced = await this.callLogs.advanceStatus(current._id, change, webhookEvent);
    if (advanced && webhookEvent) {
      await this.webhookEvents.announce(advanced._id, webhookEvent);
    }
    if (advanced && isTerminal(advanced.status)) {
      await this.finalize(advanced._id.toString(), { call: advanced, readAt: advancedAt, ended });
    }
    return advanced;
  }

  /**
   * Runs every end-of-call step that has not completed yet; safe to call any number of times.
   * One finalizer per call at a time (cluster lock), so two runs do not both do the work; a
   * run that finds the lock taken leaves it to its holder, and if the holder dies its queue
   * job is retried and the reconciliation job sweeps unfinished calls. A holder that lost its
   * lock cannot apply anything twice (see the class comment). `known` spares reading the call
   * again (and ending its session, when the caller did).
   */
  async finalize(callLogId: string, known?: CallRead): Promise<'finalized' | 'busy' | 'skipped'> {
    const outcome = await this.locks.runExclusive(
      `finalize-call:${callLogId}`,
      FINALIZE_LOCK_MS,
      () => this.finalizeUnlocked(callLogId, known),
    );
    return outcome.ran ? outcome.result : 'busy';
  }

  /**
   * In order: end the session (its usage prices the call), fix transcript and cost unless the
   * terminal status did, then apply the charge, the agent stats and the daily roll-up, each at
   * most once (marker), and record it all on the call in one final write.
   */
  private async finalizeUnlocked(
    callLogId: string,
    known?: CallRead,
  ): Promise<'finalized' | 'skipped'> {
    const readAt = known?.readAt ?? this.clock.now();
    let call = known?.call ?? (await this.callLogs.findById(callLogId));
    if (!call || !isTerminal(call.status) || call.finalizedAt) {
      return 'skipped';
    }
    const session = known?.ended
      ? known.ended.session
      : await this.sessions.end(call.sessionId, call.endedAt ?? new Date());
    await this.slots.release(call.userId.toString(), call.sessionId);
    if (!call.billing) {
      const bill = await this.bill(session, call.durationSec ?? 0);
      // Null when another finalizer fixed it first: its bill is the one to charge. The deadline
      // keeps counting from the first read, the stricter of the two.
      call =
        (await this.callLogs.prepareBilling(call._id, bill.transcript, bill.costBreakdown)) ??
        (await this.callLogs.findById(callLogId));
      if (!call || call.finalizedAt) {
        return 'skipped';
      }
    }

    const due = effectsDue(call);
    const amount = call.billing?.amount ?? 0;
    const checkDeadline = (): void => {
      const elapsed = this.clock.now() - readAt;
      if (elapsed > FINALIZER_DEADLINE_MS) {
        throw new FinalizerDeadlineExceeded(callLogId, elapsed);
      }
    };
    const [charged] = await Promise.all([
      due.charge ? this.charge(call, amount, checkDeadline) : undefined,
      due.stats ? this.addToAgentStats(call, checkDeadline) : undefined,
      due.stats ? this.addToDailyStats(call, checkDeadline) : undefined,
    ]);
    if (call.campaignId) {
      await this.outcomeListener().callFinished(call);
    }
    const ended = await this.webhookEvents.prepare(call, 'call.ended', new Date());
    const analysis = await this.postCall.analysisDue(call, session);
    const recordingSourceUrl =
      call.recordingUrl !== undefined && call.recording === undefined
        ? call.recordingUrl
        : undefined;
    const recorded = await this.callLogs.recordFinalized(
      call._id,
      {
        charge:
          charged === undefined ? undefined : { charged, shortfall: round4(amount - charged) },
        analysisPending: analysis,
        recordingSourceUrl,
      },
      ended,
    );
    if (recorded && ended) {
      await this.webhookEvents.announce(call._id, ended);
    }
    if (recorded && analysis) {
      await this.postCall.requestAnalysis(callLogId);
    }
    if (recorded && recordingSourceUrl !== undefined) {
      await this.postCall.requestRecordingCopy(callLogId);
    }
    this.logger.debug(
      `call ${callLogId} finalized (${call.status}, charged ${charged ?? call.billing?.charged ?? 0})`,
    );
    return 'finalized';
  }

  private async bill(session: SessionDocument | null, durationSec: number): Promise<Bill> {
    const costBreakdown: CostBreakdown = this.costs.calculate(durationSec, session?.usage);
    return {
      transcript: session ? await this.sessions.transcript(session) : '',
      costBreakdown,
      billing: { state: 'pending', amount: costBreakdown.total },
    };
  }

  /**
   * Takes the call's amount from its user, once. Without a read when the balance covers it;
   * otherwise the user tells whether the call was charged already (its marker, with the
   * amount) or how much is left to take. Returns what the call was charged (0 without a user).
   */
  private async charge(
    call: CallLogDocument,
    amount: number,
    checkDeadline: () => void,
  ): Promise<number> {
    const callLogId = call._id.toString();
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt += 1) {
      checkDeadline();
      if (await this.users.chargeCallIfCovered(call.userId, callLogId, amount)) {
        return amount;
      }
      const state = await this.users.readChargeState(call.userId, callLogId);
      if (state === undefined) {
        return 0;
      }
      if (state.charged !== undefined) {
        return state.charged;
      }
      if (state.credits >= amount) {
        continue; // Topped up since the first try.
      }
      checkDeadline();
      const charged = await this.users.chargeCallFromBalance(
        call.userId,
        callLogId,
        state.credits,
        amount,
      );
      if (charged !== undefined) {
        return charged;
      }
    }
    throw new Error(`Could not charge call ${callLogId}: the user's balance keeps changing`);
  }

  /**
   * Adds the call to its agent's stats once (one `$inc` guarded by the call's marker: it never
   * conflicts with other calls of the agent); an agent that is gone has none to add to. The
   * read only gives the stored averages their new values.
   */
  private async addToAgentStats(call: CallLogDocument, checkDeadline: () => void): Promise<void> {
    const agent = await this.agents.readStats(call.agentId);
    if (!agent) {
      return;
    }
    checkDeadline();
    // False when the marker is there already: counted by an earlier run.
    await this.agents.addCallToStats(
      call.agentId,
      call._id.toString(),
      agent.stats,
      contribution(call),
    );
  }

  /** Adds the call to its user's daily roll-up once. */
  private async addToDailyStats(call: CallLogDocument, checkDeadline: () => void): Promise<void> {
    const callLogId = call._id.toString();
    const key = dailyCallStatKey(call);
    const added = { ...contribution(call), cost: call.costBreakdown?.total ?? 0 };
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt += 1) {
      checkDeadline();
      if (await this.dailyStats.addCall(key, callLogId, added)) {
        return;
      }
      if (await this.dailyStats.hasCall(key, callLogId)) {
        return;
      }
    }
    throw new Error(`Could not add call ${callLogId} to the daily roll-up: it keeps changing`);
  }
}

/** What one finished call adds to its agent's stats. */
function contribution(call: CallLogDocument): { durationSec: number; successful: boolean } {
  return { durationSec: call.durationSec ?? 0, successful: isSuccessful(call.status) };
}

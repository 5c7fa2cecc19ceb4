import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Types } from 'mongoose';
import { ActiveCallSlots } from '../calls/active-call-slots.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import { isTerminal } from '../calls/call-status.js';
import { CallsErrorCode } from '../calls/calls.exception.js';
import { CallsService } from '../calls/calls.service.js';
import { DomainException } from '../common/errors/domain.exception.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { PhonesErrorCode } from '../phones/phones.exception.js';
import { UsersRepository } from '../users/users.repository.js';
import { CampaignCallBudget } from './campaign-call-budget.js';
import { CampaignCallOutcomes } from './campaign-call-outcomes.js';
import { CampaignClock } from './campaign-clock.js';
import { CampaignContactsRepository } from './campaign-contacts.repository.js';
import { CampaignEvents } from './campaign-events.js';
import { isOpen } from './campaign-schedule.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsService } from './campaigns.service.js';
import { DncRepository } from './dnc.repository.js';
import type { CampaignContactDocument } from './schemas/campaign-contact.schema.js';
import type { CampaignDocument, CampaignStatusReason } from './schemas/campaign.schema.js';

/** Campaigns one run looks at, at most (the least recently dispatched first). */
const MAX_CAMPAIGNS_PER_RUN = 200;
/** Left claims taken over per run. */
const MAX_RECOVERIES_PER_RUN = 100;
/** Due contacts read ahead per campaign at a time. */
const CANDIDATES_PER_READ = 50;
/** Read-aheads one claim tries before giving up (dispatchers racing took the rest). */
const MAX_CANDIDATE_READS = 3;
/** Campaigns whose undelivered webhook events one run hands to delivery. */
const MAX_EVENT_SWEEPS_PER_RUN = 50;

/** The session id of one attempt of one contact: the same every time the attempt is tried. */
export function attemptSessionId(contactId: Types.ObjectId, attempt: number): string {
  const digest = createHash('sha256').update(`campaign:${contactId.toString()}:${attempt}`);
  return `sess_${digest.digest('hex').slice(0, 24)}`;
}

/** What became of one try to start a call. */
type StartOutcome =
  /** A call was recorded (and its placement queued). */
  | 'started'
  /** The contact ended without a call (do-not-call list, unusable data): try the next one. */
  | 'skipped'
  /** Nothing more for this campaign in this run (none due, its cap, paused). */
  | 'campaign-done'
  /** Nothing more for this user in this run (their cap, the Exotel budget, no credits). */
  | 'user-done';

interface Lane {
  campaign: CampaignDocument;
  done: boolean;
  /** Due contacts read ahead (ids), claimed one by one. */
  candidates: Types.ObjectId[];
}

interface UserTurn {
  userId: string;
  lanes: Lane[];
  next: number;
  done: boolean;
  /** The Exotel account the user's calls go through (its request budget), once read. */
  accountSid?: string | null;
}

export interface DispatchReport {
  started: number;
  skipped: number;
  recovered: number;
  campaignsCompleted: number;
}

/** A problem of the campaign's set-up that stops all its calls until the owner fixes it. */
const CAMPAIGN_BLOCKERS: readonly string[] = [
  CallsErrorCode.PhoneInactive,
  CallsErrorCode.PhoneNotConfigured,
  CallsErrorCode.AgentInactive,
  PhonesErrorCode.NotFound,
  PhonesErrorCode.AgentNotFound,
  PhonesErrorCode.NoAgent,
];
/** A problem of the user's account: every campaign of theirs pauses. */
const ACCOUNT_BLOCKERS: Readonly<Record<string, string>> = {
  [CallsErrorCode.NoCredits]: 'CREDITS_EXHAUSTED',
  [CallsErrorCode.ExotelNotConfigured]: 'EXOTEL_NOT_CONFIGURED',
};
/** The user's concurrent calls are all taken: their campaigns wait for the next run. */
const USER_BUSY: readonly string[] = [CallsErrorCode.TooManyActiveCalls];
/** A problem of one contact: it ends as failed. */
const CONTACT_FAILURES: readonly string[] = [
  CallsErrorCode.VariablesMissing,
  CallsErrorCode.InvalidDestination,
];

/**
 * Starts campaign calls. Any number of instances may run it at once (it is a queue job, and
 * tests run two side by side): every step that could start a call twice is atomic.
 * - A contact attempt is claimed with one conditional update by id (still pending and due ->
 *   dialing, attempt counted), so exactly one dispatcher gets it; due contacts are read ahead
 *   50 at a time, and one taken meanwhile by another dispatcher is just skipped.
 * - The attempt's call is recorded under a session id derived from (contact, attempt), unique
 *   among call logs: a repeat of the attempt finds the call made the first time. So a claim
 *   whose dispatcher died (older than CAMPAIGN_CLAIM_TIMEOUT_MS) is taken over and finished:
 *   the call is adopted if it was recorded, made otherwise; never made twice.
 * - Concurrency: a slot among the campaign's `maxConcurrentCalls` and one among the user's
 *   MAX_CONCURRENT_CALLS are reserved atomically (per session id) before the call is recorded,
 *   and freed when it is finalized.
 * - Pace: each start is counted in the Exotel account's campaign budget
 *   (CampaignCallBudget: CAMPAIGN_CALLS_PER_MINUTE in any 60 s, shared by every instance).
 * - Fairness: users take turns, one call at a time, and each user's campaigns take turns, the
 *   least recently dispatched first.
 * - Windows: only campaigns inside a calling window (and between startAt and endAt) dial.
 */
@Injectable()
export class CampaignDispatcher {
  private readonly logger = new Logger(CampaignDispatcher.name);

  constructor(
    private readonly campaigns: CampaignsRepository,
    private readonly contacts: CampaignContactsRepository,
    private readonly dnc: DncRepository,
    private readonly campaignsService: CampaignsService,
    private readonly outcomes: CampaignCallOutcomes,
    private readonly events: CampaignEvents,
    private readonly calls: CallsService,
    private readonly callLogs: CallLogsRepository,
    private readonly users: UsersRepository,
    private readonly slots: ActiveCallSlots,
    private readonly budget: CampaignCallBudget,
    private readonly clock: CampaignClock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async run(): Promise<DispatchReport> {
    const report: DispatchReport = { started: 0, skipped: 0, recovered: 0, campaignsCompleted: 0 };
    const now = this.clock.now();
    await this.startDue(now);
    report.recovered = await this.recoverClaims(now);
    const lanes: Lane[] = [];
    const examined = await this.campaigns.withStatus('running', MAX_CAMPAIGNS_PER_RUN);
    for (const campaign of examined) {
      if (campaign.schedule.endAt && campaign.schedule.endAt.getTime() <= now.getTime()) {
        await this.contacts.endPending(campaign._id, 'expired', now);
      }
      if (!(await this.contacts.hasOpen(campaign._id))) {
        if (await this.campaignsService.transition(campaign, ['running'], 'completed')) {
          report.campaignsCompleted += 1;
        }
        continue;
      }
      if (isOpen(campaign.schedule, now)) {
        lanes.push({ campaign, done: false, candidates: [] });
      }
    }
    await this.dispatchFairly(lanes, now, report);
    // Every campaign looked at moves to the back, so the next run looks at the others first.
    await this.campaigns.markDispatched(
      examined.map((campaign) => campaign._id),
      now,
    );
    for (const pending of await this.campaigns.withPendingEvents(MAX_EVENT_SWEEPS_PER_RUN)) {
      await this.events.deliver(pending._id);
    }
    return report;
  }

  /** Scheduled campaigns whose start has come begin running. */
  private async startDue(now: Date): Promise<void> {
    for (const campaign of await this.campaigns.dueToStart(now, MAX_CAMPAIGNS_PER_RUN)) {
      await this.campaignsService.transition(campaign, ['scheduled'], 'running');
    }
  }

  /** Users in turn, one call each per round; within a user, campaigns in turn. */
  private async dispatchFairly(lanes: Lane[], now: Date, report: DispatchReport): Promise<void> {
    const byUser = new Map<string, UserTurn>();
    for (const lane of lanes) {
      const userId = lane.campaign.userId.toString();
      const turn = byUser.get(userId) ?? { userId, lanes: [], next: 0, done: false };
      turn.lanes.push(lane);
      byUser.set(userId, turn);
    }
    const turns = [...byUser.values()];
    let startsLeft = this.config.campaigns.maxStartsPerRun;
    while (startsLeft > 0 && turns.some((turn) => !turn.done)) {
      for (const turn of turns) {
        if (turn.done || startsLeft <= 0) {
          continue;
        }
        const lane = this.nextLane(turn);
        if (!lane) {
          turn.done = true;
          continue;
        }
        // A long run must not call on after the window closed (or the campaign ended).
        if (!isOpen(lane.campaign.schedule, this.clock.now())) {
          lane.done = true;
          continue;
        }
        const outcome = await this.startOne(lane, turn, now);
        if (outcome === 'started') {
          startsLeft -= 1;
          report.started += 1;
        } else if (outcome === 'skipped') {
          report.skipped += 1;
        } else if (outcome === 'campaign-done') {
          lane.done = true;
        } else {
          turn.done = true;
        }
      }
    }
  }

  private nextLane(turn: UserTurn): Lane | undefined {
    for (let step = 0; step < turn.lanes.length; step += 1) {
      const lane = turn.lanes[(turn.next + step) % turn.lanes.length];
      if (lane && !lane.done) {
        turn.next = (turn.next + step + 1) % turn.lanes.length;
        return lane;
      }
    }
    return undefined;
  }

  /** Claims the campaign's next due contact and starts its call, within every limit. */
  private async startOne(lane: Lane, turn: UserTurn, now: Date): Promise<StartOutcome> {
    const { campaign } = lane;
    const campaignId = campaign._id.toString();
    if ((await this.slots.campaignActive(campaignId)) >= campaign.maxConcurrentCalls) {
      return 'campaign-done';
    }
    if (!(await this.hasCandidates(lane, now))) {
      return 'campaign-done';
    }
    if (turn.accountSid === undefined) {
      const user = await this.users.findById(turn.userId);
      turn.accountSid = user?.exotelConfig?.sid ?? null;
    }
    if (turn.accountSid === null) {
      await this.pauseUser(campaign.userId, {
        code: 'EXOTEL_NOT_CONFIGURED',
        message:
          'Set your Exotel credentials (PUT /users/me/exotel-config), then resume the campaign',
      });
      return 'user-done';
    }
    const token = await this.budget.take(turn.accountSid);
    if (!token) {
      return 'user-done';
    }
    const claim = randomUUID();
    const contact = await this.claimCandidate(lane, now, claim);
    if (!contact) {
      await this.budget.giveBack(token);
      return 'campaign-done';
    }
    const outcome = await this.dial(campaign, contact, claim);
    if (outcome !== 'started') {
      await this.budget.giveBack(token);
    }
    return outcome;
  }

  /** Whether the lane has due contacts read ahead (reading more when it has none). */
  private async hasCandidates(lane: Lane, now: Date): Promise<boolean> {
    if (lane.candidates.length === 0) {
      lane.candidates = await this.contacts.dueIds(lane.campaign._id, now, CANDIDATES_PER_READ);
    }
    return lane.candidates.length > 0;
  }

  /** Claims the first read-ahead contact still due; another dispatcher may have taken some. */
  private async claimCandidate(
    lane: Lane,
    now: Date,
    claim: string,
  ): Promise<CampaignContactDocument | null> {
    for (let reads = 0; reads < MAX_CANDIDATE_READS; reads += 1) {
      for (
        let contactId = lane.candidates.shift();
        contactId;
        contactId = lane.candidates.shift()
      ) {
        const contact = await this.contacts.claim(contactId, now, claim);
        if (contact) {
          return contact;
        }
      }
      if (!(await this.hasCandidates(lane, now))) {
        return null;
      }
    }
    return null;
  }

  /** Starts the call of a claimed attempt (or adopts the one recorded for it already). */
  private async dial(
    campaign: CampaignDocument,
    contact: CampaignContactDocument,
    claim: string,
  ): Promise<StartOutcome> {
    const now = this.clock.now();
    const campaignId = campaign._id.toString();
    const sessionId = attemptSessionId(contact._id, contact.attempts);
    const existing = await this.callLogs.findBySessionId(sessionId);
    if (!existing && (await this.dnc.isListed(campaign.userId, contact.phone))) {
      await this.contacts.endClaimed(contact._id, claim, 'blocked', 'on the do-not-call list', now);
      return 'skipped';
    }
    const slot = await this.slots.reserveForCampaign(
      campaignId,
      sessionId,
      campaign.maxConcurrentCalls,
    );
    if (!slot.taken) {
      await this.contacts.unclaim(contact._id, claim);
      return 'campaign-done';
    }
    let callLog = existing;
    if (!callLog) {
      try {
        callLog = await this.calls.placeCampaignCall(campaign.userId.toString(), {
          sessionId,
          phoneId: this.callerIdOf(campaign, contact).toString(),
          agentId: campaign.agentId.toString(),
          to: contact.phone,
          variables: contact.variables,
          campaignId: campaign._id,
          contactId: contact._id,
        });
      } catch (error) {
        return this.afterRefusal(campaign, contact, claim, sessionId, error);
      }
    }
    if (await this.contacts.markCalling(contact._id, claim, callLog._id)) {
      // A call that ended before the contact was marked (refused at once) settles here: its
      // terminal status was written before its finalization told the campaign, so one of the
      // two sees the other's write.
      const current = await this.callLogs.findById(callLog._id);
      if (current && isTerminal(current.status)) {
        await this.outcomes.callFinished(current);
      }
    }
    return 'started';
  }

  /** What a refused call means for the contact, the campaign or the user. */
  private async afterRefusal(
    campaign: CampaignDocument,
    contact: CampaignContactDocument,
    claim: string,
    sessionId: string,
    error: unknown,
  ): Promise<StartOutcome> {
    const campaignId = campaign._id.toString();
    if (!(error instanceof DomainException)) {
      // The call may have been recorded (the database failed after): the claim stays, and is
      // taken over once it is old enough, which adopts the call if there is one.
      this.logger.warn(
        `campaign ${campaignId}: starting a call failed, left for recovery: ${String(error)}`,
      );
      return 'user-done';
    }
    await this.slots.releaseForCampaign(campaignId, sessionId);
    const message = error.message;
    if (CONTACT_FAILURES.includes(error.code)) {
      await this.contacts.endClaimed(contact._id, claim, 'failed', message, this.clock.now());
      return 'skipped';
    }
    await this.contacts.unclaim(contact._id, claim, message);
    if (USER_BUSY.includes(error.code)) {
      return 'user-done';
    }
    const accountCode = ACCOUNT_BLOCKERS[error.code];
    if (accountCode) {
      await this.pauseUser(campaign.userId, {
        code: accountCode,
        message:
          accountCode === 'CREDITS_EXHAUSTED' ? `${message}, then resume the campaign` : message,
      });
      return 'user-done';
    }
    if (CAMPAIGN_BLOCKERS.includes(error.code)) {
      await this.campaignsService.transition(campaign, ['running', 'scheduled'], 'paused', {
        code: error.code,
        message: `${message}: fix it, then resume the campaign`,
      });
      return 'campaign-done';
    }
    this.logger.warn(`campaign ${campaignId}: call refused (${error.code}): ${message}`);
    return 'campaign-done';
  }

  /** The caller id of an attempt: the campaign's numbers in turn, the same on every try of it. */
  private callerIdOf(campaign: CampaignDocument, contact: CampaignContactDocument): Types.ObjectId {
    const seed = Number.parseInt(contact._id.toString().slice(-6), 16) + contact.attempts;
    const phoneId = campaign.phoneIds[seed % campaign.phoneIds.length];
    if (!phoneId) {
      throw new Error(`campaign ${campaign._id.toString()} has no phone to call from`);
    }
    return phoneId;
  }

  private async pauseUser(userId: Types.ObjectId, reason: CampaignStatusReason): Promise<void> {
    for (const campaign of await this.campaigns.activeOfUser(userId)) {
      await this.campaignsService.transition(campaign, ['running', 'scheduled'], 'paused', reason);
    }
  }

  /**
   * Takes over claims left by a dispatcher that stopped (older than the claim timeout) and
   * finishes them: adopts the attempt's call if it was recorded, else starts it when the
   * campaign may still call, else gives the attempt back.
   */
  private async recoverClaims(now: Date): Promise<number> {
    const before = new Date(now.getTime() - this.config.campaigns.claimTimeoutMs);
    let recovered = 0;
    for (const stale of await this.contacts.staleClaims(before, MAX_RECOVERIES_PER_RUN)) {
      if (!stale.claim) {
        continue;
      }
      const claim = randomUUID();
      const contact = await this.contacts.takeOver(stale._id, stale.claim.token, claim, now);
      const campaign = contact ? await this.campaigns.findById(contact.campaignId) : null;
      if (!contact || !campaign) {
        continue;
      }
      recovered += 1;
      const sessionId = attemptSessionId(contact._id, contact.attempts);
      const recorded = await this.callLogs.findBySessionId(sessionId);
      if (!recorded) {
        // The campaign slot the dead dispatcher may have taken goes back (dial takes it again).
        await this.slots.releaseForCampaign(campaign._id.toString(), sessionId);
      }
      if (recorded || (campaign.status === 'running' && isOpen(campaign.schedule, now))) {
        await this.dial(campaign, contact, claim);
      } else {
        await this.contacts.unclaim(contact._id, claim);
      }
    }
    return recovered;
  }
}

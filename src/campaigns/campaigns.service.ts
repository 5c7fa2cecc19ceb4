import { Inject, Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import { AgentsRepository } from '../agents/agents.repository.js';
import { type Page, toPage } from '../common/pagination/pagination.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { PhonesRepository } from '../phones/phones.repository.js';
import { CampaignClock } from './campaign-clock.js';
import { CampaignContactsRepository } from './campaign-contacts.repository.js';
import { CampaignDispatchKick } from './campaign-dispatch-kick.js';
import { CampaignEvents } from './campaign-events.js';
import {
  DEFAULT_WINDOW,
  isOpen,
  isValidTimezone,
  nextOpening,
  WEEKDAYS,
  windowProblems,
} from './campaign-schedule.js';
import { toCampaignResponse } from './campaign.response.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsErrorCode, CampaignsException } from './campaigns.exception.js';
import type {
  CampaignDetailResponse,
  CampaignProgressResponse,
  CampaignResponse,
  CreateCampaignDto,
  ListCampaignsQueryDto,
} from './dto/campaign.dto.js';
import { CONTACT_STATES, type ContactState } from './schemas/campaign-contact.schema.js';
import type {
  CampaignDocument,
  CampaignStatus,
  CampaignStatusReason,
} from './schemas/campaign.schema.js';

export const DEFAULT_TIMEZONE = 'Asia/Kolkata';

/** The moves a campaign's owner may make, and the statuses each starts from. */
const OWNER_MOVES = {
  start: ['draft'],
  pause: ['scheduled', 'running'],
  resume: ['paused'],
  cancel: ['draft', 'scheduled', 'running', 'paused'],
} as const satisfies Record<string, readonly CampaignStatus[]>;
export type OwnerMove = keyof typeof OWNER_MOVES;

/** Campaigns: creation, the owner's lifecycle moves and progress. */
@Injectable()
export class CampaignsService {
  constructor(
    private readonly campaigns: CampaignsRepository,
    private readonly contacts: CampaignContactsRepository,
    private readonly agents: AgentsRepository,
    private readonly phones: PhonesRepository,
    private readonly events: CampaignEvents,
    private readonly clock: CampaignClock,
    private readonly kick: CampaignDispatchKick,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(userId: string, dto: CreateCampaignDto): Promise<CampaignResponse> {
    const agent = await this.agents.findOwned(userId, dto.agentId);
    if (!agent) {
      throw new CampaignsException(CampaignsErrorCode.AgentNotFound, 'Agent not found');
    }
    for (const phoneId of dto.phoneIds) {
      if (!(await this.phones.findOwned(userId, phoneId))) {
        throw new CampaignsException(
          CampaignsErrorCode.PhoneNotFound,
          `Phone ${phoneId} not found`,
        );
      }
    }
    const timezone = dto.schedule?.timezone ?? DEFAULT_TIMEZONE;
    const windows = (dto.schedule?.windows ?? [DEFAULT_WINDOW]).map((window) => ({
      days: window.days ?? [...WEEKDAYS],
      from: window.from,
      to: window.to,
    }));
    const startAt = dto.schedule?.startAt ?? this.clock.now();
    const endAt = dto.schedule?.endAt;
    const problems = windowProblems(windows);
    if (!isValidTimezone(timezone)) {
      problems.unshift(`timezone "${timezone}" is not an IANA time zone (e.g. Asia/Kolkata)`);
    }
    if (endAt && endAt.getTime() <= startAt.getTime()) {
      problems.push('endAt must be after startAt');
    }
    if (problems.length > 0) {
      throw new CampaignsException(CampaignsErrorCode.InvalidSchedule, problems.join('; '), {
        problems,
      });
    }
    const campaign = await this.campaigns.create({
      userId: new Types.ObjectId(userId),
      name: dto.name,
      agentId: agent._id,
      phoneIds: dto.phoneIds.map((id) => new Types.ObjectId(id)),
      schedule: { startAt, endAt, timezone, windows },
      maxConcurrentCalls: dto.maxConcurrentCalls ?? 5,
      retry: {
        attempts: dto.retry?.attempts ?? 2,
        on: dto.retry?.on ?? ['no-answer', 'busy'],
        spacingMinutes: dto.retry?.spacingMinutes ?? 60,
      },
    });
    return toCampaignResponse(campaign);
  }

  async list(userId: string, query: ListCampaignsQueryDto): Promise<Page<CampaignResponse>> {
    const { campaigns, total } = await this.campaigns.list(userId, query.status, query);
    return toPage(campaigns.map(toCampaignResponse), total, query);
  }

  async get(userId: string, campaignId: string): Promise<CampaignDetailResponse> {
    const campaign = await this.owned(userId, campaignId);
    return { ...toCampaignResponse(campaign), progress: await this.progress(campaign) };
  }

  async owned(userId: string, campaignId: string): Promise<CampaignDocument> {
    const campaign = await this.campaigns.findOwned(userId, campaignId);
    if (!campaign) {
      throw CampaignsException.notFound();
    }
    return campaign;
  }

  /**
   * start: draft -> scheduled (running once `startAt` comes); pause: scheduled | running ->
   * paused; resume: paused -> scheduled | running; cancel: any open status -> canceled, and
   * every contact still waiting is canceled (calls under way finish).
   */
  async move(userId: string, campaignId: string, move: OwnerMove): Promise<CampaignDetailResponse> {
    const campaign = await this.owned(userId, campaignId);
    const from: readonly CampaignStatus[] = OWNER_MOVES[move];
    if (!from.includes(campaign.status)) {
      throw new CampaignsException(
        CampaignsErrorCode.InvalidTransition,
        `A ${campaign.status} campaign cannot ${move}`,
        { status: campaign.status },
      );
    }
    if (move === 'start' && campaign.contactCount === 0) {
      throw new CampaignsException(
        CampaignsErrorCode.NoContacts,
        'Add contacts first (POST /campaigns/:id/contacts)',
      );
    }
    const now = this.clock.now();
    const to: CampaignStatus =
      move === 'pause'
        ? 'paused'
        : move === 'cancel'
          ? 'canceled'
          : campaign.schedule.startAt.getTime() > now.getTime()
            ? 'scheduled'
            : 'running';
    const moved = await this.transition(campaign, from, to);
    if (!moved) {
      const current = await this.owned(userId, campaignId);
      throw new CampaignsException(
        CampaignsErrorCode.InvalidTransition,
        `A ${current.status} campaign cannot ${move}`,
        { status: current.status },
      );
    }
    if (to === 'canceled') {
      await this.contacts.endPending(campaign._id, 'canceled', now);
    }
    if (to === 'running') {
      await this.kick.kick();
    }
    return { ...toCampaignResponse(moved), progress: await this.progress(moved) };
  }

  /**
   * Moves the campaign (atomic; null when it was not in `from` any more), recording its
   * webhook events in the same write and handing them to delivery.
   */
  async transition(
    campaign: CampaignDocument,
    from: readonly CampaignStatus[],
    to: CampaignStatus,
    reason?: CampaignStatusReason,
  ): Promise<CampaignDocument | null> {
    const at = this.clock.now();
    const events = await this.events.prepare(campaign, to, at, reason);
    const moved = await this.campaigns.moveStatus(campaign._id, { from, to, reason, at, events });
    if (moved && events.length > 0) {
      await this.events.deliver(moved._id);
    }
    return moved;
  }

  async progress(campaign: CampaignDocument): Promise<CampaignProgressResponse> {
    const totals = await this.contacts.progressOf(campaign._id);
    const counts = Object.fromEntries(CONTACT_STATES.map((state) => [state, 0])) as Record<
      ContactState,
      number
    >;
    for (const row of totals.counts) {
      counts[row.state] = row.count;
    }
    const { cost, calls, callSeconds } = totals;
    const inFlight = counts.dialing + counts.calling;
    const open = counts.pending + inFlight;
    const now = this.clock.now();
    const windowOpen = isOpen(campaign.schedule, now);
    const settled = calls - inFlight;
    // Each open contact needs at least one more call, as long as the calls so far lasted on
    // average, `maxConcurrentCalls` at a time (and no faster than the dispatch pace allows).
    const etaSeconds =
      settled > 0 && open > 0
        ? Math.ceil(
            Math.max(
              (open * (callSeconds / settled)) / campaign.maxConcurrentCalls,
              (open * 60) / this.config.campaigns.callsPerMinute,
            ),
          )
        : open === 0
          ? 0
          : null;
    const ended = campaign.status === 'completed' || campaign.status === 'canceled';
    return {
      counts,
      inFlight,
      cost: Math.round(cost * 10_000) / 10_000,
      windowOpen,
      nextWindowAt: ended || windowOpen ? null : (nextOpening(campaign.schedule, now) ?? null),
      etaSeconds: ended ? 0 : etaSeconds,
    };
  }
}

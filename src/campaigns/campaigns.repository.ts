import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import {
  Campaign,
  type CampaignDocument,
  type CampaignStatus,
  type CampaignStatusReason,
  type CampaignWebhookEvent,
} from './schemas/campaign.schema.js';

export type NewCampaign = Pick<
  Campaign,
  'name' | 'agentId' | 'phoneIds' | 'schedule' | 'maxConcurrentCalls' | 'retry'
> & { userId: Types.ObjectId };

/** A move of a campaign's status, with what it records. */
export interface StatusMove {
  from: readonly CampaignStatus[];
  to: CampaignStatus;
  reason?: CampaignStatusReason;
  at: Date;
  /** The webhook event recorded in the same write (outbox), when anyone takes it. */
  events: CampaignWebhookEvent[];
}

/** The only code that touches the campaigns collection. */
@Injectable()
export class CampaignsRepository {
  constructor(@InjectModel(Campaign.name) private readonly campaigns: Model<Campaign>) {}

  async create(campaign: NewCampaign): Promise<CampaignDocument> {
    const created = await this.campaigns.create({ ...campaign, status: 'draft', contactCount: 0 });
    return created.toObject<CampaignDocument>();
  }

  findOwned(userId: string, campaignId: string): Promise<CampaignDocument | null> {
    return this.campaigns
      .findOne({ _id: campaignId, userId: new Types.ObjectId(userId) })
      .lean<CampaignDocument>()
      .exec();
  }

  findById(campaignId: Types.ObjectId | string): Promise<CampaignDocument | null> {
    return this.campaigns.findById(campaignId).lean<CampaignDocument>().exec();
  }

  async list(
    userId: string,
    status: CampaignStatus | undefined,
    page: PaginationQueryDto,
  ): Promise<{ campaigns: CampaignDocument[]; total: number }> {
    const filter = { userId: new Types.ObjectId(userId), ...(status ? { status } : {}) };
    const [campaigns, total] = await Promise.all([
      this.campaigns
        .find(filter, { webhookEvents: 0 })
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<CampaignDocument[]>()
        .exec(),
      this.campaigns.countDocuments(filter).exec(),
    ]);
    return { campaigns, total };
  }

  /**
   * Moves the campaign from one of `move.from` to `move.to` (atomic: of two racing moves one
   * wins), recording its events in the same write. Null when the campaign was not in `from`.
   */
  moveStatus(
    campaignId: Types.ObjectId | string,
    move: StatusMove,
  ): Promise<CampaignDocument | null> {
    const set: Record<string, unknown> = { status: move.to };
    const unset: Record<string, ''> = {};
    if (move.reason) {
      set.statusReason = move.reason;
    } else {
      unset.statusReason = '';
    }
    if (move.to === 'running') {
      set.startedAt = move.at;
    }
    if (move.to === 'completed' || move.to === 'canceled') {
      set.endedAt = move.at;
    }
    if (move.events.length > 0) {
      set.webhookPending = true;
    }
    return this.campaigns
      .findOneAndUpdate(
        { _id: campaignId, status: { $in: [...move.from] } },
        {
          $set: set,
          ...(Object.keys(unset).length > 0 ? { $unset: unset } : {}),
          ...(move.events.length > 0 ? { $push: { webhookEvents: { $each: move.events } } } : {}),
        },
        { returnDocument: 'after' },
      )
      .lean<CampaignDocument>()
      .exec();
  }

  /**
   * Counts `added` more contacts when the campaign stays within `max` (atomic). False when it
   * would not: nothing is counted.
   */
  async reserveContacts(campaignId: Types.ObjectId, added: number, max: number): Promise<boolean> {
    const result = await this.campaigns
      .updateOne(
        { _id: campaignId, contactCount: { $lte: max - added } },
        { $inc: { contactCount: added } },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  async releaseContacts(campaignId: Types.ObjectId, unused: number): Promise<void> {
    if (unused > 0) {
      await this.campaigns
        .updateOne({ _id: campaignId }, { $inc: { contactCount: -unused } })
        .exec();
    }
  }

  /** Campaigns with this status, the least recently dispatched first. */
  withStatus(status: CampaignStatus, limit: number): Promise<CampaignDocument[]> {
    return this.campaigns
      .find({ status }, { webhookEvents: 0 })
      .sort({ lastDispatchAt: 1, _id: 1 })
      .limit(limit)
      .lean<CampaignDocument[]>()
      .exec();
  }

  /** Campaigns due to start: scheduled with `startAt` reached. */
  dueToStart(now: Date, limit: number): Promise<CampaignDocument[]> {
    return this.campaigns
      .find({ status: 'scheduled', 'schedule.startAt': { $lte: now } }, { webhookEvents: 0 })
      .limit(limit)
      .lean<CampaignDocument[]>()
      .exec();
  }

  async markDispatched(campaignIds: Types.ObjectId[], at: Date): Promise<void> {
    if (campaignIds.length > 0) {
      await this.campaigns
        .updateMany({ _id: { $in: campaignIds } }, { $set: { lastDispatchAt: at } })
        .exec();
    }
  }

  /** The user's running (or scheduled) campaigns, for pausing them all at once. */
  activeOfUser(userId: Types.ObjectId): Promise<CampaignDocument[]> {
    return this.campaigns
      .find({ userId, status: { $in: ['running', 'scheduled'] } }, { webhookEvents: 0 })
      .lean<CampaignDocument[]>()
      .exec();
  }

  /**
   * Records that the first `count` events were handed to delivery; clears `webhookPending` when
   * no event was recorded meanwhile.
   */
  async markWebhooksDispatched(campaignId: Types.ObjectId, count: number): Promise<void> {
    const settled = await this.campaigns
      .updateOne(
        { _id: campaignId, [`webhookEvents.${count}`]: { $exists: false } },
        { $max: { webhookDispatched: count }, $unset: { webhookPending: 1 } },
        { timestamps: false },
      )
      .exec();
    if (settled.matchedCount === 0) {
      await this.campaigns
        .updateOne(
          { _id: campaignId },
          { $max: { webhookDispatched: count } },
          { timestamps: false },
        )
        .exec();
    }
  }

  /** Campaigns with events recorded and not yet handed to delivery. */
  withPendingEvents(limit: number): Promise<Array<Pick<CampaignDocument, '_id'>>> {
    return this.campaigns
      .find({ webhookPending: true }, { _id: 1 })
      .limit(limit)
      .lean<Array<Pick<CampaignDocument, '_id'>>>()
      .exec();
  }
}

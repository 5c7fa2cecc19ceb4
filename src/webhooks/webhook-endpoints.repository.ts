import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import {
  WebhookEndpoint,
  type WebhookEndpointDocument,
} from './schemas/webhook-endpoint.schema.js';
import type { WebhookEventType } from './webhook-event-types.js';

export type NewWebhookEndpoint = Pick<
  WebhookEndpoint,
  'url' | 'events' | 'secret' | 'description' | 'agentIds'
> & { _id: Types.ObjectId; userId: string };

export interface WebhookEndpointChanges {
  url?: string;
  description?: string;
  events?: WebhookEventType[];
  agentIds?: Types.ObjectId[] | null;
  enabled?: boolean;
}

/** What the event side needs of an endpoint to route events (no secret). */
export type WebhookRoute = Pick<WebhookEndpointDocument, '_id' | 'events' | 'agentIds'>;

/** The only code that touches the webhookendpoints collection; every query is the user's. */
@Injectable()
export class WebhookEndpointsRepository {
  constructor(
    @InjectModel(WebhookEndpoint.name) private readonly endpoints: Model<WebhookEndpoint>,
  ) {}

  async create(endpoint: NewWebhookEndpoint): Promise<WebhookEndpointDocument> {
    const created = await this.endpoints.create({
      ...endpoint,
      userId: new Types.ObjectId(endpoint.userId),
      enabled: true,
    });
    return created.toObject<WebhookEndpointDocument>();
  }

  countForUser(userId: string): Promise<number> {
    return this.endpoints.countDocuments({ userId: new Types.ObjectId(userId) }).exec();
  }

  findOwned(userId: string, endpointId: string): Promise<WebhookEndpointDocument | null> {
    return this.endpoints
      .findOne({ _id: endpointId, userId: new Types.ObjectId(userId) })
      .lean<WebhookEndpointDocument>()
      .exec();
  }

  findById(endpointId: Types.ObjectId | string): Promise<WebhookEndpointDocument | null> {
    return this.endpoints.findById(endpointId).lean<WebhookEndpointDocument>().exec();
  }

  async list(
    userId: string,
    page: PaginationQueryDto,
  ): Promise<{ items: WebhookEndpointDocument[]; total: number }> {
    const filter = { userId: new Types.ObjectId(userId) };
    const [items, total] = await Promise.all([
      this.endpoints
        .find(filter)
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<WebhookEndpointDocument[]>()
        .exec(),
      this.endpoints.countDocuments(filter).exec(),
    ]);
    return { items, total };
  }

  /** The user's enabled endpoints, for routing events (a user has a handful at most). */
  enabledRoutes(userId: string | Types.ObjectId): Promise<WebhookRoute[]> {
    return this.endpoints
      .find(
        { userId: new Types.ObjectId(userId.toString()), enabled: true },
        { events: 1, agentIds: 1 },
      )
      .lean<WebhookRoute[]>()
      .exec();
  }

  /** The user's enabled endpoints with their secrets (the dispatcher fans an event out to them). */
  enabledForUser(userId: Types.ObjectId): Promise<WebhookEndpointDocument[]> {
    return this.endpoints.find({ userId, enabled: true }).lean<WebhookEndpointDocument[]>().exec();
  }

  update(
    userId: string,
    endpointId: string,
    changes: WebhookEndpointChanges,
  ): Promise<WebhookEndpointDocument | null> {
    const set: Record<string, unknown> = {};
    const unset: Record<string, 1> = {};
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) {
        unset[key] = 1;
      } else if (value !== undefined) {
        set[key] = value;
      }
    }
    if (changes.enabled === true) {
      // Re-enabling is the customer's decision: it clears the reason and the failure clock.
      unset.disabledReason = 1;
      unset.disabledAt = 1;
      unset.failingSince = 1;
    }
    return this.endpoints
      .findOneAndUpdate(
        { _id: endpointId, userId: new Types.ObjectId(userId) },
        { ...(Object.keys(set).length > 0 ? { $set: set } : {}), $unset: unset },
        { returnDocument: 'after' },
      )
      .lean<WebhookEndpointDocument>()
      .exec();
  }

  rotateSecret(
    userId: string,
    endpointId: string,
    secret: string,
    previous: { sealed: string; expiresAt: Date },
  ): Promise<WebhookEndpointDocument | null> {
    return this.endpoints
      .findOneAndUpdate(
        { _id: endpointId, userId: new Types.ObjectId(userId) },
        { $set: { secret, previousSecret: previous } },
        { returnDocument: 'after' },
      )
      .lean<WebhookEndpointDocument>()
      .exec();
  }

  async delete(userId: string, endpointId: string): Promise<boolean> {
    const result = await this.endpoints
      .deleteOne({ _id: endpointId, userId: new Types.ObjectId(userId) })
      .exec();
    return result.deletedCount > 0;
  }

  /** A delivered attempt: the endpoint works, its failure clock stops. */
  async recordSuccess(endpointId: Types.ObjectId): Promise<void> {
    await this.endpoints
      .updateOne(
        { _id: endpointId, failingSince: { $exists: true } },
        { $unset: { failingSince: 1 } },
      )
      .exec();
  }

  /**
   * A failed attempt, given the endpoint as the attempt read it: starts the failure clock when
   * it was not running (one write), disables the endpoint when it has run `disableAfterMs`
   * without a success (one conditional write), and writes nothing in between, so an endpoint
   * that keeps failing costs no write per attempt. Returns the endpoint when this call
   * disabled it.
   */
  async recordFailure(
    endpoint: Pick<WebhookEndpointDocument, '_id' | 'failingSince'>,
    now: Date,
    disableAfterMs: number,
  ): Promise<WebhookEndpointDocument | null> {
    if (!endpoint.failingSince) {
      await this.endpoints
        .updateOne(
          { _id: endpoint._id, failingSince: { $exists: false } },
          { $set: { failingSince: now } },
        )
        .exec();
      return null;
    }
    const since = new Date(now.getTime() - disableAfterMs);
    if (endpoint.failingSince > since) {
      return null;
    }
    return this.endpoints
      .findOneAndUpdate(
        { _id: endpoint._id, enabled: true, failingSince: { $lte: since } },
        {
          $set: {
            enabled: false,
            disabledAt: now,
            disabledReason: `every delivery failed for ${Math.round(disableAfterMs / 3_600_000)} hours`,
          },
        },
        { returnDocument: 'after' },
      )
      .lean<WebhookEndpointDocument>()
      .exec();
  }
}

import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { isDuplicateKeyError } from '../users/users.repository.js';
import {
  WebhookDelivery,
  type WebhookDeliveryDocument,
  type WebhookDeliveryStatus,
} from './schemas/webhook-delivery.schema.js';

export type NewWebhookDelivery = Pick<
  WebhookDelivery,
  | 'userId'
  | 'endpointId'
  | 'eventId'
  | 'eventType'
  | 'callLogId'
  | 'sequence'
  | 'body'
  | 'maxAttempts'
>;

export interface DeliveryListFilter {
  endpointId?: string;
  eventType?: string;
  status?: WebhookDeliveryStatus;
}

/** One attempt's outcome, as the delivery log keeps it. */
export interface AttemptRecord {
  at: Date;
  statusCode?: number;
  error?: string;
  durationMs: number;
  delivered: boolean;
  /** The next attempt's time; absent when this was the last one (failed) or it was delivered. */
  nextAttemptAt?: Date;
}

const LIST_PROJECTION = { body: 0 } as const;

/** The only code that touches the webhookdeliveries collection. */
@Injectable()
export class WebhookDeliveriesRepository {
  constructor(
    @InjectModel(WebhookDelivery.name) private readonly deliveries: Model<WebhookDelivery>,
  ) {}

  /**
   * Creates the delivery of an event to an endpoint, once: null when it exists already (a
   * repeated dispatch), so only the dispatch that created it queues its first attempt.
   */
  async createOnce(
    delivery: NewWebhookDelivery,
    now: Date,
  ): Promise<WebhookDeliveryDocument | null> {
    try {
      const created = await this.deliveries.create({
        ...delivery,
        status: 'pending',
        attempts: 0,
        durationsMs: [],
        nextAttemptAt: now,
      });
      return created.toObject<WebhookDeliveryDocument>();
    } catch (error) {
      if (isDuplicateKeyError(error)) {
        return null;
      }
      throw error;
    }
  }

  findById(deliveryId: Types.ObjectId | string): Promise<WebhookDeliveryDocument | null> {
    return this.deliveries.findById(deliveryId).lean<WebhookDeliveryDocument>().exec();
  }

  findOwned(userId: string, deliveryId: string): Promise<WebhookDeliveryDocument | null> {
    return this.deliveries
      .findOne({ _id: deliveryId, userId: new Types.ObjectId(userId) })
      .lean<WebhookDeliveryDocument>()
      .exec();
  }

  async list(
    userId: string,
    filter: DeliveryListFilter,
    page: PaginationQueryDto,
  ): Promise<{ items: WebhookDeliveryDocument[]; total: number }> {
    const query: Record<string, unknown> = { userId: new Types.ObjectId(userId) };
    if (filter.endpointId) {
      query.endpointId = new Types.ObjectId(filter.endpointId);
    }
    if (filter.eventType) {
      query.eventType = { $eq: filter.eventType };
    }
    if (filter.status) {
      query.status = { $eq: filter.status };
    }
    const [items, total] = await Promise.all([
      this.deliveries
        .find(query, LIST_PROJECTION)
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<WebhookDeliveryDocument[]>()
        .exec(),
      this.deliveries.countDocuments(query).exec(),
    ]);
    return { items, total };
  }

  /**
   * Claims the delivery for attempt number `attempt` (1-based) until `until`: null when it is
   * not pending, that attempt was made already, or another worker holds it. Two jobs for one
   * attempt (a retried job, the sweep) therefore send it once.
   */
  claim(
    deliveryId: Types.ObjectId | string,
    attempt: number,
    now: Date,
    until: Date,
  ): Promise<WebhookDeliveryDocument | null> {
    return this.deliveries
      .findOneAndUpdate(
        {
          _id: deliveryId,
          status: 'pending',
          attempts: attempt - 1,
          $or: [{ claimedUntil: { $exists: false } }, { claimedUntil: { $lt: now } }],
        },
        { $set: { claimedUntil: until } },
        { returnDocument: 'after', timestamps: false },
      )
      .lean<WebhookDeliveryDocument>()
      .exec();
  }

  /** Records the attempt `attempt` (the claim's), and what follows it. */
  async recordAttempt(
    deliveryId: Types.ObjectId,
    attempt: number,
    record: AttemptRecord,
  ): Promise<void> {
    const status: WebhookDeliveryStatus = record.delivered
      ? 'delivered'
      : record.nextAttemptAt
        ? 'pending'
        : 'failed';
    const set: Record<string, unknown> = { status, attempts: attempt, lastAttemptAt: record.at };
    const unset: Record<string, 1> = { claimedUntil: 1 };
    const setOrUnset = (key: string, value: unknown): void => {
      if (value === undefined) {
        unset[key] = 1;
      } else {
        set[key] = value;
      }
    };
    setOrUnset('lastStatusCode', record.statusCode);
    setOrUnset('lastError', record.error);
    setOrUnset('nextAttemptAt', record.nextAttemptAt);
    if (record.delivered) {
      set.deliveredAt = record.at;
    }
    await this.deliveries
      .updateOne(
        { _id: deliveryId, attempts: attempt - 1 },
        { $set: set, $unset: unset, $push: { durationsMs: Math.round(record.durationMs) } },
      )
      .exec();
  }

  /** Fails a pending delivery without an attempt (its endpoint is gone or disabled). */
  async abandon(deliveryId: Types.ObjectId, reason: string): Promise<void> {
    await this.deliveries
      .updateOne(
        { _id: deliveryId, status: 'pending' },
        {
          $set: { status: 'failed', lastError: reason },
          $unset: { nextAttemptAt: 1, claimedUntil: 1 },
        },
      )
      .exec();
  }

  /**
   * Makes a finished delivery pending again for one more attempt, now (conditional on the state
   * it was read in); null when it is pending already or changed meanwhile.
   */
  reopen(delivery: WebhookDeliveryDocument, now: Date): Promise<WebhookDeliveryDocument | null> {
    return this.deliveries
      .findOneAndUpdate(
        {
          _id: delivery._id,
          status: { $in: ['delivered', 'failed'], $eq: delivery.status },
          attempts: delivery.attempts,
        },
        {
          $set: { status: 'pending', nextAttemptAt: now, maxAttempts: delivery.attempts + 1 },
          $unset: { deliveredAt: 1 },
        },
        { returnDocument: 'after' },
      )
      .lean<WebhookDeliveryDocument>()
      .exec();
  }

  /** Pending deliveries whose next attempt is overdue by more than the grace (the sweep). */
  findOverdue(before: Date, limit: number): Promise<WebhookDeliveryDocument[]> {
    return this.deliveries
      .find({ status: 'pending', nextAttemptAt: { $lt: before } }, LIST_PROJECTION)
      .sort({ nextAttemptAt: 1 })
      .limit(limit)
      .lean<WebhookDeliveryDocument[]>()
      .exec();
  }

  /** Deletes deliveries created before `before`, in batches; returns how many. */
  async purgeCreatedBefore(before: Date): Promise<number> {
    const result = await this.deliveries.deleteMany({ createdAt: { $lt: before } }).exec();
    return result.deletedCount;
  }
}

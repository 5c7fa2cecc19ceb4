import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { type PaginationQueryDto, skipFor } from '../common/pagination/pagination.js';
import { isDuplicateKeyError } from '../users/users.repository.js';
import { ACTIVE_CALL_STATUSES, statusesBefore } from './call-status.js';
import {
  type CallDirection,
  CallLog,
  type CallLogDocument,
  type CallStatus,
  type CallWebhookEvent,
  type CostBreakdown,
  type PlacementState,
} from './schemas/call-log.schema.js';

export interface CallListFilter {
  status?: CallStatus;
  direction?: CallDirection;
  agentId?: string;
  phone?: string;
  from?: Date;
  to?: Date;
}

export type NewCallLog = Pick<
  CallLog,
  'sessionId' | 'userId' | 'agentId' | 'fromPhone' | 'toPhone' | 'direction' | 'status'
> &
  Partial<
    Pick<CallLog, 'metadata' | 'exotelCallSid' | 'startedAt' | 'campaignId' | 'contactId'>
  > & {
    /** The first webhook event (the call's initial status), when the user has an endpoint for it. */
    webhookEvent?: CallWebhookEvent;
  };

export interface StatusChange {
  status: CallStatus;
  startedAt?: Date;
  endedAt?: Date;
  durationSec?: number;
  recordingUrl?: string;
  exotelCallSid?: string;
  error?: { code: string; message: string };
  /** With a terminal status: the bill, fixed together with the duration it prices. */
  transcript?: string;
  costBreakdown?: CostBreakdown;
  billing?: { state: 'pending'; amount: number };
}

/** What the last step of finalization records (see CallLogsRepository.recordFinalized). */
export interface FinalizationRecord {
  /** The charge this finalization took or found, when the billing was still pending. */
  charge?: { charged: number; shortfall: number };
  /** The post-call analysis is due: recorded here so that a crash before its job is queued loses nothing. */
  analysisPending?: boolean;
  /** The carrier's recording to copy into our storage (the copy job's input, recorded first). */
  recordingSourceUrl?: string;
}

/** A finalized call whose markers the sweep has not removed yet. */
export type CallWithMarkers = Pick<
  CallLogDocument,
  '_id' | 'userId' | 'agentId' | 'status' | 'createdAt' | 'billing'
>;

function notDeferred(now: Date): Record<string, unknown> {
  return {
    $or: [{ 'reconcile.nextAt': { $exists: false } }, { 'reconcile.nextAt': { $lte: now } }],
  };
}

/** Adds the recording of a webhook event to an update (see CallWebhookEvent). */
function withWebhookEvent(
  update: Record<string, Record<string, unknown>>,
  webhookEvent: CallWebhookEvent | undefined,
): Record<string, Record<string, unknown>> {
  if (!webhookEvent) {
    return update;
  }
  return {
    ...update,
    $set: { ...update.$set, webhookPending: true },
    $push: { webhookEvents: webhookEvent },
  };
}

/** The only code that touches the calllogs collection. */
@Injectable()
export class CallLogsRepository {
  constructor(@InjectModel(CallLog.name) private readonly callLogs: Model<CallLog>) {}

  async create({ webhookEvent, ...callLog }: NewCallLog): Promise<CallLogDocument> {
    const created = await this.callLogs.create(
      webhookEvent ? { ...callLog, webhookEvents: [webhookEvent], webhookPending: true } : callLog,
    );
    return created.toObject<CallLogDocument>();
  }

  /** Creates the call log, or returns the one holding this sessionId already (unique index). */
  async createOrFind(callLog: NewCallLog): Promise<{ callLog: CallLogDocument; created: boolean }> {
    try {
      return { callLog: await this.create(callLog), created: true };
    } catch (error) {
      const existing = isDuplicateKeyError(error)
        ? await this.findBySessionId(callLog.sessionId)
        : null;
      if (!existing) {
        throw error;
      }
      return { callLog: existing, created: false };
    }
  }

  findById(callLogId: Types.ObjectId | string): Promise<CallLogDocument | null> {
    return this.callLogs.findById(callLogId).lean<CallLogDocument>().exec();
  }

  findOwned(userId: string, callLogId: string): Promise<CallLogDocument | null> {
    return this.callLogs.findOne({ _id: callLogId, userId }).lean<CallLogDocument>().exec();
  }

  findBySessionId(sessionId: string): Promise<CallLogDocument | null> {
    return this.callLogs
      .findOne({ sessionId: { $eq: sessionId } })
      .lean<CallLogDocument>()
      .exec();
  }

  /**
   * Moves the call to `change.status` only from an earlier status (atomic), so a late or
   * repeated event never moves a call backwards. Null when the move does not apply.
   */
  advanceStatus(
    callLogId: Types.ObjectId | string,
    change: StatusChange,
    webhookEvent?: CallWebhookEvent,
  ): Promise<CallLogDocument | null> {
    const set = Object.fromEntries(
      Object.entries(change).filter(([, value]) => value !== undefined),
    );
    return this.callLogs
      .findOneAndUpdate(
        { _id: callLogId, status: { $in: statusesBefore(change.status) } },
        withWebhookEvent({ $set: set }, webhookEvent),
        { returnDocument: 'after' },
      )
      .lean<CallLogDocument>()
      .exec();
  }

  async setExotelCallSid(callLogId: Types.ObjectId | string, exotelCallSid: string): Promise<void> {
    await this.callLogs
      .updateOne({ _id: callLogId, exotelCallSid: { $exists: false } }, { $set: { exotelCallSid } })
      .exec();
  }

  /**
   * Takes the right to send the connect request (atomic): only for a call still `initiated`,
   * without a CallSid, never claimed or certainly not sent before. Null when someone else
   * holds it, a hang-up withdrew it, or the call has moved on.
   */
  claimPlacement(callLogId: Types.ObjectId, at: Date): Promise<CallLogDocument | null> {
    return this.callLogs
      .findOneAndUpdate(
        {
          _id: callLogId,
          status: 'initiated',
          exotelCallSid: { $exists: false },
          $or: [{ placement: { $exists: false } }, { 'placement.state': 'not-sent' }],
        },
        {
          $set: { 'placement.state': 'sending', 'placement.claimedAt': at },
          $inc: { 'placement.requests': 1 },
        },
        { returnDocument: 'after' },
      )
      .lean<CallLogDocument>()
      .exec();
  }

  /**
   * Makes sure no connect request will ever be sent for this call (atomic): true when the call
   * was `initiated`, unclaimed (or certainly unsent) and is now withdrawn.
   */
  async withdrawPlacement(callLogId: Types.ObjectId | string): Promise<boolean> {
    const result = await this.callLogs
      .updateOne(
        {
          _id: callLogId,
          status: 'initiated',
          exotelCallSid: { $exists: false },
          $or: [{ placement: { $exists: false } }, { 'placement.state': 'not-sent' }],
        },
        { $set: { 'placement.state': 'withdrawn' } },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  /** Moves the placement on from one of the `from` states (the holder's own step; atomic). */
  async setPlacementState(
    callLogId: Types.ObjectId,
    from: readonly PlacementState[],
    to: PlacementState,
  ): Promise<void> {
    await this.callLogs
      .updateOne(
        { _id: callLogId, 'placement.state': { $in: from } },
        { $set: { 'placement.state': to } },
      )
      .exec();
  }

  /** Notes that the call was asked to end at the carrier (its status waits for the carrier). */
  async markHangupRequested(callLogId: Types.ObjectId, at: Date): Promise<void> {
    await this.callLogs
      .updateOne(
        { _id: callLogId, hangupRequestedAt: { $exists: false } },
        { $set: { hangupRequestedAt: at } },
      )
      .exec();
  }

  /** Records the CallSid Exotel gave the call, unless one is recorded already. */
  async recordPlacement(callLogId: Types.ObjectId, exotelCallSid: string): Promise<void> {
    await this.callLogs
      .updateOne(
        {
          _id: callLogId,
          $or: [{ exotelCallSid: { $exists: false } }, { exotelCallSid: { $eq: exotelCallSid } }],
        },
        { $set: { exotelCallSid, 'placement.state': 'placed' } },
      )
      .exec();
  }

  /**
   * Fixes the transcript, cost and amount to charge, once (first writer wins), and returns the
   * call as it is now; null when the billing was fixed before (read the call instead).
   */
  prepareBilling(
    callLogId: Types.ObjectId,
    transcript: string,
    costBreakdown: CostBreakdown,
  ): Promise<CallLogDocument | null> {
    return this.callLogs
      .findOneAndUpdate(
        { _id: callLogId, billing: { $exists: false } },
        {
          $set: {
            transcript,
            costBreakdown,
            billing: { state: 'pending', amount: costBreakdown.total },
          },
        },
        { returnDocument: 'after' },
      )
      .lean<CallLogDocument>()
      .exec();
  }

  /**
   * The last step of finalization, one conditional update: billing and agent stats `done`, the
   * call finalized at the server's time (what the marker sweep's retention counts from, so a
   * finalizer delayed between preparing and sending this cannot date it earlier), and flagged
   * as holding markers for the sweep. A call finalized before stays as it is.
   */
  async recordFinalized(
    callLogId: Types.ObjectId,
    record: FinalizationRecord,
    webhookEvent?: CallWebhookEvent,
  ): Promise<boolean> {
    const set: Record<string, unknown> = {
      'billing.state': 'done',
      agentStatsState: 'done',
      markersPending: true,
    };
    if (record.charge) {
      set['billing.charged'] = record.charge.charged;
      set['billing.shortfall'] = record.charge.shortfall;
    }
    if (record.analysisPending) {
      set.analysisPending = true;
    }
    if (record.recordingSourceUrl !== undefined) {
      set.recordingPending = true;
      set.recording = { state: 'pending', sourceUrl: record.recordingSourceUrl };
    }
    const result = await this.callLogs
      .updateOne(
        { _id: callLogId, finalizedAt: { $exists: false } },
        withWebhookEvent({ $set: set, $currentDate: { finalizedAt: true } }, webhookEvent),
      )
      .exec();
    return result.modifiedCount > 0;
  }

  /**
   * Appends a webhook event on its own (a transcript message, the analysis), unless the call
   * holds `maxEvents` already. False when it was not recorded.
   */
  async recordWebhookEvent(
    callLogId: Types.ObjectId | string,
    webhookEvent: CallWebhookEvent,
    maxEvents: number,
  ): Promise<boolean> {
    const result = await this.callLogs
      .updateOne(
        { _id: callLogId, [`webhookEvents.${maxEvents - 1}`]: { $exists: false } },
        withWebhookEvent({}, webhookEvent),
      )
      .exec();
    return result.modifiedCount > 0;
  }

  /**
   * Notes that the first `count` webhook events are dispatched; the call leaves the sweep's
   * sight once no event lies past them (a later one keeps it there for its own dispatch).
   * False when more events were recorded meanwhile.
   */
  async markWebhooksDispatched(callLogId: Types.ObjectId, count: number): Promise<boolean> {
    const settled = await this.callLogs
      .updateOne(
        { _id: callLogId, [`webhookEvents.${count}`]: { $exists: false } },
        { $max: { webhookDispatched: count }, $unset: { webhookPending: 1 } },
        { timestamps: false },
      )
      .exec();
    if (settled.matchedCount === 0) {
      await this.callLogs
        .updateOne(
          { _id: callLogId },
          { $max: { webhookDispatched: count } },
          { timestamps: false },
        )
        .exec();
      return false;
    }
    return true;
  }

  /**
   * Records the post-call analysis (or why there is none) under `metadata.analysis`, once:
   * false when it is not due (recorded already, or never asked for).
   */
  async recordAnalysis(
    callLogId: Types.ObjectId,
    analysis: Record<string, unknown>,
    webhookEvent?: CallWebhookEvent,
  ): Promise<boolean> {
    const result = await this.callLogs
      .updateOne(
        { _id: callLogId, analysisPending: true },
        withWebhookEvent(
          { $set: { 'metadata.analysis': analysis }, $unset: { analysisPending: 1 } },
          webhookEvent,
        ),
      )
      .exec();
    return result.modifiedCount > 0;
  }

  /** Finalized calls whose analysis is due and was never recorded, since before `before`. */
  findWithPendingAnalysis(before: Date, limit: number): Promise<CallLogDocument[]> {
    return this.callLogs
      .find({ analysisPending: true, finalizedAt: { $lt: before } }, { _id: 1 })
      .sort({ finalizedAt: 1 })
      .limit(limit)
      .lean<CallLogDocument[]>()
      .exec();
  }

  /** Calls with webhook events recorded but not dispatched, untouched since `before` (the sweep). */
  findWithUndispatchedWebhooks(before: Date, limit: number): Promise<CallLogDocument[]> {
    return this.callLogs
      .find({ webhookPending: true, updatedAt: { $lt: before } }, { _id: 1, webhookEvents: 1 })
      .sort({ updatedAt: 1 })
      .limit(limit)
      .lean<CallLogDocument[]>()
      .exec();
  }

  /** Finalized before `before` and still holding markers, oldest first (the marker sweep's batch). */
  findWithMarkersFinalizedBefore(before: Date, limit: number): Promise<CallWithMarkers[]> {
    return this.callLogs
      .find(
        { markersPending: true, finalizedAt: { $lt: before } },
        { userId: 1, agentId: 1, status: 1, createdAt: 1, billing: 1 },
      )
      .sort({ finalizedAt: 1 })
      .limit(limit)
      .lean<CallWithMarkers[]>()
      .exec();
  }

  /** Notes that the calls' markers are gone (the sweep's last step). */
  async clearMarkersPending(callLogIds: readonly Types.ObjectId[]): Promise<void> {
    await this.callLogs
      .updateMany(
        { _id: { $in: callLogIds } },
        { $unset: { markersPending: 1 } },
        { timestamps: false },
      )
      .exec();
  }

  async list(
    userId: string,
    filter: CallListFilter,
    page: PaginationQueryDto,
  ): Promise<{ calls: CallLogDocument[]; total: number }> {
    const query = this.filterQuery(userId, filter);
    const [calls, total] = await Promise.all([
      this.callLogs
        .find(query, { transcript: 0 })
        .sort({ createdAt: -1, _id: -1 })
        .skip(skipFor(page))
        .limit(page.limit)
        .lean<CallLogDocument[]>()
        .exec(),
      this.callLogs.countDocuments(query).exec(),
    ]);
    return { calls, total };
  }

  /** Number of calls in each status, across all users (metrics). */
  async countByStatus(): Promise<Array<{ status: CallStatus; count: number }>> {
    const rows = await this.callLogs
      .aggregate<{ _id: CallStatus; count: number }>([
        { $group: { _id: '$status', count: { $sum: 1 } } },
      ])
      .exec();
    return rows.map((row) => ({ status: row._id, count: row.count }));
  }

  /**
   * Non-terminal calls untouched since `before` (reconciliation candidates), leaving out those
   * the reconciliation deferred past `now`.
   */
  findStale(before: Date, now: Date, limit: number): Promise<CallLogDocument[]> {
    return this.callLogs
      .find({
        status: { $in: ACTIVE_CALL_STATUSES },
        updatedAt: { $lt: before },
        ...notDeferred(now),
      })
      .sort({ updatedAt: 1 })
      .limit(limit)
      .lean<CallLogDocument[]>()
      .exec();
  }

  /**
   * Outbound calls recorded between `staleBefore` and `createdBefore` that are still
   * `initiated` with no placement started: their placement job should have run by now.
   */
  findUnplaced(createdBefore: Date, staleBefore: Date, limit: number): Promise<CallLogDocument[]> {
    return this.callLogs
      .find({
        status: 'initiated',
        direction: 'outbound',
        placement: { $exists: false },
        createdAt: { $lt: createdBefore },
        updatedAt: { $gte: staleBefore },
      })
      .limit(limit)
      .lean<CallLogDocument[]>()
      .exec();
  }

  /** Terminal calls whose end-of-call work has not completed (a crash mid-way), not deferred. */
  findUnfinalized(before: Date, now: Date, limit: number): Promise<CallLogDocument[]> {
    return this.callLogs
      .find({
        status: { $nin: ACTIVE_CALL_STATUSES },
        finalizedAt: { $exists: false },
        updatedAt: { $lt: before },
        ...notDeferred(now),
      })
      .limit(limit)
      .lean<CallLogDocument[]>()
      .exec();
  }

  /**
   * Leaves the call out of reconciliation until `nextAt`, counting the attempt (without
   * touching `updatedAt`, which says when the call itself last changed).
   */
  async deferReconciliation(
    callLogId: Types.ObjectId,
    nextAt: Date,
    lastError: string,
  ): Promise<void> {
    await this.callLogs
      .updateOne(
        { _id: callLogId },
        {
          $inc: { 'reconcile.attempts': 1 },
          $set: { 'reconcile.nextAt': nextAt, 'reconcile.lastError': lastError.slice(0, 500) },
        },
        { timestamps: false },
      )
      .exec();
  }

  private filterQuery(userId: string, filter: CallListFilter): Record<string, unknown> {
    const query: Record<string, unknown> = { userId: new Types.ObjectId(userId) };
    if (filter.status !== undefined) {
      query.status = filter.status;
    }
    if (filter.direction !== undefined) {
      query.direction = filter.direction;
    }
    if (filter.agentId !== undefined) {
      query.agentId = new Types.ObjectId(filter.agentId);
    }
    if (filter.phone !== undefined) {
      query.$or = [{ fromPhone: filter.phone }, { toPhone: filter.phone }];
    }
    if (filter.from !== undefined || filter.to !== undefined) {
      query.createdAt = {
        ...(filter.from ? { $gte: filter.from } : {}),
        ...(filter.to ? { $lte: filter.to } : {}),
      };
    }
    return query;
  }
}

import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { isDuplicateKeyError } from '../users/users.repository.js';
import type { CallStatus } from './schemas/call-log.schema.js';
import { DailyCallStat, type DailyCallStatDocument } from './schemas/daily-call-stat.schema.js';

/** Which roll-up document a call adds to. */
export interface DailyCallStatKey {
  userId: Types.ObjectId;
  day: string;
  agentId: Types.ObjectId;
  status: CallStatus;
}

/** What one finalized call adds. */
export interface CallContribution {
  durationSec: number;
  cost: number;
  successful: boolean;
}

/** What the exactly-once fence reads before adding a call. */
export interface DailyCallStatFence {
  count?: number;
  pending: boolean;
}

export type DailyCallStatRow = Pick<
  DailyCallStatDocument,
  'day' | 'agentId' | 'status' | 'count' | 'durationSec' | 'cost' | 'successes'
>;

/** The only code that touches the dailycallstats collection; every method is scoped to one user. */
@Injectable()
export class DailyCallStatsRepository {
  constructor(@InjectModel(DailyCallStat.name) private readonly stats: Model<DailyCallStat>) {}

  /** The user's roll-up documents for the days `fromDay`..`toDay` (inclusive, either open). */
  findForDays(userId: string, fromDay?: string, toDay?: string): Promise<DailyCallStatRow[]> {
    const query: Record<string, unknown> = { userId: new Types.ObjectId(userId) };
    if (fromDay !== undefined || toDay !== undefined) {
      query.day = {
        ...(fromDay === undefined ? {} : { $gte: fromDay }),
        ...(toDay === undefined ? {} : { $lte: toDay }),
      };
    }
    return this.stats
      .find(query, {
        _id: 0,
        day: 1,
        agentId: 1,
        status: 1,
        count: 1,
        durationSec: 1,
        cost: 1,
        successes: 1,
      })
      .lean<DailyCallStatRow[]>()
      .exec();
  }

  /** Reads the fence of `key` for `callLogId`: the call count, and whether the call is added already. */
  async readFence(key: DailyCallStatKey, callLogId: string): Promise<DailyCallStatFence> {
    const current = await this.stats
      .findOne(key, { count: 1, pendingCallIds: 1 })
      .lean<Pick<DailyCallStatDocument, 'count' | 'pendingCallIds'>>()
      .exec();
    return {
      count: current?.count,
      pending: current?.pendingCallIds?.includes(callLogId) ?? false,
    };
  }

  /**
   * Adds the call in one atomic upsert that applies only while the call's marker is absent and
   * the count is still the one `fence` read (so a finalizer that lost its lock and read before
   * another finished cannot add the call again). False when the document moved on meanwhile
   * (read the fence again).
   */
  async addCall(
    key: DailyCallStatKey,
    callLogId: string,
    fence: DailyCallStatFence,
    call: CallContribution,
  ): Promise<boolean> {
    try {
      const result = await this.stats
        .updateOne(
          {
            ...key,
            pendingCallIds: { $ne: callLogId },
            count: fence.count === undefined ? { $exists: false } : fence.count,
          },
          {
            $inc: {
              count: 1,
              durationSec: call.durationSec,
              cost: call.cost,
              successes: call.successful ? 1 : 0,
            },
            $push: { pendingCallIds: callLogId },
          },
          { upsert: fence.count === undefined },
        )
        .exec();
      return result.modifiedCount + result.upsertedCount === 1;
    } catch (error) {
      // Another finalizer created the document first: the caller reads the fence again.
      if (isDuplicateKeyError(error)) {
        return false;
      }
      throw error;
    }
  }

  /** Removes the settled call's marker (second phase of addCall). */
  async settleCall(key: DailyCallStatKey, callLogId: string): Promise<void> {
    await this.stats.updateOne(key, { $pull: { pendingCallIds: callLogId } }).exec();
  }
}

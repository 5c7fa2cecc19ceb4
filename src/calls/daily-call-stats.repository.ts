import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { type Model, Types } from 'mongoose';
import { isDuplicateKeyError } from '../users/users.repository.js';
import type { CallStatus } from './schemas/call-log.schema.js';
import {
  DailyCallStat,
  type DailyCallStatDocument,
  utcDay,
} from './schemas/daily-call-stat.schema.js';

/** Which roll-up document a call adds to. */
export interface DailyCallStatKey {
  userId: Types.ObjectId;
  day: string;
  agentId: Types.ObjectId;
  status: CallStatus;
}

/** The roll-up document a call adds to: its user, the UTC day it was created, agent, status. */
export function dailyCallStatKey(call: {
  userId: Types.ObjectId;
  agentId: Types.ObjectId;
  createdAt: Date;
  status: CallStatus;
}): DailyCallStatKey {
  return {
    userId: call.userId,
    day: utcDay(call.createdAt),
    agentId: call.agentId,
    status: call.status,
  };
}

/** What one finalized call adds. */
export interface CallContribution {
  durationSec: number;
  cost: number;
  successful: boolean;
}

/** One rolled-up call whose marker may go (see DailyCallStatsRepository.removeMarkers). */
export interface RollUpMarker {
  key: DailyCallStatKey;
  callLogId: string;
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

  /**
   * Adds the call in one atomic upsert that applies only while the call's marker is absent.
   * True when it added the call. False when the upsert ran into the unique key: either this
   * call is there already (its marker kept the existing document from matching) or another
   * call created the document first; `hasCall` tells which.
   */
  async addCall(
    key: DailyCallStatKey,
    callLogId: string,
    call: CallContribution,
  ): Promise<boolean> {
    try {
      const result = await this.stats
        .updateOne(
          { ...key, pendingCallIds: { $ne: callLogId } },
          {
            $inc: {
              count: 1,
              durationSec: call.durationSec,
              cost: call.cost,
              successes: call.successful ? 1 : 0,
            },
            $push: { pendingCallIds: callLogId },
          },
          { upsert: true },
        )
        .exec();
      return result.modifiedCount + result.upsertedCount === 1;
    } catch (error) {
      if (isDuplicateKeyError(error)) {
        return false;
      }
      throw error;
    }
  }

  /** Whether the call's marker is on the document of `key` (it was added). */
  async hasCall(key: DailyCallStatKey, callLogId: string): Promise<boolean> {
    const found = await this.stats
      .findOne({ ...key, pendingCallIds: callLogId }, { _id: 1 })
      .lean()
      .exec();
    return found !== null;
  }

  /**
   * Removes the markers of rolled-up calls (one `$pullAll` per document, in one bulk write);
   * only for calls finalized longer ago than any finalizer may still act (see
   * CallLifecycleService).
   */
  async removeMarkers(markers: readonly RollUpMarker[]): Promise<void> {
    const byKey = new Map<string, { key: DailyCallStatKey; ids: string[] }>();
    for (const marker of markers) {
      const { userId, day, agentId, status } = marker.key;
      const id = `${userId.toString()}|${day}|${agentId.toString()}|${status}`;
      const group = byKey.get(id) ?? { key: marker.key, ids: [] };
      group.ids.push(marker.callLogId);
      byKey.set(id, group);
    }
    if (byKey.size === 0) {
      return;
    }
    await this.stats.bulkWrite(
      [...byKey.values()].map((group) => ({
        updateOne: { filter: group.key, update: { $pullAll: { pendingCallIds: group.ids } } },
      })),
      { ordered: false },
    );
  }
}

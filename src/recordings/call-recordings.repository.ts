import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model, Types } from 'mongoose';
import {
  CallLog,
  type CallLogDocument,
  type CallRecording,
  type RecordingState,
} from '../calls/schemas/call-log.schema.js';

export type CallForCopy = Pick<
  CallLogDocument,
  '_id' | 'userId' | 'createdAt' | 'recording' | 'recordingPending'
>;

/** A stored copy past its retention. */
export interface ExpiredRecording {
  _id: Types.ObjectId;
  key: string;
}

/** The recording fields of call logs: the copy job's, the retention job's and the API's reads and writes. */
@Injectable()
export class CallRecordingsRepository {
  constructor(@InjectModel(CallLog.name) private readonly callLogs: Model<CallLog>) {}

  findForCopy(callLogId: string): Promise<CallForCopy | null> {
    return this.callLogs
      .findById(callLogId, { userId: 1, createdAt: 1, recording: 1, recordingPending: 1 })
      .lean<CallForCopy>()
      .exec();
  }

  /**
   * The copy is stored: `recordingUrl` now names our object, the carrier's URL stays in
   * `recording.sourceUrl`. Once: false when the copy was not due (done already).
   */
  async recordStored(
    callLogId: Types.ObjectId,
    stored: { key: string; size: number; contentType: string; url: string },
  ): Promise<boolean> {
    const result = await this.callLogs
      .updateOne(
        { _id: callLogId, recordingPending: true },
        {
          $set: {
            recordingUrl: stored.url,
            'recording.state': 'stored',
            'recording.key': stored.key,
            'recording.size': stored.size,
            'recording.contentType': stored.contentType,
            // The app's clock: FerretDB's $currentDate takes no dotted path.
            'recording.storedAt': new Date(),
          },
          $unset: { recordingPending: 1, 'recording.error': 1 },
        },
      )
      .exec();
    return result.modifiedCount > 0;
  }

  /** The copy ended without one (missing at the carrier, too large, failed): recorded once. */
  async recordNotStored(
    callLogId: Types.ObjectId,
    state: Extract<RecordingState, 'missing' | 'too-large' | 'failed'>,
    error: string,
  ): Promise<boolean> {
    const result = await this.callLogs
      .updateOne(
        { _id: callLogId, recordingPending: true },
        {
          $set: { 'recording.state': state, 'recording.error': error.slice(0, 500) },
          $unset: { recordingPending: 1 },
        },
      )
      .exec();
    return result.modifiedCount > 0;
  }

  /** Calls whose copy is due and not done, finalized before `before` (the sweep's batch). */
  findPendingBefore(before: Date, limit: number): Promise<Array<{ _id: Types.ObjectId }>> {
    return this.callLogs
      .find({ recordingPending: true, finalizedAt: { $lt: before } }, { _id: 1 })
      .sort({ finalizedAt: 1 })
      .limit(limit)
      .lean<Array<{ _id: Types.ObjectId }>>()
      .exec();
  }

  /**
   * Stored copies older than `storedBefore`, of `userId` only, or of every user but those in
   * `exceptUsers` (they have retentions of their own).
   */
  async findExpired(
    storedBefore: Date,
    owners: { userId: Types.ObjectId } | { exceptUsers: Types.ObjectId[] },
    limit: number,
  ): Promise<ExpiredRecording[]> {
    const calls = await this.callLogs
      .find(
        {
          'recording.state': 'stored',
          'recording.storedAt': { $lt: storedBefore },
          ...('userId' in owners
            ? { userId: owners.userId }
            : owners.exceptUsers.length > 0
              ? { userId: { $nin: owners.exceptUsers } }
              : {}),
        },
        { 'recording.key': 1 },
      )
      .sort({ 'recording.storedAt': 1 })
      .limit(limit)
      .lean<Array<{ _id: Types.ObjectId; recording?: CallRecording }>>()
      .exec();
    return calls.flatMap((call) =>
      call.recording?.key === undefined ? [] : [{ _id: call._id, key: call.recording.key }],
    );
  }

  /** The copies are deleted from storage: the calls no longer point at them. */
  async markDeleted(callLogIds: Types.ObjectId[]): Promise<number> {
    const result = await this.callLogs
      .updateMany(
        { _id: { $in: callLogIds }, 'recording.state': 'stored' },
        {
          $set: { 'recording.state': 'deleted', 'recording.deletedAt': new Date() },
          $unset: { recordingUrl: 1 },
        },
      )
      .exec();
    return result.modifiedCount;
  }

  /** The user's call's recording fields (tenancy: another user's call is not found). */
  findOwned(
    userId: string,
    callLogId: string,
  ): Promise<Pick<CallLogDocument, '_id' | 'recording' | 'recordingUrl'> | null> {
    return this.callLogs
      .findOne({ _id: callLogId, userId }, { recording: 1, recordingUrl: 1 })
      .lean<Pick<CallLogDocument, '_id' | 'recording' | 'recordingUrl'>>()
      .exec();
  }
}

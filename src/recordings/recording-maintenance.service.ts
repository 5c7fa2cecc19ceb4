import { Inject, Injectable } from '@nestjs/common';
import type { Types } from 'mongoose';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { ObjectStorage } from '../storage/object-storage.js';
import { RECORDING_STORAGE } from '../storage/storage.module.js';
import { UsersRepository } from '../users/users.repository.js';
import { PostCallJobs } from '../webhooks/post-call-jobs.js';
import { CallRecordingsRepository } from './call-recordings.repository.js';

const DAY_MS = 86_400_000;
/** A copy recorded as due and not done this long after finalization is queued again. */
const COPY_GRACE_MS = 10 * 60_000;
const BATCH = 500;
/** Batches one purge run deletes at most per retention group; the next run goes on. */
const MAX_BATCHES = 200;

export interface RecordingPurgeResult {
  deleted: number;
  /** Users whose own retention was applied (the rest follow RECORDING_RETENTION_DAYS). */
  usersWithOwnRetention: number;
}

/**
 * The recordings' scheduled jobs: re-queue copies a crash left unqueued (with the
 * reconciliation cron), and delete copies past their owner's retention (daily, with the
 * cleanup cron). A copy is deleted from storage before its call stops pointing at it, so a
 * crash in between only repeats the delete.
 */
@Injectable()
export class RecordingMaintenanceService {
  constructor(
    private readonly recordings: CallRecordingsRepository,
    private readonly users: UsersRepository,
    private readonly postCall: PostCallJobs,
    @Inject(RECORDING_STORAGE) private readonly storage: ObjectStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async sweep(now = new Date()): Promise<{ requeued: number }> {
    const due = await this.recordings.findPendingBefore(
      new Date(now.getTime() - COPY_GRACE_MS),
      BATCH,
    );
    for (const call of due) {
      await this.postCall.requestRecordingCopy(call._id.toString(), { again: true });
    }
    return { requeued: due.length };
  }

  async purge(now = new Date()): Promise<RecordingPurgeResult> {
    const own = await this.users.findRecordingRetentions();
    let deleted = await this.purgeGroup(
      new Date(now.getTime() - this.config.recordings.retentionDays * DAY_MS),
      { exceptUsers: own.map((user) => user._id) },
    );
    for (const user of own) {
      deleted += await this.purgeGroup(
        new Date(now.getTime() - user.recordingRetentionDays * DAY_MS),
        { userId: user._id },
      );
    }
    return { deleted, usersWithOwnRetention: own.length };
  }

  private async purgeGroup(
    storedBefore: Date,
    owners: { userId: Types.ObjectId } | { exceptUsers: Types.ObjectId[] },
  ): Promise<number> {
    let deleted = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch += 1) {
      const expired = await this.recordings.findExpired(storedBefore, owners, BATCH);
      if (expired.length === 0) {
        break;
      }
      await this.storage.delete(expired.map((entry) => entry.key));
      deleted += await this.recordings.markDeleted(expired.map((entry) => entry._id));
      if (expired.length < BATCH) {
        break;
      }
    }
    return deleted;
  }
}

import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ObjectNotFoundError, type ObjectStorage } from '../storage/object-storage.js';
import { RECORDING_STORAGE } from '../storage/storage.module.js';
import { UsersRepository } from '../users/users.repository.js';
import { CallRecordingsRepository } from './call-recordings.repository.js';
import type { RecordingLinkResponse, RecordingRetentionResponse } from './recordings.dto.js';
import { RecordingsErrorCode, RecordingsException } from './recordings.exception.js';

export type RecordingAccess =
  | { kind: 'link'; link: RecordingLinkResponse }
  | { kind: 'stream'; body: Readable; size: number; contentType: string; fileName: string };

/** The API side of recordings: the owner's download, and the retention setting. */
@Injectable()
export class RecordingsService {
  constructor(
    private readonly recordings: CallRecordingsRepository,
    private readonly users: UsersRepository,
    @Inject(RECORDING_STORAGE) private readonly storage: ObjectStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async access(userId: string, callLogId: string): Promise<RecordingAccess> {
    const call = await this.recordings.findOwned(userId, callLogId);
    if (!call) {
      throw new RecordingsException(RecordingsErrorCode.CallNotFound, 'Call not found');
    }
    const recording = call.recording;
    if (recording?.state === 'pending') {
      throw new RecordingsException(
        RecordingsErrorCode.Pending,
        'The recording is being copied from the carrier; try again shortly',
      );
    }
    if (recording?.state === 'deleted') {
      throw new RecordingsException(
        RecordingsErrorCode.Deleted,
        'The recording was deleted after its retention period',
      );
    }
    if (recording?.state !== 'stored' || recording.key === undefined) {
      throw new RecordingsException(
        RecordingsErrorCode.NotAvailable,
        recording === undefined
          ? 'This call has no recording'
          : `The recording could not be copied from the carrier (${recording.state})`,
        recording === undefined ? undefined : { state: recording.state },
      );
    }
    const key = recording.key;
    const fileName = key.slice(key.lastIndexOf('/') + 1);
    const contentType = recording.contentType ?? 'application/octet-stream';
    const expiresInSeconds = this.config.storage.signedUrlTtlSeconds;
    const url = await this.storage.signedUrl(key, { expiresInSeconds, fileName, contentType });
    if (url !== undefined) {
      return {
        kind: 'link',
        link: {
          url,
          expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
          contentType,
          size: recording.size ?? 0,
        },
      };
    }
    try {
      const object = await this.storage.get(key);
      return { kind: 'stream', body: object.body, size: object.size, contentType, fileName };
    } catch (error) {
      if (error instanceof ObjectNotFoundError) {
        throw new RecordingsException(
          RecordingsErrorCode.NotAvailable,
          'The recording is no longer in storage',
        );
      }
      throw error;
    }
  }

  async retention(userId: string): Promise<RecordingRetentionResponse> {
    const user = await this.users.findById(userId);
    return this.describeRetention(user?.recordingRetentionDays ?? null);
  }

  async setRetention(userId: string, days: number | null): Promise<RecordingRetentionResponse> {
    await this.users.setRecordingRetention(userId, days);
    return this.describeRetention(days);
  }

  private describeRetention(days: number | null): RecordingRetentionResponse {
    const defaultDays = this.config.recordings.retentionDays;
    return { days, defaultDays, effectiveDays: days ?? defaultDays };
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Types } from 'mongoose';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { contentTypeOf, recordingExtension } from '../storage/content-types.js';
import type { ObjectStorage } from '../storage/object-storage.js';
import { RECORDING_STORAGE } from '../storage/storage.module.js';
import { UsersRepository } from '../users/users.repository.js';
import { CallRecordingsRepository } from './call-recordings.repository.js';
import {
  type Credentials,
  RecordingFetcher,
  type RecordingFetchProblem,
  RecordingTooLargeError,
} from './recording-fetcher.js';
import { recordingKey } from './recording-keys.js';

/** A failure another attempt may get past (the carrier's 5xx, a timeout, storage unavailable). */
export class RecordingCopyRetryError extends Error {
  override readonly name = 'RecordingCopyRetryError';
}

/**
 * Copies a finished call's recording from the carrier into our storage, streaming (the body
 * goes from the carrier's socket into the storage upload, a part at a time). Each call's copy
 * is recorded as due at finalization (`recordingPending`), so a crash loses nothing; the
 * outcome is recorded once. A failure that may pass is thrown for the queue to retry with
 * backoff; on the last attempt it is recorded as `failed` instead.
 */
@Injectable()
export class RecordingCopyService {
  private readonly logger = new Logger(RecordingCopyService.name);
  private readonly fetcher: RecordingFetcher;

  constructor(
    private readonly recordings: CallRecordingsRepository,
    private readonly users: UsersRepository,
    private readonly secretBox: SecretBoxService,
    @Inject(RECORDING_STORAGE) private readonly storage: ObjectStorage,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const apiBase = config.exotel.apiBaseUrl;
    this.fetcher = new RecordingFetcher({
      timeoutMs: config.recordings.fetchTimeoutMs,
      maxBytes: config.recordings.maxBytes,
      allowPrivateAddresses: config.webhooks.allowPrivateAddresses,
      // EXOTEL_API_BASE_URL stands for Exotel (a proxy, the local fake): it gets credentials too.
      credentialHosts: apiBase === undefined ? [] : [new URL(apiBase).host.toLowerCase()],
    });
  }

  async copy(callLogId: string, lastAttempt: boolean): Promise<string> {
    const call = await this.recordings.findForCopy(callLogId);
    if (call?.recordingPending !== true || call.recording === undefined) {
      return 'not due';
    }
    const sourceUrl = call.recording.sourceUrl;
    const fetched = await this.fetcher.fetch(sourceUrl, await this.credentialsOf(call.userId));
    if (!fetched.ok) {
      return this.notStored(call._id, fetched.problem, lastAttempt);
    }
    const key = recordingKey(call, recordingExtension(sourceUrl, fetched.contentType));
    const contentType = contentTypeOf(key);
    let size: number;
    try {
      ({ size } = await this.storage.put(key, fetched.body, { contentType }));
    } catch (error) {
      fetched.body.destroy();
      if (error instanceof RecordingTooLargeError) {
        return this.notStored(call._id, { kind: 'too-large', message: error.message }, lastAttempt);
      }
      const message = `download or storage failed: ${(error as Error).message}`;
      return this.notStored(call._id, { kind: 'failed', message, retryable: true }, lastAttempt);
    }
    const recorded = await this.recordings.recordStored(call._id, {
      key,
      size,
      contentType,
      url: this.storage.objectUrl(key),
    });
    this.logger.log(`recording of call ${callLogId} stored: ${key} (${size} bytes)`);
    return recorded ? `stored ${size} bytes` : 'stored by another attempt';
  }

  private async notStored(
    callLogId: Types.ObjectId,
    problem: RecordingFetchProblem,
    lastAttempt: boolean,
  ): Promise<string> {
    if (problem.kind === 'failed' && problem.retryable && !lastAttempt) {
      throw new RecordingCopyRetryError(problem.message);
    }
    const state =
      problem.kind === 'missing'
        ? 'missing'
        : problem.kind === 'too-large'
          ? 'too-large'
          : 'failed';
    await this.recordings.recordNotStored(callLogId, state, problem.message);
    this.logger.warn(
      `recording of call ${callLogId.toString()} not copied (${state}): ${problem.message}`,
    );
    return state;
  }

  /** The user's Exotel key and token (the fetcher sends them to Exotel's hosts only). */
  private async credentialsOf(userId: Types.ObjectId): Promise<Credentials | undefined> {
    const user = await this.users.findById(userId.toString());
    const config = user?.exotelConfig;
    if (!config) {
      return undefined;
    }
    return {
      username: config.apiKey,
      password: this.secretBox.decrypt(config.apiToken, userId.toString()),
    };
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { CallLifecycleService } from '../calls/call-lifecycle.service.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { PhonesRepository } from '../phones/phones.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersRepository } from '../users/users.repository.js';
import { ExotelClient, exotelFlowUrl } from './exotel/exotel.client.js';
import { ExotelApiError } from './exotel/exotel.errors.js';
import { TelephonyService } from './telephony.service.js';

export type PlacementOutcome = 'placed' | 'skipped' | 'failed';

/** Asks Exotel to connect an outbound call that POST /calls recorded. */
@Injectable()
export class CallPlacementService {
  private readonly logger = new Logger(CallPlacementService.name);

  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly users: UsersRepository,
    private readonly phones: PhonesRepository,
    private readonly sessions: SessionsService,
    private readonly lifecycle: CallLifecycleService,
    private readonly telephony: TelephonyService,
    private readonly exotel: ExotelClient,
    private readonly secretBox: SecretBoxService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Places the call once it is still `initiated` and has no Exotel id. Exotel's refusals (4xx)
   * fail the call with the reason; other errors are thrown for the queue to retry, and the
   * last attempt fails the call visibly before throwing.
   */
  async place(callLogId: string, lastAttempt: boolean): Promise<PlacementOutcome> {
    const call = await this.callLogs.findById(callLogId);
    if (call?.status !== 'initiated' || call.exotelCallSid) {
      return 'skipped';
    }
    const userId = call.userId.toString();
    const [user, phone] = await Promise.all([
      this.users.findById(userId),
      this.phones.findOwnedByNumber(userId, call.fromPhone),
    ]);
    if (!user?.exotelConfig || !phone?.exotelData?.appId) {
      await this.fail(
        callLogId,
        'CALL_NOT_PLACEABLE',
        "Exotel credentials or the phone's Exotel flow were removed before the call was placed",
      );
      return 'failed';
    }
    try {
      const result = await this.exotel.connectCall(
        {
          apiKey: user.exotelConfig.apiKey,
          apiToken: this.secretBox.decrypt(user.exotelConfig.apiToken),
          sid: user.exotelConfig.sid,
          subdomain: user.exotelConfig.subdomain,
        },
        {
          from: call.toPhone,
          callerId: phone.number,
          url: exotelFlowUrl(user.exotelConfig.sid, phone.exotelData.appId),
          statusCallback: this.telephony.statusCallbackUrl(callLogId),
          customField: call.sessionId,
          timeLimit: this.config.calls.timeLimitSeconds,
          record: this.config.calls.record,
        },
      );
      await this.callLogs.setExotelCallSid(call._id, result.callSid);
      await this.sessions.setExotelCallSid(call.sessionId, result.callSid);
      return 'placed';
    } catch (error) {
      if (error instanceof ExotelApiError && error.kind === 'client') {
        await this.fail(
          callLogId,
          'EXOTEL_REJECTED',
          `Exotel refused the call (HTTP ${error.httpStatus ?? '?'}): ${error.message}`,
        );
        return 'failed';
      }
      if (lastAttempt) {
        await this.fail(
          callLogId,
          'EXOTEL_UNAVAILABLE',
          `Exotel could not be reached: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      this.logger.warn(
        `placing call ${callLogId} failed${lastAttempt ? ' for the last time' : ', will retry'}: ${String(error)}`,
      );
      throw error;
    }
  }

  private async fail(callLogId: string, code: string, message: string): Promise<void> {
    await this.lifecycle.applyEvent({
      callLogId,
      status: 'failed',
      occurredAt: new Date(),
      error: { code, message },
    });
  }
}

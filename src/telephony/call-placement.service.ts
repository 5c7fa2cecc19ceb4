import { Inject, Injectable, Logger } from '@nestjs/common';
import { CallLifecycleService } from '../calls/call-lifecycle.service.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { CallLogDocument } from '../calls/schemas/call-log.schema.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { PhonesRepository } from '../phones/phones.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersRepository } from '../users/users.repository.js';
import type { UserDocument } from '../users/schemas/user.schema.js';
import { ExotelClient, exotelFlowUrl } from './exotel/exotel.client.js';
import { ExotelApiError } from './exotel/exotel.errors.js';
import type { ExotelCall, ExotelCredentials } from './exotel/exotel.types.js';
import { TelephonyService } from './telephony.service.js';

export type PlacementOutcome = 'placed' | 'skipped' | 'failed';

/** How far around the claim a call found at Exotel may have been created (clock skew). */
const SEARCH_MARGIN_MS = 5 * 60_000;

/** Thrown to have the queue run the placement job again later. */
export class PlacementPendingError extends Error {
  override readonly name = 'PlacementPendingError';
}

/**
 * Asks Exotel to connect an outbound call that POST /calls recorded, ringing the person at
 * most once. Exotel has no idempotency key, so the call log holds a placement claim taken
 * atomically before the request. The request is repeated only when Exotel certainly did not
 * act on it (429, connection refused, no such host). When the answer is lost (timeout, 5xx,
 * dropped connection), or a worker died holding the claim, Exotel's call list is searched for
 * the call instead: found, it is adopted; still absent after the last attempt, the call fails
 * with PLACEMENT_UNCERTAIN and is never sent again.
 */
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

  async place(callLogId: string, lastAttempt: boolean): Promise<PlacementOutcome> {
    const call = await this.callLogs.findById(callLogId);
    if (call?.status !== 'initiated' || call.exotelCallSid) {
      return 'skipped';
    }
    const state = call.placement?.state;
    if (state === 'sending' || state === 'unknown') {
      // An earlier run sent the request (or may have) and did not learn the outcome.
      return this.settleUncertain(call, lastAttempt);
    }
    if (state !== undefined && state !== 'not-sent') {
      return 'skipped';
    }
    const userId = call.userId.toString();
    const [user, phone] = await Promise.all([
      this.users.findById(userId),
      this.phones.findOwnedByNumber(userId, call.fromPhone),
    ]);
    const appId = phone?.exotelData?.appId;
    if (!user?.exotelConfig || !phone || !appId) {
      if (await this.callLogs.withdrawPlacement(call._id)) {
        await this.fail(
          callLogId,
          'CALL_NOT_PLACEABLE',
          "Exotel credentials or the phone's Exotel flow were removed before the call was placed",
        );
        return 'failed';
      }
      return 'skipped';
    }
    const credentials = this.credentialsOf(user);
    const claimed = await this.callLogs.claimPlacement(call._id, new Date());
    if (!claimed) {
      return 'skipped';
    }
    try {
      const result = await this.exotel.connectCall(credentials, {
        from: call.toPhone,
        callerId: phone.number,
        url: exotelFlowUrl(user.exotelConfig.sid, appId),
        statusCallback: this.telephony.statusCallbackUrl(callLogId),
        customField: call.sessionId,
        timeLimit: this.config.calls.timeLimitSeconds,
        record: this.config.calls.record,
      });
      await this.adopt(claimed, result.callSid);
      return 'placed';
    } catch (error) {
      if (!(error instanceof ExotelApiError)) {
        // Recording the answer failed (database down): the call may be placed, so it is looked up.
        await this.callLogs.setPlacementState(call._id, ['sending'], 'unknown');
        throw error;
      }
      return this.afterFailedRequest(claimed, error, lastAttempt);
    }
  }

  private async afterFailedRequest(
    call: CallLogDocument,
    error: ExotelApiError,
    lastAttempt: boolean,
  ): Promise<PlacementOutcome> {
    const callLogId = call._id.toString();
    if (!error.certainlyNotProcessed) {
      this.logger.warn(
        `connect for call ${callLogId} has no known outcome (${error.message}); asking Exotel`,
      );
      await this.callLogs.setPlacementState(call._id, ['sending'], 'unknown');
      return this.settleUncertain(call, lastAttempt);
    }
    if (error.kind === 'client') {
      await this.callLogs.setPlacementState(call._id, ['sending'], 'failed');
      await this.fail(
        callLogId,
        'EXOTEL_REJECTED',
        `Exotel refused the call (HTTP ${error.httpStatus ?? '?'}): ${error.message}`,
      );
      return 'failed';
    }
    if (lastAttempt) {
      await this.callLogs.setPlacementState(call._id, ['sending'], 'failed');
      await this.fail(
        callLogId,
        'EXOTEL_UNAVAILABLE',
        error.kind === 'rate-limited'
          ? 'Exotel kept refusing requests over its rate limit; the call was not placed'
          : 'Exotel could not be reached; the call was not placed',
      );
      // Thrown as well, so the job stays in the failed list for operators to see.
      throw error;
    }
    this.logger.warn(`placing call ${callLogId} failed before Exotel got it, will retry: ${error}`);
    await this.callLogs.setPlacementState(call._id, ['sending'], 'not-sent');
    throw error;
  }

  /**
   * Learns from Exotel whether a connect request with a lost answer placed the call: adopts
   * the call when found; otherwise asks the queue to look again later, and after the last
   * attempt fails the call without ever sending the request again.
   */
  private async settleUncertain(
    call: CallLogDocument,
    lastAttempt: boolean,
  ): Promise<PlacementOutcome> {
    const callLogId = call._id.toString();
    const user = await this.users.findById(call.userId.toString());
    let found: ExotelCall | undefined;
    let problem: string | undefined;
    if (user?.exotelConfig) {
      const claimedAt = call.placement?.claimedAt ?? call.createdAt;
      try {
        const calls = await this.exotel.findCalls(this.credentialsOf(user), {
          from: call.toPhone,
          exoPhone: call.fromPhone,
          createdAfter: new Date(claimedAt.getTime() - SEARCH_MARGIN_MS),
          createdBefore: new Date(Date.now() + SEARCH_MARGIN_MS),
        });
        const match = this.matchOf(calls, call.sessionId);
        found = match.call;
        problem = match.problem;
      } catch (error) {
        problem = `Exotel's call list could not be read (${error instanceof ExotelApiError ? error.kind : 'error'})`;
        this.logger.warn(`searching Exotel for call ${callLogId} failed: ${String(error)}`);
      }
    } else {
      problem = 'the Exotel credentials were removed';
    }
    if (found) {
      await this.adopt(call, found.Sid);
      return 'placed';
    }
    if (!lastAttempt) {
      throw new PlacementPendingError(
        `call ${callLogId}: outcome of the connect request not known yet (${problem ?? 'not found at Exotel'})`,
      );
    }
    await this.callLogs.setPlacementState(call._id, ['sending', 'unknown'], 'failed');
    await this.fail(
      callLogId,
      'PLACEMENT_UNCERTAIN',
      `Exotel did not confirm the call and ${problem ?? 'it was not found at Exotel'}; it was not sent again, so that nobody is rung twice`,
    );
    return 'failed';
  }

  /** The call at Exotel that is ours: tagged with our session id, or the only candidate. */
  private matchOf(calls: ExotelCall[], sessionId: string): { call?: ExotelCall; problem?: string } {
    const tagged = calls.find((call) => call.CustomField === sessionId);
    if (tagged) {
      return { call: tagged };
    }
    const untagged = calls.filter(
      (call) => call.CustomField === undefined || call.CustomField === null,
    );
    if (untagged.length > 1) {
      return { problem: `${untagged.length} calls to the number could not be told apart` };
    }
    return { call: untagged[0] };
  }

  private async adopt(call: CallLogDocument, callSid: string): Promise<void> {
    await this.callLogs.recordPlacement(call._id, callSid);
    await this.sessions.setExotelCallSid(call.sessionId, callSid);
  }

  private credentialsOf(user: UserDocument): ExotelCredentials {
    const config = user.exotelConfig;
    if (!config) {
      throw new Error('the user has no Exotel credentials');
    }
    return {
      apiKey: config.apiKey,
      apiToken: this.secretBox.decrypt(config.apiToken, user._id.toString()),
      sid: config.sid,
      subdomain: config.subdomain,
    };
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

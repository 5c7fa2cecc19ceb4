import { createHash } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Types } from 'mongoose';
import { ActiveCallSlots } from '../calls/active-call-slots.js';
import { toCallStatusJob, type CallStatusJob } from '../calls/call-events.processor.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import { RateLimiterService } from '../common/throttling/rate-limiter.service.js';
import { withVariables } from '../calls/call-variables.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { enqueueWithin } from '../infra/queue/enqueue-within.js';
import { DEFAULT_JOB_OPTIONS, Jobs, Queues, jobId } from '../infra/queue/queues.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';
import { PhonesException } from '../phones/phones.exception.js';
import { PhonesRepository } from '../phones/phones.repository.js';
import { PhonesService } from '../phones/phones.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersRepository } from '../users/users.repository.js';
import type {
  IncomingCallResponse,
  StatusCallbackAck,
  VoicebotUrlResponse,
} from './dto/telephony.response.js';
import { normaliseExotelNumber } from './exotel/exotel-number.js';
import { parseStatusCallback } from './exotel-status-callback.js';
import { MediaStreamUrls, SESSION_ID_PATTERN } from './media-stream/media-stream-urls.js';
import { TelephonyErrorCode, TelephonyException } from './telephony.exception.js';
import { CallWebhookEvents } from '../webhooks/call-webhook-events.js';

const WEBHOOK_TOKEN_PATTERN = /^[\w-]{20,100}$/;

/**
 * How long a status-callback URL stays valid after the longest call it can report on.
 * Exotel retries callbacks it could not deliver and sometimes reports a finished call late;
 * a day covers that with room to spare (an outage of ours included), while a leaked URL
 * stops being replayable instead of working forever.
 */
const STATUS_CALLBACK_GRACE_SECONDS = 24 * 60 * 60;

/** Unix seconds, as issued: digits only, so one expiry has exactly one signed spelling. */
const EXPIRY_PATTERN = /^\d{1,12}$/;

function field(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' && value.trim() !== '' && value.length <= 256
    ? value.trim()
    : undefined;
}

/** The session of an inbound call: derived from the CallSid, so repeats find the same one. */
function inboundSessionId(userId: string, callSid: string): string {
  return `sess_in_${createHash('sha256').update(`${userId}:${callSid}`).digest('hex').slice(0, 24)}`;
}

/** Exotel's side of the platform: signed status callbacks and inbound calls. */
@Injectable()
export class TelephonyService {
  constructor(
    private readonly secretBox: SecretBoxService,
    private readonly users: UsersRepository,
    private readonly phonesRepository: PhonesRepository,
    private readonly phones: PhonesService,
    private readonly callLogs: CallLogsRepository,
    private readonly sessions: SessionsService,
    private readonly slots: ActiveCallSlots,
    private readonly rateLimiter: RateLimiterService,
    @InjectQueue(Queues.callEvents) private readonly callEvents: Queue<CallStatusJob>,
    private readonly streamUrls: MediaStreamUrls,
    private readonly webhookEvents: CallWebhookEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * The URL given to Exotel when placing a call; its signature proves a callback is ours and
   * is bound to an expiry. The expiry counts from the call log's creation (the time in its
   * ObjectId) rather than from the moment of asking, so one call always gets the same URL and
   * a retried placement hands Exotel no second secret.
   */
  statusCallbackUrl(callLogId: string): string {
    const createdAt = Math.floor(new Types.ObjectId(callLogId).getTimestamp().getTime() / 1000);
    const expiry = String(
      createdAt + this.config.calls.timeLimitSeconds + STATUS_CALLBACK_GRACE_SECONDS,
    );
    return `${this.config.publicBaseUrl}/api/v1/telephony/exotel/status/${callLogId}?exp=${expiry}&sig=${this.signatureOf(callLogId, expiry)}`;
  }

  /**
   * Verifies, then hands the event to the queue; repeats of one callback collapse into one job.
   * Reads nothing from MongoDB, so the acknowledgement stays fast under a callback storm.
   */
  async acceptStatusCallback(
    callLogId: string,
    expiry: string | undefined,
    signature: string | undefined,
    body: unknown,
  ): Promise<StatusCallbackAck> {
    this.verifyStatusSignature(callLogId, expiry, signature);
    const parsed = parseStatusCallback(body, this.config.calls.timeLimitSeconds);
    if (!parsed.ok) {
      throw new TelephonyException(TelephonyErrorCode.InvalidCallback, parsed.problems);
    }
    const { fingerprint, ...callback } = parsed.callback;
    await enqueueWithin(
      this.callEvents,
      this.config.redis.enqueueTimeoutMs,
      Jobs.callStatus,
      toCallStatusJob({ callLogId, occurredAt: new Date(), ...callback }),
      { ...DEFAULT_JOB_OPTIONS, jobId: jobId(callLogId, callback.status, fingerprint) },
    );
    return { received: true };
  }

  /**
   * An inbound call from Exotel's Passthru/Connect applet: finds the user (webhook token) and
   * the active number with its agent, and opens a call log and a session. The session id is
   * derived from the CallSid, so a repeated request returns the same session.
   */
  async acceptIncomingCall(
    webhookToken: string,
    params: Record<string, unknown>,
  ): Promise<IncomingCallResponse> {
    if (!WEBHOOK_TOKEN_PATTERN.test(webhookToken)) {
      throw new TelephonyException(TelephonyErrorCode.UnknownWebhook, 'Unknown webhook');
    }
    await this.throttleInbound(webhookToken, 'telephony:inbound');
    const user = await this.users.findActiveByWebhookToken(webhookToken);
    if (!user) {
      throw new TelephonyException(TelephonyErrorCode.UnknownWebhook, 'Unknown webhook');
    }
    const callSid = field(params, 'CallSid');
    const callFrom = field(params, 'CallFrom') ?? field(params, 'From');
    const callTo = field(params, 'CallTo') ?? field(params, 'To');
    const missing = [!callSid && 'CallSid', !callFrom && 'CallFrom', !callTo && 'CallTo'].filter(
      Boolean,
    );
    if (!callSid || !callFrom || !callTo) {
      throw new TelephonyException(
        TelephonyErrorCode.InvalidCallback,
        `${missing.join(', ')} required`,
      );
    }
    const userId = user._id.toString();
    const number = normaliseExotelNumber(callTo);
    const phone = number ? await this.phonesRepository.findOwnedByNumber(userId, number) : null;
    if (phone?.status !== 'active') {
      throw new TelephonyException(
        TelephonyErrorCode.NumberNotFound,
        `No active number ${callTo} on this account`,
      );
    }
    const { agent, config } = await this.phones.withAgent(userId, phone).catch((error: unknown) => {
      throw error instanceof PhonesException
        ? new TelephonyException(TelephonyErrorCode.NoAgent, error.message)
        : error;
    });
    if (!agent.isActive) {
      throw new TelephonyException(
        TelephonyErrorCode.NoAgent,
        `The agent of ${phone.number} is inactive`,
      );
    }

    const sessionId = inboundSessionId(userId, callSid);
    // A repeat of a call already opened is answered as before, never refused by the limits.
    const isRepeat = (await this.callLogs.findBySessionId(sessionId)) !== null;
    if (!isRepeat) {
      await this.admitNewCall(user.credits, userId, sessionId);
    }
    const caller = normaliseExotelNumber(callFrom) ?? callFrom;
    const now = new Date();
    const webhookEvent = isRepeat
      ? undefined
      : await this.webhookEvents.status({ userId, agentId: agent._id }, 'in-progress', now);
    let opened: Awaited<ReturnType<CallLogsRepository['createOrFind']>>;
    try {
      opened = await this.callLogs.createOrFind({
        sessionId,
        userId: user._id,
        agentId: agent._id,
        fromPhone: caller,
        toPhone: phone.number,
        direction: 'inbound',
        status: 'in-progress',
        startedAt: now,
        exotelCallSid: callSid,
        webhookEvent,
      });
    } catch (error) {
      if (!isRepeat) {
        await this.slots.release(userId, sessionId);
      }
      throw error;
    }
    const { callLog, created } = opened;
    // Also on a repeat: a session a crash left missing is created now.
    await this.sessions.start({
      sessionId,
      userId: new Types.ObjectId(userId),
      agentId: callLog.agentId,
      callLogId: callLog._id,
      userPhone: caller,
      agentPhone: phone.number,
      // Inbound calls carry no variables: a placeholder is left out rather than spoken as braces.
      agentConfig: withVariables(config),
      exotelCallSid: callSid,
      startedAt: callLog.startedAt ?? now,
      lastActivityAt: now,
    });
    if (created && webhookEvent) {
      await this.webhookEvents.announce(callLog._id, webhookEvent);
    }
    return {
      sessionId,
      callLogId: callLog._id.toString(),
      agentId: callLog.agentId.toString(),
      created,
    };
  }

  /**
   * The Voicebot applet's dynamic URL: the signed media-stream URL of the call's live session.
   * An outbound call is found by the session id we gave Exotel as its CustomField, an inbound
   * one by the session the incoming endpoint derived from its CallSid; either way the session
   * must be the webhook owner's, live, and (once known) on this CallSid.
   */
  async voicebotStreamUrl(
    webhookToken: string,
    params: Record<string, unknown>,
  ): Promise<VoicebotUrlResponse> {
    if (!WEBHOOK_TOKEN_PATTERN.test(webhookToken)) {
      throw new TelephonyException(TelephonyErrorCode.UnknownWebhook, 'Unknown webhook');
    }
    await this.throttleInbound(webhookToken, 'telephony:voicebot');
    const user = await this.users.findActiveByWebhookToken(webhookToken);
    if (!user) {
      throw new TelephonyException(TelephonyErrorCode.UnknownWebhook, 'Unknown webhook');
    }
    const callSid = field(params, 'CallSid');
    if (!callSid) {
      throw new TelephonyException(TelephonyErrorCode.InvalidCallback, 'CallSid required');
    }
    const userId = user._id.toString();
    const customField = field(params, 'CustomField');
    const sessionId =
      customField !== undefined && SESSION_ID_PATTERN.test(customField)
        ? customField
        : inboundSessionId(userId, callSid);
    const session = await this.sessions.findLive(sessionId);
    const isTheCall =
      session !== null &&
      session.userId.toString() === userId &&
      (session.exotelCallSid === undefined || session.exotelCallSid === callSid);
    if (!isTheCall) {
      throw new TelephonyException(
        TelephonyErrorCode.CallNotFound,
        `No call of this account has CallSid ${callSid}`,
      );
    }
    if (session.status !== 'active') {
      throw new TelephonyException(TelephonyErrorCode.CallEnded, 'The call has ended');
    }
    return { url: this.streamUrls.urlFor(sessionId) };
  }

  /** A new inbound call needs credits and one of the user's concurrent-call slots. */
  private async admitNewCall(credits: number, userId: string, sessionId: string): Promise<void> {
    if (credits <= 0) {
      throw new TelephonyException(
        TelephonyErrorCode.NoCredits,
        'No credits left: the call is not answered by an agent',
      );
    }
    const slot = await this.slots.reserve(userId, sessionId);
    if (!slot.taken) {
      throw new TelephonyException(
        TelephonyErrorCode.TooManyActiveCalls,
        `At most ${this.config.calls.maxConcurrent} calls may be active at once`,
      );
    }
  }

  /** Whoever holds a webhook token may not open calls without bound (the key never holds the token). */
  private async throttleInbound(
    webhookToken: string,
    endpoint: 'telephony:inbound' | 'telephony:voicebot',
  ): Promise<void> {
    const tokenId = createHash('sha256').update(webhookToken).digest('hex').slice(0, 32);
    const hit = await this.rateLimiter.hit(
      RedisKeys.rateLimit(endpoint, tokenId),
      this.config.calls.inboundPerMinute,
      60_000,
    );
    if (hit.blocked) {
      throw new TelephonyException(
        TelephonyErrorCode.RateLimited,
        `At most ${this.config.calls.inboundPerMinute} inbound calls per minute`,
      );
    }
  }

  private verifyStatusSignature(
    callLogId: string,
    expiry: string | undefined,
    signature: string | undefined,
  ): void {
    // A repeated query parameter arrives as an array: never a valid expiry or signature.
    const isValid =
      typeof expiry === 'string' &&
      typeof signature === 'string' &&
      EXPIRY_PATTERN.test(expiry) &&
      this.secretBox.verify(`call-status:${callLogId}:${expiry}`, signature);
    if (!isValid) {
      throw new TelephonyException(TelephonyErrorCode.BadSignature, 'Missing or invalid signature');
    }
    if (Number(expiry) * 1000 <= Date.now()) {
      throw new TelephonyException(TelephonyErrorCode.BadSignature, 'Expired signature');
    }
  }

  private signatureOf(callLogId: string, expiry: string): string {
    return this.secretBox.sign(`call-status:${callLogId}:${expiry}`);
  }
}

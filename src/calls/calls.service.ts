import { randomBytes } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Queue } from 'bullmq';
import { Types } from 'mongoose';
import { type Page, toPage } from '../common/pagination/pagination.js';
import { RateLimiterService } from '../common/throttling/rate-limiter.service.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { enqueueWithin } from '../infra/queue/enqueue-within.js';
import { Jobs, Queues } from '../infra/queue/queues.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';
import { toE164 } from '../phones/phone-number.js';
import { PhonesService } from '../phones/phones.service.js';
import type { NewSession } from '../sessions/sessions.repository.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { UsersRepository } from '../users/users.repository.js';
import { CallWebhookEvents } from '../webhooks/call-webhook-events.js';
import { ActiveCallSlots } from './active-call-slots.js';
import { CALL_CONTROL, type CallControl } from './call-control.port.js';
import { CallLifecycleService } from './call-lifecycle.service.js';
import { toCallLogResponse } from './call-log.response.js';
import { CallLogsRepository } from './call-logs.repository.js';
import { isTerminal } from './call-status.js';
import { type CallVariables, missingVariables, withVariables } from './call-variables.js';
import { placementJobOptions } from './placement-job.js';
import { CallsErrorCode, CallsException } from './calls.exception.js';
import type { CallLogResponse, CreateCallDto, ListCallsQueryDto } from './dto/call.dto.js';
import type { CallLogDocument } from './schemas/call-log.schema.js';

export interface PlaceCallJob {
  callLogId: string;
}

/** A call the campaign dispatcher starts for one attempt of one contact. */
export interface CampaignCall {
  /** The attempt's own session id: the same on every try of that attempt. */
  sessionId: string;
  phoneId: string;
  agentId: string;
  to: string;
  variables?: CallVariables;
  metadata?: Record<string, unknown>;
  campaignId: Types.ObjectId;
  contactId: Types.ObjectId;
}

interface CheckedCall {
  agentId: Types.ObjectId;
  phone: { number: string };
  to: string;
  config: NewSession['agentConfig'];
}

export function newSessionId(): string {
  return `sess_${randomBytes(12).toString('hex')}`;
}

@Injectable()
export class CallsService {
  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly phones: PhonesService,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsService,
    private readonly lifecycle: CallLifecycleService,
    private readonly rateLimiter: RateLimiterService,
    private readonly slots: ActiveCallSlots,
    private readonly webhookEvents: CallWebhookEvents,
    @InjectQueue(Queues.callPlacement) private readonly placementQueue: Queue<PlaceCallJob>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** Checks everything a call needs, records it (call log, session) and queues its placement. */
  async placeOutbound(userId: string, dto: CreateCallDto): Promise<CallLogResponse> {
    const to = dto.to.startsWith('+') ? toE164(dto.to) : undefined;
    const checked = await this.check(userId, { ...dto, to });
    const sessionId = newSessionId();
    await this.checkLimits(userId, sessionId);
    try {
      const { callLog } = await this.record(userId, sessionId, {
        ...checked,
        to: checked.to,
        metadata: dto.metadata,
      });
      return toCallLogResponse(callLog);
    } catch (error) {
      // Nothing was recorded or queued for certain: the slot goes back.
      await this.slots.release(userId, sessionId);
      throw error;
    }
  }

  /**
   * A campaign's call to one contact: the checks of POST /calls, a concurrent-call slot of the
   * user (not the API's outbound allowance: the dispatcher paces campaigns itself), then the
   * call recorded under the attempt's own session id, so a repeat of the same attempt finds
   * the call made the first time instead of making another.
   */
  async placeCampaignCall(userId: string, call: CampaignCall): Promise<CallLogDocument> {
    const checked = await this.check(userId, call);
    const slot = await this.slots.reserve(userId, call.sessionId);
    if (!slot.taken) {
      throw new CallsException(
        CallsErrorCode.TooManyActiveCalls,
        `At most ${this.config.calls.maxConcurrent} calls may be active at once (now ${slot.active})`,
      );
    }
    try {
      const { callLog } = await this.record(userId, call.sessionId, {
        ...checked,
        metadata: call.metadata,
        campaignId: call.campaignId,
        contactId: call.contactId,
      });
      return callLog;
    } catch (error) {
      await this.slots.release(userId, call.sessionId);
      throw error;
    }
  }

  /** What a call needs, checked in order: the phone, the agent, the number, Exotel, credits. */
  private async check(
    userId: string,
    call: { phoneId: string; agentId?: string; to: string | undefined; variables?: CallVariables },
  ): Promise<CheckedCall> {
    const phone = await this.phones.owned(userId, call.phoneId);
    if (phone.status !== 'active') {
      throw new CallsException(CallsErrorCode.PhoneInactive, `Phone ${phone.number} is inactive`);
    }
    const { agent, config } = await this.phones.withAgent(userId, phone, call.agentId);
    if (!agent.isActive) {
      throw new CallsException(CallsErrorCode.AgentInactive, `Agent "${agent.name}" is inactive`);
    }
    if (!call.to) {
      throw new CallsException(
        CallsErrorCode.InvalidDestination,
        'to must be a valid phone number in E.164 format (+<country><number>)',
      );
    }
    const missing = missingVariables(config, call.variables);
    if (missing.length > 0) {
      throw new CallsException(
        CallsErrorCode.VariablesMissing,
        `The agent's prompt or first message uses ${missing.map((name) => `{{${name}}}`).join(', ')} without a value: give them in variables`,
        { missing },
      );
    }
    if (!phone.exotelData?.appId) {
      throw new CallsException(
        CallsErrorCode.PhoneNotConfigured,
        `Phone ${phone.number} has no exotelData.appId (the Exotel flow to run)`,
      );
    }
    const user = await this.users.findById(userId);
    if (!user?.exotelConfig) {
      throw new CallsException(
        CallsErrorCode.ExotelNotConfigured,
        'Set your Exotel credentials first (PUT /users/me/exotel-config)',
      );
    }
    if (user.credits <= 0) {
      throw new CallsException(CallsErrorCode.NoCredits, 'No credits left: top up to place calls', {
        credits: user.credits,
      });
    }
    return {
      agentId: agent._id,
      phone,
      to: call.to,
      config: withVariables(config, call.variables),
    };
  }

  /** The call log, its session and its placement job. */
  private async record(
    userId: string,
    sessionId: string,
    call: CheckedCall & {
      metadata?: Record<string, unknown>;
      campaignId?: Types.ObjectId;
      contactId?: Types.ObjectId;
    },
  ): Promise<{ callLog: CallLogDocument; created: boolean }> {
    const now = new Date();
    const webhookEvent = await this.webhookEvents.status(
      { userId, agentId: call.agentId },
      'initiated',
      now,
    );
    const { callLog, created } = await this.callLogs.createOrFind({
      sessionId,
      userId: new Types.ObjectId(userId),
      agentId: call.agentId,
      fromPhone: call.phone.number,
      toPhone: call.to,
      direction: 'outbound',
      status: 'initiated',
      metadata: call.metadata,
      campaignId: call.campaignId,
      contactId: call.contactId,
      webhookEvent,
    });
    await this.sessions.start({
      sessionId,
      userId: new Types.ObjectId(userId),
      agentId: call.agentId,
      callLogId: callLog._id,
      userPhone: call.to,
      agentPhone: call.phone.number,
      agentConfig: call.config,
      metadata: call.metadata,
      startedAt: now,
      lastActivityAt: now,
    });
    const callLogId = callLog._id.toString();
    await enqueueWithin(
      this.placementQueue,
      this.config.redis.enqueueTimeoutMs,
      Jobs.placeCall,
      { callLogId },
      placementJobOptions(callLogId, this.config.calls.placementRetryDelayMs),
    );
    if (webhookEvent && created) {
      await this.webhookEvents.announce(callLogId, webhookEvent);
    }
    return { callLog, created };
  }

  async list(userId: string, query: ListCallsQueryDto): Promise<Page<CallLogResponse>> {
    const phone = query.phone === undefined ? undefined : (toE164(query.phone) ?? query.phone);
    const { calls, total } = await this.callLogs.list(
      userId,
      {
        status: query.status,
        direction: query.direction,
        agentId: query.agentId,
        phone,
        from: query.from,
        to: query.to,
      },
      query,
    );
    return toPage(
      calls.map((call) => {
        const response = toCallLogResponse(call);
        delete response.transcript;
        return response;
      }),
      total,
      query,
    );
  }

  async get(userId: string, callLogId: string): Promise<CallLogResponse> {
    const call = await this.callLogs.findOwned(userId, callLogId);
    if (!call) {
      throw new CallsException(CallsErrorCode.NotFound, 'Call not found');
    }
    return toCallLogResponse(call);
  }

  /**
   * Ends a call from our side. A call not yet sent to Exotel is withdrawn (atomic, so the
   * placement job can never ring it) and canceled; one whose connect request is in flight
   * cannot be withdrawn (409). A call the carrier has is ended through the carrier
   * (CallControl): its status then waits for the carrier's final callback, whose duration is
   * billed; when the carrier offers no way to end it, the answer says so (409) and nothing
   * changes.
   */
  async hangup(userId: string, callLogId: string): Promise<CallLogResponse> {
    let call = await this.callLogs.findOwned(userId, callLogId);
    if (!call) {
      throw new CallsException(CallsErrorCode.NotFound, 'Call not found');
    }
    if (call.status === 'initiated' && (await this.callLogs.withdrawPlacement(call._id))) {
      await this.lifecycle.applyEvent({ callLogId, status: 'canceled', occurredAt: new Date() });
      return this.get(userId, callLogId);
    }
    call = (await this.callLogs.findOwned(userId, callLogId)) ?? call;
    if (isTerminal(call.status)) {
      throw new CallsException(CallsErrorCode.AlreadyEnded, `Call already ended (${call.status})`);
    }
    const placing = call.placement?.state;
    if (call.status === 'initiated' && (placing === 'sending' || placing === 'unknown')) {
      throw new CallsException(
        CallsErrorCode.PlacementInProgress,
        'The call is being placed with Exotel right now and cannot be withdrawn; hang up again once it rings',
      );
    }
    const outcome = await this.callControl().endCall(call, 'hangup requested through the API');
    if (!outcome.ended) {
      throw new CallsException(CallsErrorCode.HangupUnsupported, outcome.reason);
    }
    await this.callLogs.markHangupRequested(call._id, new Date());
    return this.get(userId, callLogId);
  }

  // Telephony implements the port and depends on this module, so it is looked up at run time.
  private callControl(): CallControl {
    return this.moduleRef.get<CallControl>(CALL_CONTROL, { strict: false });
  }

  /** The outbound allowance (per 900 s), then a concurrent-call slot, both taken atomically. */
  private async checkLimits(userId: string, sessionId: string): Promise<void> {
    const { outboundLimit, outboundWindowSeconds, maxConcurrent } = this.config.calls;
    const key = RedisKeys.rateLimit('calls:outbound', userId);
    const hit = await this.rateLimiter.hit(key, outboundLimit, outboundWindowSeconds * 1000);
    if (hit.blocked) {
      throw new CallsException(
        CallsErrorCode.RateLimited,
        `At most ${outboundLimit} outbound calls per ${outboundWindowSeconds / 60} minutes`,
        {
          retryAfterSeconds: Math.max(1, Math.ceil(hit.retryAfterMs / 1000)),
        },
      );
    }
    const slot = await this.slots.reserve(userId, sessionId);
    if (!slot.taken) {
      // This attempt places no call: it must not use up the caller's outbound allowance.
      await this.rateLimiter.refund(key);
      throw new CallsException(
        CallsErrorCode.TooManyActiveCalls,
        `At most ${maxConcurrent} calls may be active at once (now ${slot.active})`,
      );
    }
  }
}

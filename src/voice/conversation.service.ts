import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Types } from 'mongoose';
import { type CallStatusJob, toCallStatusJob } from '../calls/call-events.processor.js';
import type { CallStatusEvent } from '../calls/call-lifecycle.service.js';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { enqueueWithin } from '../infra/queue/enqueue-within.js';
import { DEFAULT_JOB_OPTIONS, Jobs, Queues, jobId } from '../infra/queue/queues.js';
import type { SessionDocument } from '../sessions/schemas/session.schema.js';
import { HISTORY_WINDOW, SessionsService } from '../sessions/sessions.service.js';
import { CallWebhookEvents } from '../webhooks/call-webhook-events.js';
import type {
  ConversationEnding,
  ConversationRecorder,
  TurnLatency,
} from './conversation/conversation-ports.js';
import { VoiceConversation } from './conversation/voice-conversation.js';
import type {
  CallAudioListener,
  CallAudioTransport,
  CallStreamIdentity,
  ConversationStarter,
} from './ports/call-audio.port.js';
import type { ChatMessage } from './ports/language-model.port.js';
import { VoiceMetrics } from './voice-metrics.js';
import { VoiceProviders } from './voice-providers.js';

/**
 * Starts a conversation for each authenticated media stream, with the session's agent config
 * snapshot, and connects it to the call: the stream's start moves the call in progress, its
 * end is the call's end (both through the call-events queue, idempotent with Exotel's own
 * status callbacks), and every message and usage count lands on the session.
 */
@Injectable()
export class ConversationService implements ConversationStarter {
  private readonly logger = new Logger('Conversation');

  constructor(
    private readonly sessions: SessionsService,
    private readonly providers: VoiceProviders,
    private readonly metrics: VoiceMetrics,
    private readonly callLogs: CallLogsRepository,
    private readonly webhookEvents: CallWebhookEvents,
    @InjectQueue(Queues.callEvents) private readonly callEvents: Queue<CallStatusJob>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async start(
    identity: CallStreamIdentity,
    transport: CallAudioTransport,
  ): Promise<CallAudioListener> {
    const session = await this.sessions.findLive(identity.sessionId);
    if (session?.status !== 'active') {
      throw new Error(`session ${identity.sessionId} is not live`);
    }
    const callLogId = session.callLogId.toString();
    await this.report(callLogId, 'stream', {
      status: 'in-progress',
      occurredAt: new Date(),
      exotelCallSid: identity.callSid,
    });
    const logger = new Logger(`Conversation ${identity.sessionId}`);
    const conversation = new VoiceConversation(
      {
        sessionId: identity.sessionId,
        agent: session.agentConfig,
        history: earlierMessages(session),
        defaultSessionTimeoutSeconds: this.config.maintenance.defaultSessionTimeoutSeconds,
        timeLeftMs:
          session.startedAt.getTime() + this.config.calls.timeLimitSeconds * 1000 - Date.now(),
        endpointingMs: this.config.voice.endpointingMs,
        utteranceEndMs: this.config.voice.utteranceEndMs,
      },
      this.providers.forAgent(session.agentConfig),
      transport,
      this.recorderFor(session, callLogId),
      logger,
    );
    this.metrics.active.inc();
    // Not awaited: a greeting or a fallback line plays while the transport already listens.
    conversation.start().catch((error: unknown) => {
      logger.error(`conversation failed to start: ${String(error)}`);
      conversation.onClosed('the conversation failed to start');
    });
    return conversation;
  }

  private recorderFor(session: SessionDocument, callLogId: string): ConversationRecorder {
    const { sessionId } = session;
    return {
      appendMessage: async (role, content, usage) => {
        const turnId = new Types.ObjectId();
        await this.sessions.appendMessage(sessionId, role, content, usage, turnId);
        await this.raiseTranscriptMessage(session, callLogId, turnId);
      },
      recordUsage: async (usage) => {
        await this.sessions.recordUsage(sessionId, usage);
      },
      recordTurn: (latency) => {
        this.metrics.observeTurn(latency);
      },
      ended: async (ending: ConversationEnding, latencies: TurnLatency[]) => {
        this.metrics.active.dec();
        this.metrics.observeEnd(ending);
        if (latencies.length > 0) {
          await this.sessions.recordTurnLatencies(sessionId, latencies);
        }
        const now = new Date();
        await this.report(callLogId, 'conversation', {
          status: ending.status,
          occurredAt: now,
          endedAt: now,
          error: ending.error,
        });
      },
    };
  }

  /** `transcript.message` for a turn just stored, when an endpoint of the user takes it. */
  private async raiseTranscriptMessage(
    session: SessionDocument,
    callLogId: string,
    turnId: Types.ObjectId,
  ): Promise<void> {
    const event = await this.webhookEvents.prepare(session, 'transcript.message', new Date(), {
      turnId,
    });
    if (
      event &&
      (await this.callLogs.recordWebhookEvent(
        callLogId,
        event,
        this.config.webhooks.maxEventsPerCall,
      ))
    ) {
      await this.webhookEvents.announce(callLogId, event);
    }
  }

  private async report(
    callLogId: string,
    source: string,
    event: Omit<CallStatusEvent, 'callLogId'>,
  ): Promise<void> {
    // Bounded: the queue connection waits out Redis outages. A lost end report is repaired by
    // Exotel's own status callback or the reconciliation sweep.
    await enqueueWithin(
      this.callEvents,
      this.config.redis.enqueueTimeoutMs,
      Jobs.callStatus,
      toCallStatusJob({ callLogId, ...event }),
      { ...DEFAULT_JOB_OPTIONS, jobId: jobId(callLogId, event.status, source) },
    );
  }
}

/** The session's messages so far (a stream that reconnects carries on the conversation). */
function earlierMessages(session: SessionDocument): ChatMessage[] {
  return session.conversationHistory
    .slice(-HISTORY_WINDOW)
    .filter((message) => message.role !== 'system')
    .map((message) => ({ role: message.role as 'user' | 'assistant', content: message.content }));
}

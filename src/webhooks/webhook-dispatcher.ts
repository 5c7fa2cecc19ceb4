import { Inject, Injectable } from '@nestjs/common';
import type { Types } from 'mongoose';
import { CallLogsRepository } from '../calls/call-logs.repository.js';
import type { CallLogDocument, CallWebhookEvent } from '../calls/schemas/call-log.schema.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisLockService } from '../infra/lock/redis-lock.service.js';
import { ConversationTurnsRepository } from '../sessions/conversation-turns.repository.js';
import type { ConversationTurnDocument } from '../sessions/schemas/conversation-turn.schema.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';
import type { WebhookEndpointDocument } from './schemas/webhook-endpoint.schema.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';
import { publicEventId } from './webhook-event-types.js';
import { callEventData, envelope, type EventSources } from './webhook-payloads.js';

/** A dispatch holds its call this long at most (it renders and records a few events). */
const DISPATCH_LOCK_MS = 60_000;
/** Rounds of one dispatch while more events keep arriving (the rest go to their own jobs). */
const MAX_ROUNDS = 4;
/** Messages an end-of-call report carries at most (the transcript has the whole call). */
const MAX_REPORT_MESSAGES = 1000;

/** Thrown when another worker is dispatching the call: the job is retried after it. */
export class DispatchBusyError extends Error {
  constructor(callLogId: string) {
    super(`call ${callLogId} is being dispatched elsewhere`);
  }
}

/**
 * Turns a call's recorded events into deliveries: for each event past `webhookDispatched`, in
 * order, one delivery per enabled endpoint that takes it (created once: the pair is unique),
 * whose first attempt is queued; then moves `webhookDispatched` past them. One dispatch per call
 * at a time (cluster lock), so sequence numbers and deliveries come out in order; running it
 * again after a crash creates nothing twice.
 */
@Injectable()
export class WebhookDispatcher {
  constructor(
    private readonly callLogs: CallLogsRepository,
    private readonly sessions: SessionsRepository,
    private readonly turns: ConversationTurnsRepository,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly delivery: WebhookDeliveryService,
    private readonly locks: RedisLockService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async dispatch(callLogId: string): Promise<number> {
    const outcome = await this.locks.runExclusive(
      `webhook-dispatch:${callLogId}`,
      DISPATCH_LOCK_MS,
      () => this.dispatchUnlocked(callLogId),
    );
    if (!outcome.ran) {
      throw new DispatchBusyError(callLogId);
    }
    return outcome.result;
  }

  /**
   * Returns how many deliveries it created. Events recorded while it ran are dispatched in the
   * same hold of the lock (a few rounds at most): their own jobs then find nothing left.
   */
  private async dispatchUnlocked(callLogId: string): Promise<number> {
    let created = 0;
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const outcome = await this.dispatchRound(callLogId);
      created += outcome.created;
      if (outcome.settled) {
        break;
      }
    }
    return created;
  }

  private async dispatchRound(callLogId: string): Promise<{ created: number; settled: boolean }> {
    const call = await this.callLogs.findById(callLogId);
    if (!call) {
      return { created: 0, settled: true };
    }
    const recorded = call.webhookEvents ?? [];
    const from = call.webhookDispatched ?? 0;
    const events = recorded.slice(from);
    if (events.length === 0) {
      return {
        created: 0,
        settled:
          !call.webhookPending ||
          (await this.callLogs.markWebhooksDispatched(call._id, recorded.length)),
      };
    }
    const endpoints = await this.endpoints.enabledForUser(call.userId);
    const wanted = events.map((event) => targetsOf(event, call, endpoints));
    const sources = await this.sourcesFor(
      call,
      events.filter((_event, index) => (wanted[index] ?? []).length > 0),
    );
    let created = 0;
    const now = new Date();
    for (const [offset, event] of events.entries()) {
      const targets = wanted[offset] ?? [];
      const data = targets.length > 0 ? callEventData(event, call, sources) : undefined;
      if (!data) {
        continue;
      }
      const sequence = from + offset + 1;
      const id = publicEventId(event.eventId);
      const body = JSON.stringify(envelope(id, event.type, event.occurredAt, data, sequence));
      // One event's deliveries are independent of each other: made side by side.
      const made = await Promise.all(
        targets.map(async (endpoint) => {
          const delivery = await this.deliveries.createOnce(
            {
              userId: call.userId,
              endpointId: endpoint._id,
              eventId: id,
              eventType: event.type,
              callLogId: call._id,
              sequence,
              body,
              maxAttempts: this.config.webhooks.maxAttempts,
            },
            now,
          );
          if (delivery) {
            await this.delivery.schedule(delivery._id, 1, 0);
          }
          return delivery ? 1 : 0;
        }),
      );
      created += made.reduce<number>((sum, count) => sum + count, 0);
    }
    const settled = await this.callLogs.markWebhooksDispatched(call._id, from + events.length);
    return { created, settled };
  }

  /** Reads what the events' bodies draw on: the session and turns, only when needed. */
  private async sourcesFor(
    call: CallLogDocument,
    events: CallWebhookEvent[],
  ): Promise<EventSources> {
    const sources: EventSources = { turns: new Map() };
    const turnIds = events
      .map((event) => event.turnId)
      .filter((id): id is Types.ObjectId => id !== undefined);
    if (turnIds.length > 0) {
      for (const turn of await this.turns.findByIds(turnIds)) {
        sources.turns.set(turn._id.toString(), turn);
      }
    }
    if (events.some((event) => event.type === 'call.ended')) {
      sources.session = await this.sessions.findBySessionId(call.sessionId);
      const all: ConversationTurnDocument[] = [];
      for await (const turn of this.turns.streamForSession(call.sessionId)) {
        if (all.length >= MAX_REPORT_MESSAGES) {
          break;
        }
        all.push(turn);
      }
      sources.allTurns = all;
    }
    return sources;
  }
}

/** The enabled endpoints that take this event: its type, and the call's agent when they filter. */
function targetsOf(
  event: CallWebhookEvent,
  call: CallLogDocument,
  endpoints: WebhookEndpointDocument[],
): WebhookEndpointDocument[] {
  return endpoints.filter(
    (endpoint) =>
      endpoint.events.includes(event.type) &&
      (!endpoint.agentIds || endpoint.agentIds.some((agentId) => agentId.equals(call.agentId))),
  );
}

import { toCallLogResponse } from '../calls/call-log.response.js';
import type { CallLogDocument, CallWebhookEvent } from '../calls/schemas/call-log.schema.js';
import type { ConversationTurnDocument } from '../sessions/schemas/conversation-turn.schema.js';
import type { SessionDocument } from '../sessions/schemas/session.schema.js';
import type { DeliveredEventType } from './webhook-event-types.js';

/**
 * The body of every delivery: `id` (also the `webhook-id` header) and `sequence` (per call,
 * from 1) let receivers drop repeats and put events in order; `timestamp` is when it happened.
 */
export interface WebhookEnvelope {
  id: string;
  type: DeliveredEventType;
  timestamp: string;
  sequence?: number;
  data: Record<string, unknown>;
}

/** What a call event's body may draw on besides the call log. */
export interface EventSources {
  session?: SessionDocument | null;
  /** `call.ended`: every message of the call; `transcript.message`: the event's turn. */
  turns: Map<string, ConversationTurnDocument>;
  allTurns?: ConversationTurnDocument[];
}

/** The call as every call event shows it (the end-of-call report shows the whole log). */
function callSummary(call: CallLogDocument): Record<string, unknown> {
  return {
    id: call._id.toString(),
    sessionId: call.sessionId,
    agentId: call.agentId.toString(),
    direction: call.direction,
    from: call.fromPhone,
    to: call.toPhone,
    status: call.status,
    metadata: publicMetadata(call),
    campaignId: call.campaignId?.toString() ?? null,
    contactId: call.contactId?.toString() ?? null,
  };
}

/** The caller's metadata (from POST /calls); the analysis travels in its own event. */
function publicMetadata(call: CallLogDocument): Record<string, unknown> | null {
  if (!call.metadata) {
    return null;
  }
  const { analysis: _analysis, ...rest } = call.metadata;
  return Object.keys(rest).length > 0 ? rest : null;
}

function percentile(sorted: number[], share: number): number | null {
  if (sorted.length === 0) {
    return null;
  }
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? null;
}

/** Per-stage latency of the agent's turns: count, p50, p90 and max (ms). */
function latencySummary(session: SessionDocument | null | undefined): Record<string, unknown> {
  const turns = session?.turnLatencies ?? [];
  const summary: Record<string, unknown> = { turns: turns.length };
  for (const stage of [
    'firstAudioSentMs',
    'sttFinalMs',
    'llmFirstTokenMs',
    'ttsFirstAudioMs',
  ] as const) {
    const values = turns
      .map((turn) => turn[stage])
      .filter((value): value is number => typeof value === 'number')
      .sort((a, b) => a - b);
    summary[stage] = {
      p50: percentile(values, 0.5),
      p90: percentile(values, 0.9),
      max: values.at(-1) ?? null,
    };
  }
  return summary;
}

function message(turn: ConversationTurnDocument): Record<string, unknown> {
  return { role: turn.role, content: turn.content, timestamp: turn.timestamp.toISOString() };
}

/** The event's `data`, or undefined when its source is gone (its turn was purged). */
export function callEventData(
  event: CallWebhookEvent,
  call: CallLogDocument,
  sources: EventSources,
): Record<string, unknown> | undefined {
  switch (event.type) {
    case 'call.status':
      return { call: { ...callSummary(call), status: event.status ?? call.status } };
    case 'transcript.message': {
      const turn = event.turnId ? sources.turns.get(event.turnId.toString()) : undefined;
      return turn ? { call: callSummary(call), message: message(turn) } : undefined;
    }
    case 'call.ended': {
      const { transcript: _transcript, ...log } = toCallLogResponse(call);
      return {
        call: { ...log, metadata: publicMetadata(call) },
        endedReason: call.status,
        error: call.error ?? null,
        transcript: call.transcript ?? '',
        messages: (sources.allTurns ?? []).filter((turn) => turn.role !== 'system').map(message),
        latency: latencySummary(sources.session),
      };
    }
    case 'call.analyzed':
      return { call: callSummary(call), analysis: call.metadata?.analysis ?? null };
    case 'campaign.status':
    case 'campaign.completed':
      // Recorded on campaigns, never on calls (CampaignEvents).
      return undefined;
  }
}

export function envelope(
  id: string,
  type: DeliveredEventType,
  occurredAt: Date,
  data: Record<string, unknown>,
  sequence?: number,
): WebhookEnvelope {
  return {
    id,
    type,
    timestamp: occurredAt.toISOString(),
    ...(sequence === undefined ? {} : { sequence }),
    data,
  };
}

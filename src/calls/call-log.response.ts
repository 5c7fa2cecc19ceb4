import type { CallLogResponse } from './dto/call.dto.js';
import type { CallLogDocument } from './schemas/call-log.schema.js';

export function toCallLogResponse(call: CallLogDocument): CallLogResponse {
  return {
    id: call._id.toString(),
    sessionId: call.sessionId,
    agentId: call.agentId.toString(),
    fromPhone: call.fromPhone,
    toPhone: call.toPhone,
    direction: call.direction,
    status: call.status,
    startedAt: call.startedAt ?? null,
    endedAt: call.endedAt ?? null,
    durationSec: call.durationSec ?? null,
    transcript: call.transcript ?? null,
    recordingUrl: call.recordingUrl ?? null,
    recording: call.recording
      ? {
          state: call.recording.state,
          size: call.recording.size ?? null,
          contentType: call.recording.contentType ?? null,
          storedAt: call.recording.storedAt ?? null,
        }
      : null,
    exotelCallSid: call.exotelCallSid ?? null,
    costBreakdown: call.costBreakdown ?? null,
    billing: call.billing
      ? {
          amount: call.billing.amount,
          charged: call.billing.charged ?? null,
          shortfall: call.billing.shortfall ?? null,
        }
      : null,
    metadata: call.metadata ?? null,
    campaignId: call.campaignId?.toString() ?? null,
    contactId: call.contactId?.toString() ?? null,
    error: call.error ?? null,
    placement: call.placement?.state ?? null,
    hangupRequestedAt: call.hangupRequestedAt ?? null,
    createdAt: call.createdAt,
    updatedAt: call.updatedAt,
  };
}

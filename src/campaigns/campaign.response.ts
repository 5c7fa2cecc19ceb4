import type { CampaignResponse, ContactResponse } from './dto/campaign.dto.js';
import type { CampaignContactDocument } from './schemas/campaign-contact.schema.js';
import type { CampaignDocument } from './schemas/campaign.schema.js';

export function toCampaignResponse(campaign: CampaignDocument): CampaignResponse {
  return {
    id: campaign._id.toString(),
    name: campaign.name,
    agentId: campaign.agentId.toString(),
    phoneIds: campaign.phoneIds.map((id) => id.toString()),
    schedule: {
      startAt: campaign.schedule.startAt,
      endAt: campaign.schedule.endAt ?? null,
      timezone: campaign.schedule.timezone,
      windows: campaign.schedule.windows.map((window) => ({
        days: window.days,
        from: window.from,
        to: window.to,
      })),
    },
    maxConcurrentCalls: campaign.maxConcurrentCalls,
    retry: {
      attempts: campaign.retry.attempts,
      on: campaign.retry.on,
      spacingMinutes: campaign.retry.spacingMinutes,
    },
    status: campaign.status,
    statusReason: campaign.statusReason
      ? { code: campaign.statusReason.code, message: campaign.statusReason.message }
      : null,
    contactCount: campaign.contactCount,
    startedAt: campaign.startedAt ?? null,
    endedAt: campaign.endedAt ?? null,
    createdAt: campaign.createdAt,
    updatedAt: campaign.updatedAt,
  };
}

export function toContactResponse(contact: CampaignContactDocument): ContactResponse {
  return {
    id: contact._id.toString(),
    phone: contact.phone,
    variables: contact.variables ?? null,
    row: contact.row ?? null,
    state: contact.state,
    attempts: contact.attempts,
    nextAttemptAt: contact.state === 'pending' ? contact.nextAttemptAt : null,
    callId: contact.callLogId?.toString() ?? null,
    lastStatus: contact.lastStatus ?? null,
    lastError: contact.lastError ?? null,
    cost: Math.round(contact.cost * 10_000) / 10_000,
    finishedAt: contact.finishedAt ?? null,
  };
}

import { Injectable } from '@nestjs/common';
import { ActiveCallSlots } from '../calls/active-call-slots.js';
import type { CallOutcomeListener } from '../calls/call-outcome.port.js';
import { isTerminal } from '../calls/call-status.js';
import type { CallLogDocument, CallStatus } from '../calls/schemas/call-log.schema.js';
import { CampaignClock } from './campaign-clock.js';
import { CampaignContactsRepository, type AttemptOutcome } from './campaign-contacts.repository.js';
import { nextOpening } from './campaign-schedule.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsService } from './campaigns.service.js';
import type { CampaignContactDocument } from './schemas/campaign-contact.schema.js';
import type { CampaignDocument, RetryableOutcome } from './schemas/campaign.schema.js';

/** A call that reached the person: the contact is done. */
const ANSWERED: readonly CallStatus[] = ['completed', 'user-ended', 'agent-ended'];

/**
 * Follows each campaign call to its end: the contact's result is the call's final status; an
 * unanswered one is tried again per the campaign's retry policy (at the next moment a window
 * is open after the spacing), else it ends as failed. Applied once per attempt (the contact
 * must still be calling with this very call), and it frees the call's campaign slot. When the
 * last open contact ends, the campaign completes.
 */
@Injectable()
export class CampaignCallOutcomes implements CallOutcomeListener {
  constructor(
    private readonly campaigns: CampaignsRepository,
    private readonly contacts: CampaignContactsRepository,
    private readonly campaignsService: CampaignsService,
    private readonly slots: ActiveCallSlots,
    private readonly clock: CampaignClock,
  ) {}

  async callFinished(call: CallLogDocument): Promise<void> {
    if (!call.campaignId || !call.contactId || !isTerminal(call.status)) {
      return;
    }
    const [campaign, contact] = await Promise.all([
      this.campaigns.findById(call.campaignId),
      this.contacts.findById(call.contactId),
    ]);
    if (campaign && contact?.state === 'calling' && contact.callLogId?.equals(call._id)) {
      const settled = await this.contacts.settle(
        contact._id,
        call._id,
        this.outcomeOf(campaign, contact, call),
      );
      if (settled && settled.state !== 'pending') {
        await this.completeIfDone(campaign);
      }
    }
    await this.slots.releaseForCampaign(call.campaignId.toString(), call.sessionId);
  }

  /** Completes a running campaign that has no contact left to call or waiting for a call. */
  async completeIfDone(campaign: CampaignDocument): Promise<void> {
    if (campaign.status === 'running' && !(await this.contacts.hasOpen(campaign._id))) {
      await this.campaignsService.transition(campaign, ['running'], 'completed');
    }
  }

  private outcomeOf(
    campaign: CampaignDocument,
    contact: CampaignContactDocument,
    call: CallLogDocument,
  ): AttemptOutcome {
    const at = this.clock.now();
    const base = {
      lastStatus: call.status,
      cost: call.billing?.amount ?? call.costBreakdown?.total ?? 0,
      durationSec: call.durationSec ?? 0,
      at,
    };
    if (ANSWERED.includes(call.status)) {
      return { ...base, state: 'completed' };
    }
    const retryable =
      campaign.retry.on.includes(call.status as RetryableOutcome) &&
      contact.attempts < 1 + campaign.retry.attempts;
    if (!retryable) {
      return { ...base, state: 'failed' };
    }
    if (campaign.status === 'canceled' || campaign.status === 'completed') {
      return { ...base, state: 'canceled' };
    }
    const earliest = new Date(at.getTime() + campaign.retry.spacingMinutes * 60_000);
    const next = nextOpening(campaign.schedule, earliest);
    if (!next) {
      // No window opens again before the campaign's end.
      return { ...base, state: 'expired' };
    }
    return { ...base, state: 'pending', nextAttemptAt: next };
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import { Types } from 'mongoose';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisLockService } from '../infra/lock/redis-lock.service.js';
import { WebhookDeliveriesRepository } from '../webhooks/webhook-deliveries.repository.js';
import { WebhookDeliveryService } from '../webhooks/webhook-delivery.service.js';
import { WebhookEndpointsRepository } from '../webhooks/webhook-endpoints.repository.js';
import { publicEventId } from '../webhooks/webhook-event-types.js';
import { envelope } from '../webhooks/webhook-payloads.js';
import { WebhookRoutes } from '../webhooks/webhook-routes.js';
import { CampaignContactsRepository } from './campaign-contacts.repository.js';
import { CampaignsRepository } from './campaigns.repository.js';
import type {
  CampaignDocument,
  CampaignEventType,
  CampaignStatus,
  CampaignStatusReason,
  CampaignWebhookEvent,
} from './schemas/campaign.schema.js';

const DELIVER_LOCK_MS = 60_000;

/**
 * A campaign's webhook events (`campaign.status` on every move, `campaign.completed` when it
 * completes), kept like a call's: recorded on the campaign in the write that moves it (its
 * outbox), then turned into one delivery per endpoint that takes them. A crash between the two
 * loses nothing: the dispatcher's run delivers what a campaign still has pending.
 */
@Injectable()
export class CampaignEvents {
  private readonly logger = new Logger(CampaignEvents.name);

  constructor(
    private readonly routes: WebhookRoutes,
    private readonly campaigns: CampaignsRepository,
    private readonly contacts: CampaignContactsRepository,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly delivery: WebhookDeliveryService,
    private readonly locks: RedisLockService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The events of a move to `status` that the user's endpoints take. */
  async prepare(
    campaign: Pick<CampaignDocument, 'userId' | 'agentId'>,
    status: CampaignStatus,
    at: Date,
    reason?: CampaignStatusReason,
  ): Promise<CampaignWebhookEvent[]> {
    const types: CampaignEventType[] =
      status === 'completed' ? ['campaign.status', 'campaign.completed'] : ['campaign.status'];
    const events: CampaignWebhookEvent[] = [];
    for (const type of types) {
      let wanted = true;
      try {
        wanted = await this.routes.wants(campaign.userId, campaign.agentId, type);
      } catch (error) {
        this.logger.warn(`webhook routing unavailable (${String(error)}); recording ${type}`);
      }
      if (wanted) {
        events.push({ eventId: new Types.ObjectId(), type, occurredAt: at, status, reason });
      }
    }
    return events;
  }

  /** Turns the campaign's recorded events into deliveries; never throws (retried later). */
  async deliver(campaignId: Types.ObjectId): Promise<void> {
    try {
      await this.locks.runExclusive(
        `webhook-dispatch-campaign:${campaignId.toString()}`,
        DELIVER_LOCK_MS,
        () => this.deliverUnlocked(campaignId),
      );
    } catch (error) {
      this.logger.warn(
        `campaign ${campaignId.toString()} events left for the next run: ${String(error)}`,
      );
    }
  }

  private async deliverUnlocked(campaignId: Types.ObjectId): Promise<void> {
    const campaign = await this.campaigns.findById(campaignId);
    if (!campaign?.webhookPending) {
      return;
    }
    const recorded = campaign.webhookEvents ?? [];
    const from = campaign.webhookDispatched ?? 0;
    const events = recorded.slice(from);
    if (events.length > 0) {
      const endpoints = await this.endpoints.enabledForUser(campaign.userId);
      const counts = Object.fromEntries(
        (await this.contacts.progressOf(campaign._id)).counts.map((row) => [row.state, row.count]),
      );
      const now = new Date();
      for (const [offset, event] of events.entries()) {
        const targets = endpoints.filter(
          (endpoint) =>
            endpoint.events.includes(event.type) &&
            (!endpoint.agentIds || endpoint.agentIds.some((id) => id.equals(campaign.agentId))),
        );
        const sequence = from + offset + 1;
        const id = publicEventId(event.eventId);
        const body = JSON.stringify(
          envelope(id, event.type, event.occurredAt, eventData(campaign, event, counts), sequence),
        );
        for (const endpoint of targets) {
          const created = await this.deliveries.createOnce(
            {
              userId: campaign.userId,
              endpointId: endpoint._id,
              eventId: id,
              eventType: event.type,
              sequence,
              body,
              maxAttempts: this.config.webhooks.maxAttempts,
            },
            now,
          );
          if (created) {
            await this.delivery.schedule(created._id, 1, 0);
          }
        }
      }
    }
    await this.campaigns.markWebhooksDispatched(campaign._id, recorded.length);
  }
}

function eventData(
  campaign: CampaignDocument,
  event: CampaignWebhookEvent,
  counts: Record<string, number>,
): Record<string, unknown> {
  return {
    campaign: {
      id: campaign._id.toString(),
      name: campaign.name,
      agentId: campaign.agentId.toString(),
      status: event.status,
      reason: event.reason ? { code: event.reason.code, message: event.reason.message } : null,
    },
    counts,
  };
}

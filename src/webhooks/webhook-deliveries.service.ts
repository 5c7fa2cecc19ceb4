import { Injectable } from '@nestjs/common';
import { type Page, toPage } from '../common/pagination/pagination.js';
import type {
  ListDeliveriesQueryDto,
  WebhookDeliveryResponse,
  WebhookDeliveryWithBodyResponse,
} from './dto/webhook.dto.js';
import type { WebhookDeliveryDocument } from './schemas/webhook-delivery.schema.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';
import { WebhooksErrorCode, WebhooksException } from './webhooks.exception.js';

export function toDeliveryResponse(delivery: WebhookDeliveryDocument): WebhookDeliveryResponse {
  return {
    id: delivery._id.toString(),
    endpointId: delivery.endpointId.toString(),
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    callId: delivery.callLogId?.toString() ?? null,
    sequence: delivery.sequence ?? null,
    status: delivery.status,
    attempts: delivery.attempts,
    maxAttempts: delivery.maxAttempts,
    lastStatusCode: delivery.lastStatusCode ?? null,
    lastError: delivery.lastError ?? null,
    durationsMs: delivery.durationsMs,
    lastAttemptAt: delivery.lastAttemptAt ?? null,
    nextAttemptAt: delivery.nextAttemptAt ?? null,
    deliveredAt: delivery.deliveredAt ?? null,
    createdAt: delivery.createdAt,
    updatedAt: delivery.updatedAt,
  };
}

/** The delivery log as the customer sees it, and replays from it. */
@Injectable()
export class WebhookDeliveriesService {
  constructor(
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly delivery: WebhookDeliveryService,
  ) {}

  async list(
    userId: string,
    query: ListDeliveriesQueryDto,
  ): Promise<Page<WebhookDeliveryResponse>> {
    const { items, total } = await this.deliveries.list(
      userId,
      { endpointId: query.endpointId, eventType: query.event, status: query.status },
      query,
    );
    return toPage(items.map(toDeliveryResponse), total, query);
  }

  async get(userId: string, deliveryId: string): Promise<WebhookDeliveryWithBodyResponse> {
    const delivery = await this.owned(userId, deliveryId);
    return { ...toDeliveryResponse(delivery), body: delivery.body };
  }

  /**
   * Sends a delivered or failed delivery once more, now (same `webhook-id` and body, fresh
   * timestamp and signature), through the queue; answers with it pending.
   */
  async redeliver(userId: string, deliveryId: string): Promise<WebhookDeliveryResponse> {
    const delivery = await this.owned(userId, deliveryId);
    if (delivery.status === 'pending') {
      throw new WebhooksException(
        WebhooksErrorCode.DeliveryInProgress,
        'This delivery is still pending: its next attempt is scheduled',
      );
    }
    const endpoint = await this.endpoints.findOwned(userId, delivery.endpointId.toString());
    if (!endpoint) {
      throw new WebhooksException(
        WebhooksErrorCode.EndpointNotFound,
        'The endpoint of this delivery was deleted',
      );
    }
    if (!endpoint.enabled) {
      throw new WebhooksException(
        WebhooksErrorCode.EndpointDisabled,
        'The endpoint is disabled: enable it first (PATCH enabled: true)',
      );
    }
    const reopened = await this.deliveries.reopen(delivery, new Date());
    if (!reopened) {
      throw new WebhooksException(
        WebhooksErrorCode.DeliveryInProgress,
        'This delivery changed meanwhile: read it again',
      );
    }
    await this.delivery.schedule(reopened._id, reopened.attempts + 1, 0);
    return toDeliveryResponse(reopened);
  }

  private async owned(userId: string, deliveryId: string): Promise<WebhookDeliveryDocument> {
    const delivery = await this.deliveries.findOwned(userId, deliveryId);
    if (!delivery) {
      throw new WebhooksException(WebhooksErrorCode.DeliveryNotFound, 'Webhook delivery not found');
    }
    return delivery;
  }
}

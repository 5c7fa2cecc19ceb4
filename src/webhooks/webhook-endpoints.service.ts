import { Inject, Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import { AgentsRepository } from '../agents/agents.repository.js';
import { type Page, type PaginationQueryDto, toPage } from '../common/pagination/pagination.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { resolveAllowedAddress, WebhookAddressError } from './delivery/address-policy.js';
import { generateWebhookSecret } from './delivery/webhook-signature.js';
import type {
  CreateWebhookEndpointDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryWithBodyResponse,
  WebhookEndpointResponse,
  WebhookEndpointWithSecretResponse,
} from './dto/webhook.dto.js';
import type { WebhookEndpointDocument } from './schemas/webhook-endpoint.schema.js';
import { toDeliveryResponse } from './webhook-deliveries.service.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import {
  type WebhookEndpointChanges,
  WebhookEndpointsRepository,
} from './webhook-endpoints.repository.js';
import { publicEventId, WEBHOOK_PING } from './webhook-event-types.js';
import { envelope } from './webhook-payloads.js';
import { WebhookRoutes } from './webhook-routes.js';
import { WebhooksErrorCode, WebhooksException } from './webhooks.exception.js';

export function toEndpointResponse(endpoint: WebhookEndpointDocument): WebhookEndpointResponse {
  return {
    id: endpoint._id.toString(),
    url: endpoint.url,
    description: endpoint.description ?? null,
    events: endpoint.events,
    agentIds: endpoint.agentIds?.map(String) ?? null,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason ?? null,
    disabledAt: endpoint.disabledAt ?? null,
    failingSince: endpoint.failingSince ?? null,
    previousSecretExpiresAt: endpoint.previousSecret?.expiresAt ?? null,
    createdAt: endpoint.createdAt,
    updatedAt: endpoint.updatedAt,
  };
}

/**
 * The customer's endpoints: every URL is checked like an attacker's (scheme, credentials, the
 * addresses its name resolves to) when it is set, and again by the sender on every attempt.
 * The signing secret is sealed at rest and shown once, at creation and at each rotation.
 */
@Injectable()
export class WebhookEndpointsService {
  constructor(
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly delivery: WebhookDeliveryService,
    private readonly agents: AgentsRepository,
    private readonly routes: WebhookRoutes,
    private readonly secretBox: SecretBoxService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(
    userId: string,
    dto: CreateWebhookEndpointDto,
  ): Promise<WebhookEndpointWithSecretResponse> {
    const url = await this.checkUrl(dto.url);
    const agentIds = await this.checkAgents(userId, dto.agentIds);
    const limit = this.config.webhooks.maxEndpointsPerUser;
    if ((await this.endpoints.countForUser(userId)) >= limit) {
      throw new WebhooksException(
        WebhooksErrorCode.TooManyEndpoints,
        `You have ${limit} webhook endpoints already (the limit): delete one first`,
      );
    }
    const id = new Types.ObjectId();
    const secret = generateWebhookSecret();
    const created = await this.endpoints.create({
      _id: id,
      userId,
      url,
      events: dto.events,
      description: dto.description,
      agentIds: agentIds ?? undefined,
      secret: this.secretBox.encrypt(secret, id.toString()),
    });
    await this.routes.forget(userId);
    return { ...toEndpointResponse(created), secret };
  }

  async list(userId: string, page: PaginationQueryDto): Promise<Page<WebhookEndpointResponse>> {
    const { items, total } = await this.endpoints.list(userId, page);
    return toPage(items.map(toEndpointResponse), total, page);
  }

  async get(userId: string, endpointId: string): Promise<WebhookEndpointResponse> {
    return toEndpointResponse(await this.owned(userId, endpointId));
  }

  async update(
    userId: string,
    endpointId: string,
    dto: UpdateWebhookEndpointDto,
  ): Promise<WebhookEndpointResponse> {
    await this.owned(userId, endpointId);
    const changes: WebhookEndpointChanges = {
      url: dto.url === undefined ? undefined : await this.checkUrl(dto.url),
      events: dto.events,
      description: dto.description,
      enabled: dto.enabled,
      agentIds:
        dto.agentIds === undefined ? undefined : await this.checkAgents(userId, dto.agentIds),
    };
    const updated = await this.endpoints.update(userId, endpointId, changes);
    if (!updated) {
      throw notFound();
    }
    await this.routes.forget(userId);
    return toEndpointResponse(updated);
  }

  async remove(userId: string, endpointId: string): Promise<void> {
    if (!(await this.endpoints.delete(userId, endpointId))) {
      throw notFound();
    }
    await this.routes.forget(userId);
  }

  /** A new secret, shown once; the old one keeps signing (beside it) for a day. */
  async rotateSecret(
    userId: string,
    endpointId: string,
  ): Promise<WebhookEndpointWithSecretResponse> {
    const endpoint = await this.owned(userId, endpointId);
    const secret = generateWebhookSecret();
    const rotated = await this.endpoints.rotateSecret(
      userId,
      endpointId,
      this.secretBox.encrypt(secret, endpointId),
      {
        sealed: endpoint.secret,
        expiresAt: new Date(Date.now() + this.config.webhooks.previousSecretTtlMs),
      },
    );
    if (!rotated) {
      throw notFound();
    }
    return { ...toEndpointResponse(rotated), secret };
  }

  /** Sends a `ping` now, once, and answers with its delivery record (the outcome included). */
  async ping(userId: string, endpointId: string): Promise<WebhookDeliveryWithBodyResponse> {
    const endpoint = await this.owned(userId, endpointId);
    if (!endpoint.enabled) {
      throw new WebhooksException(
        WebhooksErrorCode.EndpointDisabled,
        'The endpoint is disabled: enable it first (PATCH enabled: true)',
      );
    }
    const now = new Date();
    const eventId = publicEventId(new Types.ObjectId());
    const body = JSON.stringify(
      envelope(eventId, WEBHOOK_PING, now, {
        endpointId,
        message: 'This is a test event from your voice agent platform.',
      }),
    );
    const created = await this.deliveries.createOnce(
      {
        userId: endpoint.userId,
        endpointId: endpoint._id,
        eventId,
        eventType: WEBHOOK_PING,
        body,
        maxAttempts: 1,
      },
      now,
    );
    if (!created) {
      throw new Error('a new event id collided with an existing delivery');
    }
    await this.delivery.attempt(created._id.toString(), 1);
    const settled = await this.deliveries.findById(created._id);
    return { ...toDeliveryResponse(settled ?? created), body };
  }

  private async owned(userId: string, endpointId: string): Promise<WebhookEndpointDocument> {
    const endpoint = await this.endpoints.findOwned(userId, endpointId);
    if (!endpoint) {
      throw notFound();
    }
    return endpoint;
  }

  /** The URL as it will be used, or a 400 saying what is wrong with it. */
  private async checkUrl(raw: string): Promise<string> {
    const settings = this.config.webhooks;
    const invalid = (message: string): WebhooksException =>
      new WebhooksException(WebhooksErrorCode.InvalidUrl, message);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalid('url is not a valid absolute URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw invalid('url must be an http or https URL');
    }
    if (settings.requireHttps && url.protocol !== 'https:') {
      throw invalid('url must use https');
    }
    if (url.username !== '' || url.password !== '') {
      throw invalid('url may not contain credentials: authenticate with the signature instead');
    }
    url.hash = '';
    const normalised = url.toString();
    if (normalised.length > settings.maxUrlLength) {
      throw invalid(`url may be at most ${settings.maxUrlLength} characters`);
    }
    try {
      await resolveAllowedAddress(url.hostname, {
        allowPrivate: settings.allowPrivateAddresses,
      });
    } catch (error) {
      if (error instanceof WebhookAddressError) {
        throw invalid(`url refused: ${error.message}`);
      }
      throw error;
    }
    return normalised;
  }

  /** The agent filter as stored: undefined = unchanged, null = none (empty list). */
  private async checkAgents(
    userId: string,
    agentIds: string[] | undefined,
  ): Promise<Types.ObjectId[] | null | undefined> {
    if (agentIds === undefined) {
      return undefined;
    }
    if (agentIds.length === 0) {
      return null;
    }
    for (const agentId of agentIds) {
      if (!(await this.agents.findOwned(userId, agentId))) {
        throw new WebhooksException(
          WebhooksErrorCode.UnknownAgent,
          `agentIds: no agent ${agentId} of yours`,
        );
      }
    }
    return agentIds.map((agentId) => new Types.ObjectId(agentId));
  }
}

function notFound(): WebhooksException {
  return new WebhooksException(WebhooksErrorCode.EndpointNotFound, 'Webhook endpoint not found');
}

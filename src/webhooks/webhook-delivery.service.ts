import { randomInt } from 'node:crypto';
import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Types } from 'mongoose';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { SecretBoxService } from '../infra/crypto/secret-box.service.js';
import { withinTime } from '../infra/queue/enqueue-within.js';
import { Jobs, jobId, Queues } from '../infra/queue/queues.js';
import { WebhookSender } from './delivery/webhook-sender.js';
import { signatureHeader } from './delivery/webhook-signature.js';
import type { WebhookDeliveryDocument } from './schemas/webhook-delivery.schema.js';
import type { WebhookEndpointDocument } from './schemas/webhook-endpoint.schema.js';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';
import { WebhookRoutes } from './webhook-routes.js';

export interface DeliverWebhookJob {
  deliveryId: string;
  /** Which attempt this job makes (1-based): a stale job for an attempt made already does nothing. */
  attempt: number;
}

/** Beyond the send's own time bound: how long a claimed attempt keeps other workers off. */
const CLAIM_MARGIN_MS = 30_000;
const USER_AGENT = 'ai-calling-platform-webhooks/1';

export type AttemptOutcome = 'delivered' | 'retrying' | 'failed' | 'skipped' | 'abandoned';

/**
 * Sends deliveries, one attempt per call of `attempt`: claim (so one worker sends it), sign with
 * the endpoint's secret (and the rotated-out one while it lasts), send, record, then either
 * queue the next attempt after an exponential, jittered wait or settle the delivery. The
 * endpoint's failure clock runs across deliveries and disables it past the limit.
 */
@Injectable()
export class WebhookDeliveryService {
  private readonly logger = new Logger(WebhookDeliveryService.name);
  private readonly sender: WebhookSender;

  constructor(
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly endpoints: WebhookEndpointsRepository,
    private readonly routes: WebhookRoutes,
    private readonly secretBox: SecretBoxService,
    @InjectQueue(Queues.webhookDelivery) private readonly queue: Queue<DeliverWebhookJob>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    const settings = config.webhooks;
    this.sender = new WebhookSender({
      timeoutMs: settings.timeoutMs,
      maxResponseBytes: settings.maxResponseBytes,
      allowPrivateAddresses: settings.allowPrivateAddresses,
      requireHttps: settings.requireHttps,
      userAgent: USER_AGENT,
    });
  }

  /**
   * Queues attempt `attempt` of a delivery after `delayMs`. Never throws: a delivery whose
   * attempt could not be queued stays pending and overdue, and the sweep queues it. `tag` makes
   * the sweep's job distinct from a stale one with the same attempt number.
   */
  async schedule(
    deliveryId: Types.ObjectId | string,
    attempt: number,
    delayMs: number,
    tag = '',
  ): Promise<void> {
    const id = deliveryId.toString();
    try {
      await withinTime(
        this.queue.add(
          Jobs.deliverWebhook,
          { deliveryId: id, attempt },
          {
            jobId: jobId('delivery', id, attempt, ...(tag ? [tag] : [])),
            delay: Math.max(0, Math.round(delayMs)),
            // Retries only for our own failures (database down): the HTTP outcome never throws.
            attempts: 5,
            backoff: { type: 'exponential', delay: 1000 },
            removeOnComplete: { age: 3600, count: 10_000 },
            removeOnFail: { age: 7 * 86_400 },
          },
        ),
        this.config.redis.enqueueTimeoutMs,
        `queue ${Queues.webhookDelivery}`,
      );
    } catch (error) {
      this.logger.warn(`delivery ${id} attempt ${attempt} left for the sweep: ${String(error)}`);
    }
  }

  /** Makes attempt `attempt` of the delivery, unless it was made or is being made elsewhere. */
  async attempt(deliveryId: string, attempt: number): Promise<AttemptOutcome> {
    const now = new Date();
    const delivery = await this.deliveries.claim(
      deliveryId,
      attempt,
      now,
      new Date(now.getTime() + this.config.webhooks.timeoutMs + CLAIM_MARGIN_MS),
    );
    if (!delivery) {
      return 'skipped';
    }
    const endpoint = await this.endpoints.findById(delivery.endpointId);
    if (!endpoint?.enabled) {
      await this.deliveries.abandon(
        delivery._id,
        endpoint
          ? `endpoint disabled${endpoint.disabledReason ? `: ${endpoint.disabledReason}` : ''}`
          : 'endpoint deleted',
      );
      return 'abandoned';
    }
    return this.send(delivery, endpoint, attempt);
  }

  /** The wait after failed attempt `attempt`: base × 4^(attempt-1), capped, ±20 % jitter. */
  retryDelayMs(attempt: number): number {
    const { retryBaseMs, retryMaxDelayMs } = this.config.webhooks;
    const delay = Math.min(retryMaxDelayMs, retryBaseMs * 4 ** (attempt - 1));
    return Math.round(delay * (0.8 + randomInt(0, 401) / 1000));
  }

  private async send(
    delivery: WebhookDeliveryDocument,
    endpoint: WebhookEndpointDocument,
    attempt: number,
  ): Promise<AttemptOutcome> {
    const ownerId = endpoint._id.toString();
    const startedAt = new Date();
    const secrets = [this.secretBox.decrypt(endpoint.secret, ownerId)];
    if (endpoint.previousSecret && endpoint.previousSecret.expiresAt > startedAt) {
      secrets.push(this.secretBox.decrypt(endpoint.previousSecret.sealed, ownerId));
    }
    const timestamp = Math.floor(startedAt.getTime() / 1000);
    const result = await this.sender.send({
      url: endpoint.url,
      body: delivery.body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': delivery.eventId,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(secrets, delivery.eventId, timestamp, delivery.body),
      },
    });
    const at = new Date();
    if (result.ok) {
      await this.deliveries.recordAttempt(delivery._id, attempt, {
        at,
        statusCode: result.statusCode,
        durationMs: result.durationMs,
        delivered: true,
      });
      if (endpoint.failingSince) {
        await this.endpoints.recordSuccess(endpoint._id);
      }
      return 'delivered';
    }
    const retry = attempt < delivery.maxAttempts;
    const delayMs = retry ? this.retryDelayMs(attempt) : 0;
    await this.deliveries.recordAttempt(delivery._id, attempt, {
      at,
      statusCode: result.statusCode,
      error: result.error,
      durationMs: result.durationMs,
      delivered: false,
      nextAttemptAt: retry ? new Date(at.getTime() + delayMs) : undefined,
    });
    if (retry) {
      await this.schedule(delivery._id, attempt + 1, delayMs);
    }
    const disabled = await this.endpoints.recordFailure(
      endpoint,
      at,
      this.config.webhooks.disableAfterMs,
    );
    if (disabled) {
      this.logger.warn(`webhook endpoint ${ownerId} disabled: ${disabled.disabledReason ?? ''}`);
      await this.routes.forget(endpoint.userId.toString());
    }
    return retry ? 'retrying' : 'failed';
  }
}

import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import { RedisKeys, RedisTtl } from '../infra/redis/redis-keys.js';
import type { WebhookEventType } from './webhook-event-types.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';

/** One enabled endpoint's routing: its event types and, when it filters, its agents. */
interface Route {
  events: string[];
  agentIds?: string[];
}

/**
 * Which events a user's enabled endpoints take, cached in Redis (`webhooks:routes:{userId}`),
 * so the call paths decide whether to record an event without a MongoDB read: a user without
 * endpoints costs one Redis GET per event. Every endpoint change drops the entry.
 */
@Injectable()
export class WebhookRoutes {
  private readonly logger = new Logger(WebhookRoutes.name);

  constructor(
    private readonly endpoints: WebhookEndpointsRepository,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
  ) {}

  /** Whether any enabled endpoint of the user takes `type` events of `agentId`'s calls. */
  async wants(
    userId: { toString(): string },
    agentId: { toString(): string },
    type: WebhookEventType,
  ): Promise<boolean> {
    const routes = await this.routesOf(userId.toString());
    const agent = agentId.toString();
    return routes.some(
      (route) => route.events.includes(type) && (!route.agentIds || route.agentIds.includes(agent)),
    );
  }

  /** Drops the cached routes (after any change to the user's endpoints). */
  async forget(userId: string): Promise<void> {
    await this.redis.del(RedisKeys.webhookRoutes(userId));
  }

  private async routesOf(userId: string): Promise<Route[]> {
    const key = RedisKeys.webhookRoutes(userId);
    try {
      const cached = await this.redis.get(key);
      if (cached !== null) {
        return JSON.parse(cached) as Route[];
      }
    } catch (error) {
      this.logger.warn(`webhook routes cache read failed for ${userId}: ${String(error)}`);
    }
    const routes: Route[] = (await this.endpoints.enabledRoutes(userId)).map((endpoint) => ({
      events: endpoint.events,
      ...(endpoint.agentIds ? { agentIds: endpoint.agentIds.map(String) } : {}),
    }));
    try {
      await this.redis.set(key, JSON.stringify(routes), 'EX', RedisTtl.webhookRoutesSeconds);
    } catch (error) {
      this.logger.warn(`webhook routes cache write failed for ${userId}: ${String(error)}`);
    }
    return routes;
  }
}

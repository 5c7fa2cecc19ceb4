import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { QueueConnectionHolder } from '../../infra/queue/queue-connection.holder.js';
import { RedisKeys } from '../../infra/redis/redis-keys.js';
import { SESSION_ID_PATTERN } from './media-stream-urls.js';

/** The name of the cluster-wide claim a live stream holds on its session (a Redis lock). */
export function streamClaimName(sessionId: string): string {
  return `media-stream:${sessionId}`;
}

interface EndRequest {
  sessionId: string;
  reason: string;
}

function parseEndRequest(message: string): EndRequest | undefined {
  try {
    const parsed = JSON.parse(message) as Partial<EndRequest>;
    return typeof parsed.sessionId === 'string' &&
      SESSION_ID_PATTERN.test(parsed.sessionId) &&
      typeof parsed.reason === 'string'
      ? { sessionId: parsed.sessionId, reason: parsed.reason.slice(0, 200) }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asks whichever media process holds a call's stream to end it: the API process that takes
 * `POST /calls/:id/hangup` rarely runs the stream itself. Redis pub/sub on the queue Redis;
 * a stream is known to be live by its claim.
 */
@Injectable()
export class MediaStreamSignals implements OnApplicationShutdown {
  private readonly logger = new Logger('MediaStreamSignals');
  private readonly redis: Redis;
  private readonly channel: string;
  private subscriber?: Redis;

  constructor(queueConnection: QueueConnectionHolder, @Inject(APP_CONFIG) config: AppConfig) {
    this.redis = queueConnection.connection;
    this.channel = `${config.redis.queuePrefix}:media-stream:end`;
  }

  /** True when the call has a live stream somewhere, which has now been asked to end. */
  async requestEnd(sessionId: string, reason: string): Promise<boolean> {
    const live = await this.redis.exists(RedisKeys.lock(streamClaimName(sessionId)));
    if (live === 0) {
      return false;
    }
    await this.redis.publish(this.channel, JSON.stringify({ sessionId, reason }));
    return true;
  }

  /** Media processes listen for end requests (a dedicated connection: subscribers do nothing else). */
  async listen(onEnd: (request: EndRequest) => void): Promise<void> {
    const subscriber = this.redis.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', (error: Error) => {
      this.logger.warn(`end-request subscription: ${error.message}`);
    });
    subscriber.on('message', (_channel: string, message: string) => {
      const request = parseEndRequest(message);
      if (request) {
        onEnd(request);
      }
    });
    await subscriber.subscribe(this.channel);
  }

  onApplicationShutdown(): void {
    if (this.subscriber) {
      this.subscriber.disconnect();
      this.subscriber = undefined;
    }
  }
}

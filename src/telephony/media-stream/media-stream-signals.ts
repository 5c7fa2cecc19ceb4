import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { withinTime } from '../../infra/queue/enqueue-within.js';
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
  private readonly timeoutMs: number;
  private subscriber?: Redis;

  constructor(queueConnection: QueueConnectionHolder, @Inject(APP_CONFIG) config: AppConfig) {
    this.redis = queueConnection.connection;
    this.channel = `${config.redis.queuePrefix}:media-stream:end`;
    this.timeoutMs = config.redis.enqueueTimeoutMs;
  }

  /**
   * True when the call has a live stream somewhere, which has now been asked to end. Bounded
   * in time (the queue connection waits out Redis outages): a request answers 503 instead.
   */
  async requestEnd(sessionId: string, reason: string): Promise<boolean> {
    const live = await withinTime(
      this.redis.exists(RedisKeys.lock(streamClaimName(sessionId))),
      this.timeoutMs,
      'media stream claims',
    );
    if (live === 0) {
      return false;
    }
    await withinTime(
      this.redis.publish(this.channel, JSON.stringify({ sessionId, reason })),
      this.timeoutMs,
      'media stream end requests',
    );
    return true;
  }

  /**
   * Media processes listen for end requests (a dedicated connection: subscribers do nothing
   * else). Never waits for Redis: start-up must not hang on it, and the subscription is made
   * (and remade after a reconnect) whenever Redis answers.
   */
  listen(onEnd: (request: EndRequest) => void): void {
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
    subscriber.subscribe(this.channel).catch((error: unknown) => {
      this.logger.warn(`could not subscribe to end requests: ${String(error)}`);
    });
  }

  onApplicationShutdown(): void {
    if (this.subscriber) {
      this.subscriber.disconnect();
      this.subscriber = undefined;
    }
  }
}

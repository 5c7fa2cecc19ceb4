import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { RedisKeys } from '../../infra/redis/redis-keys.js';
import { SLIDING_WINDOW_TAKE_SCRIPT } from '../../infra/redis/sliding-window.js';
import { REDIS_CLIENT } from '../../infra/redis/redis.module.js';

/** Where requests to one Exotel account are counted; the client waits on it before each one. */
export interface RequestBudget {
  /** Resolves when the caller may send a request to `accountSid`, having counted it. */
  acquire(accountSid: string): Promise<void>;
}

// Waiters on several instances retry at slightly different moments instead of all at once.
const MAX_JITTER_MS = 25;

/**
 * Exotel's per-account limit (EXOTEL_REQUESTS_PER_MINUTE, 200 by default) shared by every
 * instance: a caller over it waits for a slot instead of failing, because Exotel answers a
 * burst over its limit with 429s that would cost retries anyway.
 */
@Injectable()
export class ExotelRequestBudget implements RequestBudget {
  private readonly limit: number;
  private readonly windowMs: number;

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.limit = config.exotel.requestsPerMinute;
    this.windowMs = config.exotel.requestWindowMs;
  }

  async acquire(accountSid: string): Promise<void> {
    const key = RedisKeys.rateLimit('exotel', accountSid);
    const member = randomUUID();
    for (;;) {
      const waitMs = Number(
        await this.redis.eval(
          SLIDING_WINDOW_TAKE_SCRIPT,
          1,
          key,
          this.windowMs,
          this.limit,
          member,
        ),
      );
      if (waitMs <= 0) {
        return;
      }
      await new Promise((resolve) =>
        setTimeout(resolve, waitMs + Math.floor(Math.random() * MAX_JITTER_MS)),
      );
    }
  }
}

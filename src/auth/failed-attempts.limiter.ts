import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RateLimiterService } from '../common/throttling/rate-limiter.service.js';
import { TooManyRequestsException } from '../common/throttling/too-many-requests.exception.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';

/** What a password check is for; each has its own counters. */
export type PasswordAction = 'login' | 'change-password';

/** The counters one attempt was charged to, handed back when it succeeded. */
export interface AttemptCounters {
  pair?: string;
  ip: string;
}

/**
 * Failed password checks, counted per (account, IP) pair and, more generously, per IP:
 * - the pair limit stops guessing one account's password from one address, yet failures
 *   from other addresses never lock the owner out from theirs;
 * - the IP limit stops one address from spraying a few guesses at many accounts.
 * An attempt is counted when it starts (so parallel guesses cannot all slip past the check)
 * and given back when it succeeds: only failures stay counted, and a success clears its pair.
 */
@Injectable()
export class FailedAttemptsLimiter {
  constructor(
    private readonly rateLimiter: RateLimiterService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Counts the attempt; 429 when the pair or the IP is over its limit. */
  async begin(
    action: PasswordAction,
    account: string | undefined,
    ip: string,
  ): Promise<AttemptCounters> {
    const { authLimit, authIpLimit, authWindowSeconds } = this.config.throttle;
    const windowMs = authWindowSeconds * 1000;
    const counters: AttemptCounters = {
      ip: RedisKeys.rateLimit(`auth:${action}`, `ip:${ip}`),
      ...(account === undefined
        ? {}
        : { pair: RedisKeys.rateLimit(`auth:${action}`, `pair:${account}:${ip}`) }),
    };
    const results = await Promise.all([
      this.rateLimiter.hit(counters.ip, authIpLimit, windowMs),
      ...(counters.pair === undefined
        ? []
        : [this.rateLimiter.hit(counters.pair, authLimit, windowMs)]),
    ]);
    const refused = results.filter((result) => result.blocked);
    if (refused.length > 0) {
      const retryAfterMs = Math.max(...refused.map((result) => result.retryAfterMs));
      throw new TooManyRequestsException(
        `Too many failed ${action} attempts; try again later`,
        Math.max(1, Math.ceil(retryAfterMs / 1000)),
      );
    }
    return counters;
  }

  /** The attempt succeeded: its pair starts again from zero and the IP gets its hit back. */
  async succeeded(counters: AttemptCounters): Promise<void> {
    await Promise.all([
      this.rateLimiter.refund(counters.ip),
      ...(counters.pair === undefined ? [] : [this.rateLimiter.reset(counters.pair)]),
    ]);
  }
}

import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';
import { REDIS_CLIENT } from '../infra/redis/redis.module.js';
import { SLIDING_WINDOW_TAKE_SCRIPT } from '../infra/redis/sliding-window.js';

const WINDOW_MS = 60_000;

/** A start counted in the budget, to give back when no call was made after all. */
export interface BudgetToken {
  key: string;
  member: string;
}

/**
 * The pace of campaign calls per Exotel account: at most CAMPAIGN_CALLS_PER_MINUTE starts in any
 * 60 s (a sliding window, shared by every instance), a share of the account's request budget
 * (EXOTEL_REQUESTS_PER_MINUTE) that leaves room for the other requests (call lookups,
 * hang-ups) and for the API's own calls.
 */
@Injectable()
export class CampaignCallBudget {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Counts one start for the account; undefined when the minute's budget is spent. */
  async take(accountSid: string): Promise<BudgetToken | undefined> {
    const token = { key: RedisKeys.rateLimit('campaign-calls', accountSid), member: randomUUID() };
    const waitMs = await this.redis.eval(
      SLIDING_WINDOW_TAKE_SCRIPT,
      1,
      token.key,
      WINDOW_MS,
      this.config.campaigns.callsPerMinute,
      token.member,
    );
    return Number(waitMs) === 0 ? token : undefined;
  }

  async giveBack(token: BudgetToken): Promise<void> {
    await this.redis.zrem(token.key, token.member);
  }
}

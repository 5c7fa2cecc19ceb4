import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RateLimiterService } from '../common/throttling/rate-limiter.service.js';
import { TooManyRequestsException } from '../common/throttling/too-many-requests.exception.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';

/**
 * Strict limit on login and register attempts, counted per client IP and per email
 * (`ratelimit:auth:{action}:ip:{ip}`, `ratelimit:auth:{action}:email:{email}`), so neither
 * one address trying many accounts nor many addresses trying one account get far.
 */
@Injectable()
export class AuthThrottleGuard implements CanActivate {
  constructor(
    private readonly rateLimiter: RateLimiterService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest<{ Body: unknown }>>();
    const action = request.url.includes('/register') ? 'register' : 'login';
    const { authLimit, authWindowSeconds } = this.config.throttle;
    const keys = [RedisKeys.rateLimit(`auth:${action}`, `ip:${request.ip}`)];
    const email = (request.body as { email?: unknown } | undefined)?.email;
    if (typeof email === 'string' && email.length <= 254) {
      keys.push(RedisKeys.rateLimit(`auth:${action}`, `email:${email.trim().toLowerCase()}`));
    }
    const results = await Promise.all(
      keys.map((key) => this.rateLimiter.hit(key, authLimit, authWindowSeconds * 1000)),
    );
    const refused = results.filter((result) => result.blocked);
    if (refused.length > 0) {
      const retryAfterMs = Math.max(...refused.map((result) => result.retryAfterMs));
      throw new TooManyRequestsException(
        `Too many ${action} attempts; try again later`,
        Math.max(1, Math.ceil(retryAfterMs / 1000)),
      );
    }
    return true;
  }
}

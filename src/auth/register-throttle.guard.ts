import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { RateLimiterService } from '../common/throttling/rate-limiter.service.js';
import { TooManyRequestsException } from '../common/throttling/too-many-requests.exception.js';
import { RedisKeys } from '../infra/redis/redis-keys.js';

/**
 * Limits registrations per client IP (`ratelimit:auth:register:ip:{ip}`). Not per email:
 * a registration cannot lock anybody out, and the email is taken after the first one anyway.
 */
@Injectable()
export class RegisterThrottleGuard implements CanActivate {
  constructor(
    private readonly rateLimiter: RateLimiterService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const { authLimit, authWindowSeconds } = this.config.throttle;
    const result = await this.rateLimiter.hit(
      RedisKeys.rateLimit('auth:register', `ip:${request.ip}`),
      authLimit,
      authWindowSeconds * 1000,
    );
    if (result.blocked) {
      throw new TooManyRequestsException(
        'Too many register attempts; try again later',
        Math.max(1, Math.ceil(result.retryAfterMs / 1000)),
      );
    }
    return true;
  }
}

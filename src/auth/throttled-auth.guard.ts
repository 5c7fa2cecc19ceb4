import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import { JwtAuthGuard } from './jwt-auth.guard.js';

/**
 * The global guard in front of every route: the rate limit (ThrottlerGuard) and the bearer
 * token (JwtAuthGuard) are checked at the same time, so their Redis commands leave together
 * (the request-path client pipelines them) and cost one round trip instead of two. Both always
 * run, and a refused rate limit wins over a refused token, as when they ran one after the
 * other: every request counts against the limit, and a throttled client gets 429 either way.
 */
@Injectable()
export class ThrottledAuthGuard implements CanActivate {
  constructor(
    private readonly throttler: ThrottlerGuard,
    private readonly auth: JwtAuthGuard,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const [throttled, authenticated] = await Promise.allSettled([
      this.throttler.canActivate(context),
      this.auth.canActivate(context),
    ]);
    if (throttled.status === 'rejected') {
      throw throttled.reason;
    }
    if (authenticated.status === 'rejected') {
      throw authenticated.reason;
    }
    return throttled.value && authenticated.value;
  }
}

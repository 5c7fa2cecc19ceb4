import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { from, mergeMap, type Observable } from 'rxjs';
import type { AuthenticatedUser } from '../common/decorators/current-user.decorator.js';
import { FailedAttemptsLimiter, type PasswordAction } from './failed-attempts.limiter.js';

const PASSWORD_ACTION = 'auth:password-action';

/** Names the counters a password-checking route uses (default `login`). */
export const PasswordAttempts = (action: PasswordAction): MethodDecorator =>
  SetMetadata(PASSWORD_ACTION, action);

/**
 * Throttles a route that checks a password by its failures (see FailedAttemptsLimiter). An
 * interceptor rather than a guard because it must see how the handler ended: the counters
 * are settled before the response leaves, so the next attempt sees them.
 */
@Injectable()
export class PasswordAttemptsInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: FailedAttemptsLimiter,
  ) {}

  async intercept(
    context: ExecutionContext,
    next: CallHandler<unknown>,
  ): Promise<Observable<unknown>> {
    const request = context
      .switchToHttp()
      .getRequest<FastifyRequest<{ Body: unknown }> & { user?: AuthenticatedUser }>();
    const action =
      this.reflector.get<PasswordAction | undefined>(PASSWORD_ACTION, context.getHandler()) ??
      'login';
    const counters = await this.limiter.begin(action, accountOf(request), request.ip);
    return next
      .handle()
      .pipe(mergeMap((result) => from(this.limiter.succeeded(counters).then(() => result))));
  }
}

/** The signed-in user, else the email being signed in to (as stored: trimmed, lower case). */
function accountOf(
  request: FastifyRequest<{ Body: unknown }> & { user?: AuthenticatedUser },
): string | undefined {
  if (request.user) {
    return `user:${request.user.userId}`;
  }
  const email = (request.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' && email.length <= 254
    ? `email:${email.trim().toLowerCase()}`
    : undefined;
}

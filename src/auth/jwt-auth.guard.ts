import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import type { AuthenticatedUser } from '../common/decorators/current-user.decorator.js';
import { IS_PUBLIC } from '../common/decorators/public.decorator.js';
import { AccessTokenVerifier } from './access-token.verifier.js';

/** Global guard: every route needs a valid, current bearer token unless marked @Public(). */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: AccessTokenVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) {
      return true;
    }
    const request = context
      .switchToHttp()
      .getRequest<FastifyRequest & { user?: AuthenticatedUser }>();
    const user = await this.verifier.verify(request.headers.authorization);
    if (!user) {
      throw new UnauthorizedException('Missing, expired, revoked or invalid bearer token');
    }
    request.user = user;
    return true;
  }
}

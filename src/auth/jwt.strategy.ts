import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AuthenticatedUser } from '../common/decorators/current-user.decorator.js';
import { AccessTokenStore } from '../users/access-token.store.js';
import { USER_ROLES } from '../users/schemas/user.schema.js';
import type { AccessTokenPayload } from './auth.service.js';

const extractBearer = ExtractJwt.fromAuthHeaderAsBearerToken();

/** A token is valid when its signature and expiry hold and it is the user's current token. */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly tokens: AccessTokenStore,
  ) {
    super({
      jwtFromRequest: extractBearer,
      secretOrKey: config.jwt.secret,
      algorithms: ['HS256'],
      ignoreExpiration: false,
      passReqToCallback: true,
    });
  }

  async validate(
    request: FastifyRequest,
    payload: Partial<AccessTokenPayload>,
  ): Promise<AuthenticatedUser> {
    const token = extractBearer(request);
    if (
      typeof payload.sub !== 'string' ||
      !USER_ROLES.includes(payload.role as never) ||
      token === null ||
      !(await this.tokens.isCurrent(payload.sub, token))
    ) {
      throw new UnauthorizedException('Token revoked or invalid');
    }
    return { userId: payload.sub, role: payload.role as AuthenticatedUser['role'] };
  }
}

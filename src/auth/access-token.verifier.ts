import { createSecretKey, type KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AuthenticatedUser } from '../common/decorators/current-user.decorator.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { AccessTokenStore } from '../users/access-token.store.js';
import { USER_ROLES } from '../users/schemas/user.schema.js';
import type { AccessTokenPayload } from './auth.service.js';

const BEARER = /^Bearer ([\w.-]+)$/i;

/**
 * A bearer token is valid when its signature and expiry hold and it is the user's current
 * token (cached at `user:token:{userId}`, backed by the user's `currentTokenId`). Uses this application's own secret (no process-wide
 * strategy registry), as a KeyObject so each check skips re-parsing the secret.
 */
@Injectable()
export class AccessTokenVerifier {
  private readonly key: KeyObject;

  constructor(
    private readonly jwt: JwtService,
    private readonly tokens: AccessTokenStore,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.key = createSecretKey(Buffer.from(config.jwt.secret));
  }

  async verify(authorization: string | undefined): Promise<AuthenticatedUser | undefined> {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (!token) {
      return undefined;
    }
    let payload: Partial<AccessTokenPayload> & {
      aud?: unknown;
      jti?: unknown;
      iat?: unknown;
      exp?: unknown;
    };
    try {
      payload = await this.jwt.verifyAsync<AccessTokenPayload>(token, {
        secret: this.key as unknown as string,
        algorithms: ['HS256'],
      });
    } catch {
      return undefined;
    }
    // API tokens carry no audience; any token that names one (the queue dashboard's cookie
    // token) was issued for something else and never counts as a bearer token.
    if (payload.aud !== undefined) {
      return undefined;
    }
    const role = payload.role;
    if (typeof payload.sub !== 'string' || role === undefined || !USER_ROLES.includes(role)) {
      return undefined;
    }
    const current = await this.tokens.isCurrent({
      userId: payload.sub,
      role,
      tokenId: typeof payload.jti === 'string' ? payload.jti : undefined,
      token,
      issuedAt: typeof payload.iat === 'number' ? payload.iat : undefined,
      expiresAt: typeof payload.exp === 'number' ? payload.exp : undefined,
    });
    return current ? { userId: payload.sub, role } : undefined;
  }
}

import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { AccessTokenStore } from '../users/access-token.store.js';
import type { AccessTokenPayload } from './auth.service.js';

/**
 * Checks a raw Authorization header for routes mounted outside Nest's guards (the queue
 * dashboard is a Fastify plugin): 200 for a current admin token, else 401 or 403.
 */
@Injectable()
export class AdminRequestAuthenticator {
  constructor(
    private readonly jwt: JwtService,
    private readonly tokens: AccessTokenStore,
  ) {}

  async check(authorization: string | undefined): Promise<200 | 401 | 403> {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) {
      return 401;
    }
    try {
      const payload = await this.jwt.verifyAsync<AccessTokenPayload>(token, {
        algorithms: ['HS256'],
      });
      if (!(await this.tokens.isCurrent(payload.sub, token))) {
        return 401;
      }
      return payload.role === 'admin' ? 200 : 403;
    } catch {
      return 401;
    }
  }
}

import { Injectable } from '@nestjs/common';
import { AccessTokenVerifier } from './access-token.verifier.js';

/**
 * Checks a raw Authorization header for routes mounted outside Nest's guards (the queue
 * dashboard is a Fastify plugin): 200 for a current admin token, else 401 or 403.
 */
@Injectable()
export class AdminRequestAuthenticator {
  constructor(private readonly verifier: AccessTokenVerifier) {}

  async check(authorization: string | undefined): Promise<200 | 401 | 403> {
    const user = await this.verifier.verify(authorization);
    if (!user) {
      return 401;
    }
    return user.role === 'admin' ? 200 : 403;
  }
}

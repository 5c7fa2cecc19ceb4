import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';

/** How long a queue dashboard sign-in lasts (the cookie and its token expire together). */
export const DASHBOARD_SESSION_SECONDS = 15 * 60;

/**
 * The audience of a dashboard session token. API bearer tokens carry none and the bearer
 * check refuses any token that names one, so neither kind is accepted in place of the other.
 */
const DASHBOARD_AUDIENCE = 'queue-dashboard';

interface DashboardSessionPayload {
  sub: string;
  purpose: typeof DASHBOARD_AUDIENCE;
}

/** Signed, short-lived proof that an admin signed in to the queue dashboard from a browser. */
@Injectable()
export class DashboardSessionTokens {
  constructor(private readonly jwt: JwtService) {}

  issue(userId: string): Promise<string> {
    const payload: DashboardSessionPayload = { sub: userId, purpose: DASHBOARD_AUDIENCE };
    return this.jwt.signAsync(payload, {
      audience: DASHBOARD_AUDIENCE,
      expiresIn: DASHBOARD_SESSION_SECONDS,
      jwtid: randomUUID(),
    });
  }

  /** The user id the token was issued to, or undefined when it is not a valid session token. */
  async userIdOf(token: string): Promise<string | undefined> {
    try {
      const payload = await this.jwt.verifyAsync<Partial<DashboardSessionPayload>>(token, {
        audience: DASHBOARD_AUDIENCE,
        algorithms: ['HS256'],
      });
      return payload.purpose === DASHBOARD_AUDIENCE && typeof payload.sub === 'string'
        ? payload.sub
        : undefined;
    } catch {
      return undefined;
    }
  }
}

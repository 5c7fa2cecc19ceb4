import type { IncomingHttpHeaders } from 'node:http';
import { Injectable } from '@nestjs/common';
import { AdminRequestAuthenticator } from '../auth/admin-request.authenticator.js';
import { DashboardSessionTokens } from '../auth/dashboard-session-tokens.js';
import { UsersRepository } from '../users/users.repository.js';
import { readSessionCookie } from './queue-dashboard-cookie.js';
import { QueueDashboardErrorCode, QueueDashboardException } from './queue-dashboard.exception.js';
import { isSameOriginRequest } from './same-origin.js';

/** Methods that never change state, so a cookie may authorize them from anywhere. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface DashboardRequest {
  method: string;
  headers: IncomingHttpHeaders;
}

/**
 * Who may use the queue dashboard (a Fastify plugin, outside Nest's guards): a current admin,
 * by API bearer token (scripts) or by the dashboard's session cookie (browsers). The cookie's
 * user is looked up on every request, so deactivating or demoting an admin ends access at
 * once; a state-changing request on the cookie must come from our own pages.
 */
@Injectable()
export class QueueDashboardAccess {
  constructor(
    private readonly bearer: AdminRequestAuthenticator,
    private readonly sessions: DashboardSessionTokens,
    private readonly users: UsersRepository,
  ) {}

  async authorize(request: DashboardRequest): Promise<void> {
    if (request.headers.authorization !== undefined) {
      await this.authorizeBearer(request.headers.authorization);
      return;
    }
    const token = readSessionCookie(request.headers.cookie);
    const userId = token === undefined ? undefined : await this.sessions.userIdOf(token);
    const user = userId === undefined ? null : await this.users.findById(userId);
    if (!user?.isActive) {
      throw new QueueDashboardException(
        QueueDashboardErrorCode.SignInRequired,
        'Sign in as an admin or send an admin bearer token',
      );
    }
    if (user.role !== 'admin') {
      throw new QueueDashboardException(QueueDashboardErrorCode.AdminRequired, 'Admins only');
    }
    if (!SAFE_METHODS.has(request.method) && !isSameOriginRequest(request.headers)) {
      throw new QueueDashboardException(
        QueueDashboardErrorCode.CrossSiteRequest,
        'Changes through the dashboard must come from the dashboard itself',
      );
    }
  }

  private async authorizeBearer(authorization: string): Promise<void> {
    const status = await this.bearer.check(authorization);
    if (status === 401) {
      throw new QueueDashboardException(
        QueueDashboardErrorCode.SignInRequired,
        'Admin bearer token required',
      );
    }
    if (status === 403) {
      throw new QueueDashboardException(QueueDashboardErrorCode.AdminRequired, 'Admins only');
    }
  }
}

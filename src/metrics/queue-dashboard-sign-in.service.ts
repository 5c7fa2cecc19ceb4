import { type HttpRedirectResponse, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { AuthService } from '../auth/auth.service.js';
import {
  DASHBOARD_SESSION_SECONDS,
  DashboardSessionTokens,
} from '../auth/dashboard-session-tokens.js';
import type { LoginDto } from '../auth/dto/login.dto.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { DashboardRequest } from './queue-dashboard-access.js';
import { clearedSessionCookie, sessionCookie } from './queue-dashboard-cookie.js';
import { renderSignInPage } from './queue-dashboard-sign-in.page.js';
import { QueueDashboardErrorCode, QueueDashboardException } from './queue-dashboard.exception.js';
import { QueueDashboardPaths } from './queue-dashboard.paths.js';
import { isSameOriginRequest } from './same-origin.js';

/** Where the session cookie is written: the Fastify reply, seen only through its headers. */
export interface CookieWriter {
  header(name: 'set-cookie', value: string): unknown;
}

/**
 * Browser sign-in to the queue dashboard: checks the credentials exactly as `POST /auth/login`
 * does, admits only active admins, and keeps the sign-in in a short-lived cookie that only the
 * dashboard's paths receive. Issues no API token, so an admin's scripts keep theirs.
 */
@Injectable()
export class QueueDashboardSignInService {
  constructor(
    private readonly auth: AuthService,
    private readonly sessions: DashboardSessionTokens,
    private readonly paths: QueueDashboardPaths,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  page(message?: string): string {
    return renderSignInPage({
      signInAction: this.paths.signIn,
      signOutAction: this.paths.signOut,
      dashboard: this.paths.dashboard,
      message,
    });
  }

  async signIn(
    dto: LoginDto,
    request: DashboardRequest,
    reply: CookieWriter,
  ): Promise<HttpRedirectResponse> {
    this.requireSameOrigin(request);
    const user = await this.auth.verifyCredentials(dto);
    if (user.role !== 'admin') {
      throw new QueueDashboardException(
        QueueDashboardErrorCode.AdminRequired,
        'Only admins can open the queue dashboard',
      );
    }
    const token = await this.sessions.issue(user._id.toString());
    reply.header(
      'set-cookie',
      sessionCookie(token, { ...this.cookieScope(), maxAgeSeconds: DASHBOARD_SESSION_SECONDS }),
    );
    return { url: this.paths.dashboard, statusCode: HttpStatus.SEE_OTHER };
  }

  signOut(request: DashboardRequest, reply: CookieWriter): HttpRedirectResponse {
    this.requireSameOrigin(request);
    reply.header('set-cookie', clearedSessionCookie(this.cookieScope()));
    return { url: this.paths.signIn, statusCode: HttpStatus.SEE_OTHER };
  }

  private cookieScope(): { path: string; secure: boolean } {
    return { path: this.paths.dashboard, secure: this.config.env === 'production' };
  }

  /** A login form posted from another site could sign a victim's browser in (login CSRF). */
  private requireSameOrigin(request: DashboardRequest): void {
    if (!isSameOriginRequest(request.headers)) {
      throw new QueueDashboardException(
        QueueDashboardErrorCode.CrossSiteRequest,
        'This form must be sent from this site',
      );
    }
  }
}

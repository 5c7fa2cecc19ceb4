import { Injectable } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';

/** Route of the queue dashboard under the API prefix (bull-board mounts its plugin there). */
export const QUEUE_DASHBOARD_ROUTE = '/admin/queues';
/** Controller path of the dashboard's browser sign-in, beside (not under) the dashboard. */
export const QUEUE_DASHBOARD_SIGN_IN_ROUTE = 'admin/queue-dashboard';

/**
 * Absolute paths of the dashboard and its sign-in, read from the global prefix when asked:
 * the prefix is set after the modules are built, before the first route is registered.
 */
@Injectable()
export class QueueDashboardPaths {
  constructor(private readonly application: ApplicationConfig) {}

  get dashboard(): string {
    return `${this.prefix()}${QUEUE_DASHBOARD_ROUTE}`;
  }

  get signIn(): string {
    return `${this.prefix()}/${QUEUE_DASHBOARD_SIGN_IN_ROUTE}/sign-in`;
  }

  get signOut(): string {
    return `${this.prefix()}/${QUEUE_DASHBOARD_SIGN_IN_ROUTE}/sign-out`;
  }

  /** Whether a registered route template is the dashboard or lies under it. */
  covers(routeUrl: string): boolean {
    const url = routeUrl.replace(/\/{2,}/g, '/').toLowerCase();
    const dashboard = this.dashboard.toLowerCase();
    return url === dashboard || url.startsWith(`${dashboard}/`);
  }

  private prefix(): string {
    const prefix = this.application.getGlobalPrefix().replace(/^\/+|\/+$/g, '');
    return prefix === '' ? '' : `/${prefix}`;
  }
}

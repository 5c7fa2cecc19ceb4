import { HttpStatus, type Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { toErrorBody } from '../common/filters/all-exceptions.filter.js';
import type { QueueDashboardAccess } from './queue-dashboard-access.js';
import type { QueueDashboardPaths } from './queue-dashboard.paths.js';
import { QueueDashboardException } from './queue-dashboard.exception.js';

export interface QueueDashboardGuard {
  /** `METHOD url` of every route the guard was attached to. */
  readonly guardedRoutes: ReadonlySet<string>;
}

/** An anonymous browser opening a page is sent to the sign-in form instead of an error body. */
function wantsSignInPage(request: FastifyRequest): boolean {
  return (
    (request.method === 'GET' || request.method === 'HEAD') &&
    request.headers.authorization === undefined &&
    (request.headers.accept ?? '').includes('text/html')
  );
}

/**
 * Attaches the admin check to each route registered under the dashboard path, as the route is
 * registered. Authorization thus follows the route the router matched, whatever spelling of the
 * URL led there (percent-encoding, letter case, slashes), never a comparison of the raw URL.
 * Must be installed before bull-board's plugin loads (it registers its routes on `ready`).
 */
export function guardQueueDashboardRoutes(
  fastify: FastifyInstance,
  access: QueueDashboardAccess,
  paths: QueueDashboardPaths,
  logger: Logger,
): QueueDashboardGuard {
  const guardedRoutes = new Set<string>();
  const guard: onRequestAsyncHookHandler = async (request, reply) => {
    try {
      await access.authorize(request);
      return undefined;
    } catch (error) {
      if (
        error instanceof QueueDashboardException &&
        error.status === HttpStatus.UNAUTHORIZED &&
        wantsSignInPage(request)
      ) {
        return reply.redirect(paths.signIn, 303);
      }
      const body = toErrorBody(error, request.id, logger);
      return reply.status(body.statusCode).send(body);
    }
  };
  fastify.addHook('onRoute', (route) => {
    if (!paths.covers(route.url)) {
      return;
    }
    const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [guard, ...existing];
    for (const method of [route.method].flat()) {
      guardedRoutes.add(`${method} ${route.url}`);
    }
  });
  return { guardedRoutes };
}

import { applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { SkipThrottle } from '@nestjs/throttler';
import { Public } from './public.decorator.js';

/** Set in the Fastify route config of probe routes; the app's own hooks skip them on it. */
export const PROBE_ROUTE = 'probe';

/**
 * The Fastify route config of a probe: marked as one, without helmet and CORS headers. Given
 * as it is to probes served by Fastify alone (the health routes), through @Probe() to others.
 */
export const PROBE_ROUTE_CONFIG = Object.freeze({
  [PROBE_ROUTE]: true,
  helmet: { skipRoute: true },
  cors: false,
});

/**
 * A route polled by machines (liveness and readiness probes, metrics scrapes): called every few
 * seconds by every replica's orchestrator and scraper, so it must not pay for what serves
 * people. No bearer token (a scrape checks its own), no rate limit in Redis, no request
 * metrics or request log, no browser headers (helmet, CORS). It keeps its x-request-id.
 * A method decorator: Fastify route config is read from the handler only.
 */
export const Probe = (): MethodDecorator =>
  applyDecorators(Public(), SkipThrottle(), RouteConfig({ ...PROBE_ROUTE_CONFIG }));

/** Whether a Fastify request was routed to a probe route. */
export function isProbeRoute(routeConfig: object | undefined): boolean {
  return (routeConfig as Record<string, unknown> | undefined)?.[PROBE_ROUTE] === true;
}

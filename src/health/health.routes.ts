import { HttpStatus } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { PROBE_ROUTE_CONFIG } from '../common/decorators/probe.decorator.js';
import { LivenessResponse, ReadinessResponse } from './health.response.js';
import type { HealthService } from './health.service.js';

/**
 * Liveness and readiness as plain Fastify routes: orchestrators poll them every few seconds on
 * every replica, and Nest's router (guards, pipes, interceptors, middleware matching) cost more
 * than the answer. They are probes (see PROBE_ROUTE_CONFIG): public, unthrottled, without
 * helmet and CORS headers, left out of the request metrics and log; the app's onRequest hook
 * still gives them their x-request-id, and its shutdown hook their 503 while closing.
 * Over a socket, GET /health does not even reach Fastify (see LivenessShortcut); this route
 * answers it for `inject()` and once the app is closing.
 */
export function registerHealthRoutes(
  fastify: FastifyInstance,
  health: HealthService,
  prefix: string,
): void {
  fastify.get(`/${prefix}/health`, { config: PROBE_ROUTE_CONFIG }, (_request, reply) => {
    void reply.send(health.live());
  });
  fastify.get(
    `/${prefix}/health/ready`,
    { config: PROBE_ROUTE_CONFIG },
    async (_request, reply) => {
      const readiness = await health.ready();
      return reply
        .status(readiness.status === 'ok' ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE)
        .send(readiness);
    },
  );
}

/** The models the health routes answer, for the OpenAPI document's `extraModels`. */
export const HEALTH_MODELS = [LivenessResponse, ReadinessResponse];

function jsonResponse(description: string, model: { name: string }) {
  return {
    description,
    content: {
      'application/json': { schema: { $ref: `#/components/schemas/${model.name}` } },
    },
  };
}

/** What registerHealthRoutes serves, described for the OpenAPI document (Nest does not see it). */
export function healthOpenApiPaths(prefix: string): OpenAPIObject['paths'] {
  return {
    [`/${prefix}/health`]: {
      get: {
        operationId: 'health_live',
        summary: 'Liveness: the process answers',
        tags: ['health'],
        responses: { [HttpStatus.OK]: jsonResponse('The process answers', LivenessResponse) },
      },
    },
    [`/${prefix}/health/ready`]: {
      get: {
        operationId: 'health_ready',
        summary: 'Readiness: MongoDB and Redis answer (503 naming what is down)',
        tags: ['health'],
        responses: {
          [HttpStatus.OK]: jsonResponse('MongoDB and Redis answer', ReadinessResponse),
          [HttpStatus.SERVICE_UNAVAILABLE]: jsonResponse('Names what is down', ReadinessResponse),
        },
      },
    },
  };
}

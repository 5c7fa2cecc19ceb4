import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { LivenessResponse } from './health.response.js';

/** The liveness answer: the process runs and its event loop turns. */
export function livenessBody(): LivenessResponse {
  return { status: 'ok', uptimeSeconds: Math.round(process.uptime() * 10) / 10 };
}

/** What Fastify hands a serverFactory: its request handler and its resolved options. */
type FastifyHandler = (request: IncomingMessage, response: ServerResponse) => void;
interface ServerTimeouts {
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number | null;
}

/**
 * GET /health answered by the HTTP server itself, before Fastify sees the request.
 *
 * Orchestrators poll liveness every few seconds on every replica. Through Fastify it paid for
 * every hook the framework and the app put in front of all routes (Nest's six request hooks,
 * middleware matching, helmet, CORS): about 100 µs a request, where the answer costs a few.
 * Here it costs what a bare Node server costs. The answer is the one the Fastify route gives
 * (the route stays, for `inject()` and the OpenAPI document), with its x-request-id.
 *
 * Only an exact GET of the path (query string allowed) is taken; anything else, and every
 * request once the app starts closing, goes to Fastify, which then answers 503 as for any
 * route.
 */
export class LivenessShortcut {
  private closing = false;

  constructor(
    private readonly path: string,
    private readonly requestIdOf: (request: IncomingMessage) => string,
  ) {}

  /** Fastify's `serverFactory`: a plain HTTP server with Fastify's own timeouts. */
  readonly serverFactory = (handler: FastifyHandler, options: ServerTimeouts): Server => {
    const server = createServer((request, response) => {
      if (this.takes(request)) {
        this.answer(request, response);
      } else {
        handler(request, response);
      }
    });
    // What Fastify sets on the servers it creates itself.
    if (options.keepAliveTimeout !== undefined) {
      server.keepAliveTimeout = options.keepAliveTimeout;
    }
    if (options.requestTimeout !== undefined) {
      server.requestTimeout = options.requestTimeout;
    }
    server.setTimeout(options.connectionTimeout ?? 0);
    if (options.maxRequestsPerSocket && options.maxRequestsPerSocket > 0) {
      server.maxRequestsPerSocket = options.maxRequestsPerSocket;
    }
    return server;
  };

  /** From the app's preClose hook on: Fastify answers every request (503 while closing). */
  markClosing(): void {
    this.closing = true;
  }

  private takes(request: IncomingMessage): boolean {
    if (this.closing || request.method !== 'GET') {
      return false;
    }
    const url = request.url ?? '';
    return (
      url === this.path || (url.startsWith(this.path) && url.charCodeAt(this.path.length) === 63) // '?'
    );
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const body = JSON.stringify(livenessBody());
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': this.requestIdOf(request),
    });
    response.end(body);
  }
}

import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import { pinoHttp } from 'pino-http';
import { Histogram, Registry } from 'prom-client';
import type { RunningServer } from './baseline.js';

/** One layer of what the application puts around a route, added as the application adds it. */
export type HookLayer = 'helmet' | 'cors' | 'request-id' | 'metrics' | 'request-log';

export const HOOK_LAYERS: readonly HookLayer[] = [
  'helmet',
  'cors',
  'request-id',
  'metrics',
  'request-log',
];

async function addLayer(server: FastifyInstance, layer: HookLayer): Promise<void> {
  switch (layer) {
    case 'helmet':
      await server.register(helmet, { contentSecurityPolicy: false });
      return;
    case 'cors':
      await server.register(cors, { origin: ['https://app.example.com'], credentials: false });
      return;
    case 'request-id':
      server.addHook('onRequest', (request, reply, done) => {
        void reply.header('x-request-id', request.id);
        done();
      });
      return;
    case 'metrics': {
      const histogram = new Histogram({
        name: 'http_request_duration_seconds',
        help: 'as the application records it',
        labelNames: ['method', 'route', 'status_code'],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [new Registry()],
      });
      server.addHook('onResponse', (request, reply, done) => {
        histogram.observe(
          {
            method: request.method,
            route: request.routeOptions.url ?? 'unmatched',
            status_code: String(reply.statusCode),
          },
          reply.elapsedTime / 1000,
        );
        done();
      });
      return;
    }
    case 'request-log': {
      // Written to nowhere at the application's production level: what is left is the cost
      // of pino-http itself on every request.
      const log = pinoHttp({ logger: pino({ level: 'warn' }, pino.destination('/dev/null')) });
      server.addHook('onRequest', (request, reply, done) => {
        log(request.raw, reply.raw);
        done();
      });
      return;
    }
  }
}

/**
 * A bare Fastify answering what GET /health answers, with the given layers of the application
 * around it, so the cost of each layer shows as the drop in requests per second it causes.
 */
export async function startLayeredServer(layers: readonly HookLayer[]): Promise<RunningServer> {
  const server = Fastify({ logger: false, genReqId: () => randomUUID() });
  for (const layer of layers) {
    await addLayer(server, layer);
  }
  server.get('/', () => ({ status: 'ok', uptimeSeconds: Math.round(process.uptime() * 10) / 10 }));
  await server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

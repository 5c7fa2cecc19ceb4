import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The reference point: a bare Fastify answering a tiny JSON body on 127.0.0.1. Ratios to
 * it cancel out the machine, so figures from different machines compare.
 */
export async function startBaseline(): Promise<RunningServer> {
  const server = Fastify({ logger: false });
  server.get('/', () => ({ hello: 'world' }));
  await server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => server.close(),
  };
}

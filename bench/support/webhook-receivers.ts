import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../src/webhooks/delivery/webhook-signature.js';

/**
 * bench:webhooks's second process: three customer endpoints on 127.0.0.1, so their CPU is not
 * the app's. `fast` answers 200 at once, `slow` 200 after SLOW_ANSWER_MS, `failing` 500 to the
 * first request of each webhook-id and 200 to the next ones. Every request's signature is
 * checked with the endpoint's secret; each request is kept as (webhook-id, arrival, status),
 * arrival on the wall clock (Date.now(), ms), the clock the app stamps an event's occurredAt
 * with. Started with child_process.fork by webhooks.bench.ts and only talks to it over IPC;
 * the bench imports its types only (importing the module would run it).
 */

export const RECEIVERS = ['fast', 'slow', 'failing'] as const;
export type ReceiverName = (typeof RECEIVERS)[number];

const SLOW_ANSWER_MS = 2_000;

/** What one receiver got since the last `collect`, in arrival order (parallel arrays). */
export interface ReceivedRequests {
  ids: string[];
  /** Date.now() when the request's headers arrived. */
  arrivedAt: number[];
  status: number[];
  /** Requests whose `webhook-signature` did not verify with the endpoint's secret. */
  badSignatures: number;
  /** Requests whose body was not JSON with `id` equal to the `webhook-id` header. */
  badBodies: number;
}

/** Per receiver since the last `collect`: requests and ids answered 2xx at least once. */
export type ReceiverProgress = Record<ReceiverName, { requests: number; delivered: number }>;

/** App process -> receivers process. */
export type ToReceivers =
  | { type: 'secrets'; secrets: Record<ReceiverName, string> }
  | { type: 'progress' }
  | { type: 'collect' }
  | { type: 'stop' };

/** Receivers process -> app process. */
export type FromReceivers =
  | { type: 'ready'; urls: Record<ReceiverName, string>; slowAnswerMs: number }
  | { type: 'secrets-set' }
  | { type: 'progress'; receivers: ReceiverProgress }
  | {
      type: 'collected';
      receivers: Record<ReceiverName, ReceivedRequests>;
      /** This process's CPU time (ms) since the previous `collect`. */
      cpuMs: number;
    }
  | { type: 'failed'; message: string };

/** This process never outlives a bench run (20 minutes at most), even if the app process hangs. */
const HARD_LIMIT_MS = 21 * 60_000;
const MAX_BODY_BYTES = 1024 * 1024;

function send(message: FromReceivers): void {
  process.send?.(message);
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function header(request: IncomingMessage, name: string): string {
  const value = request.headers[name];
  return typeof value === 'string' ? value : '';
}

function emptyRequests(): ReceivedRequests {
  return { ids: [], arrivedAt: [], status: [], badSignatures: 0, badBodies: 0 };
}

class Receiver {
  secret: string | undefined;
  private received = emptyRequests();
  private delivered = new Set<string>();
  /** Ids the failing receiver has refused once (kept across collects: ids never repeat). */
  private readonly refused = new Set<string>();

  constructor(readonly name: ReceiverName) {}

  handle(request: IncomingMessage, response: ServerResponse): void {
    const arrivedAt = Date.now();
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_BODY_BYTES) {
        chunks.push(chunk);
      }
    });
    request.on('end', () => {
      const id = header(request, 'webhook-id');
      const body = Buffer.concat(chunks).toString('utf8');
      this.check(request, id, body);
      const status = this.statusFor(id);
      this.received.ids.push(id);
      this.received.arrivedAt.push(arrivedAt);
      this.received.status.push(status);
      if (status === 200) {
        this.delivered.add(id);
      }
      const answer = (): void => {
        response
          .writeHead(status, { 'content-type': 'text/plain' })
          .end(status === 200 ? 'ok' : 'no');
      };
      if (this.name === 'slow') {
        setTimeout(answer, SLOW_ANSWER_MS);
      } else {
        answer();
      }
    });
  }

  progress(): { requests: number; delivered: number } {
    return { requests: this.received.ids.length, delivered: this.delivered.size };
  }

  collect(): ReceivedRequests {
    const received = this.received;
    this.received = emptyRequests();
    this.delivered = new Set();
    return received;
  }

  private statusFor(id: string): number {
    if (this.name !== 'failing' || this.refused.has(id)) {
      return 200;
    }
    this.refused.add(id);
    return 500;
  }

  private check(request: IncomingMessage, id: string, body: string): void {
    const signed =
      this.secret !== undefined &&
      verifyWebhook(
        this.secret,
        {
          id,
          timestamp: header(request, 'webhook-timestamp'),
          signature: header(request, 'webhook-signature'),
        },
        body,
      );
    if (!signed) {
      this.received.badSignatures += 1;
    }
    let bodyId: unknown;
    try {
      bodyId = (JSON.parse(body) as { id?: unknown }).id;
    } catch {
      bodyId = undefined;
    }
    if (id === '' || bodyId !== id) {
      this.received.badBodies += 1;
    }
  }
}

async function listen(receiver: Receiver): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    receiver.handle(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 2048 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hooks/${receiver.name}` };
}

async function main(): Promise<void> {
  if (!process.send) {
    throw new Error('webhook-receivers runs as the child process of bench:webhooks (fork)');
  }
  setTimeout(() => {
    process.exit(3);
  }, HARD_LIMIT_MS).unref();
  const receivers = {
    fast: new Receiver('fast'),
    slow: new Receiver('slow'),
    failing: new Receiver('failing'),
  } satisfies Record<ReceiverName, Receiver>;
  const listening = await Promise.all(RECEIVERS.map((name) => listen(receivers[name])));
  let cpuBefore = process.cpuUsage();
  const stop = async (): Promise<void> => {
    await Promise.all(
      listening.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => {
              resolve();
            });
          }),
      ),
    );
    process.exit(0);
  };
  process.on('message', (message: ToReceivers) => {
    switch (message.type) {
      case 'secrets':
        for (const name of RECEIVERS) {
          receivers[name].secret = message.secrets[name];
        }
        send({ type: 'secrets-set' });
        return;
      case 'progress':
        send({
          type: 'progress',
          receivers: {
            fast: receivers.fast.progress(),
            slow: receivers.slow.progress(),
            failing: receivers.failing.progress(),
          },
        });
        return;
      case 'collect': {
        const cpu = process.cpuUsage(cpuBefore);
        cpuBefore = process.cpuUsage();
        send({
          type: 'collected',
          receivers: {
            fast: receivers.fast.collect(),
            slow: receivers.slow.collect(),
            failing: receivers.failing.collect(),
          },
          cpuMs: (cpu.user + cpu.system) / 1000,
        });
        return;
      }
      case 'stop':
        void stop();
        return;
    }
  });
  // The app process went away (ended or crashed): nothing left to receive.
  process.on('disconnect', () => {
    void stop();
  });
  send({
    type: 'ready',
    slowAnswerMs: SLOW_ANSWER_MS,
    urls: {
      fast: listening[0]?.url ?? '',
      slow: listening[1]?.url ?? '',
      failing: listening[2]?.url ?? '',
    },
  });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: describe(error) });
  process.exitCode = 1;
  setTimeout(() => process.exit(), 1000).unref();
});

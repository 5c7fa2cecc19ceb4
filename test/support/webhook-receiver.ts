import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A customer's webhook endpoint on 127.0.0.1 for tests: records every request it gets (with
 * the Standard Webhooks headers picked out) and answers each path as told: a status, a delay,
 * a redirect, a huge streamed body, or never. Plain HTTP by default; `tls: true` serves HTTPS
 * with a self-signed certificate for `hooks.example.test` and records the TLS server names
 * (SNI) clients ask for, even from clients that then refuse the certificate.
 */

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  /** The raw body, as received. */
  body: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  /** With the query string. */
  path: string;
  method: string;
  receivedAt: number;
  headers: IncomingHttpHeaders;
  /**
   * Settles when the answer is over: `completed` when all of it was handed to the
   * connection, `closed-early` when the client closed the connection first.
   */
  outcome: Promise<'completed' | 'closed-early'>;
}

export interface ReceiverAnswer {
  /** Default 200, or 302 with a `location`. */
  status?: number;
  /** Wait before answering. */
  delayMs?: number;
  location?: string;
  /** Never answer (the connection stays open until the client or `close()` ends it). */
  hang?: boolean;
  /** Default `ok`. */
  body?: string;
  /** Answer a body of this many bytes instead, streamed as the client reads it. */
  streamBytes?: number;
}

export type ReceiverBehaviour =
  ReceiverAnswer | ((request: ReceivedWebhook, index: number) => ReceiverAnswer);

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>` (`https://` with `tls: true`). */
  url: string;
  port: number;
  /** Every request, in arrival order. */
  received: ReceivedWebhook[];
  /** TLS server names clients sent (with `tls: true`), in order. */
  serverNames: string[];
  /**
   * Sets how the next requests to `path` (without the query string) are answered, until it is
   * set again. A function gets each request and its position among this path's requests.
   */
  respond(path: string, behaviour: ReceiverBehaviour): void;
  /** The first `count` requests matching `predicate`, once they have arrived. */
  waitFor(
    count: number,
    timeoutMs?: number,
    predicate?: (request: ReceivedWebhook) => boolean,
  ): Promise<ReceivedWebhook[]>;
  /** Stops listening and ends every connection, hanging ones included. */
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  tls?: boolean;
}

/** The self-signed certificate (valid 2000–2100) `tls: true` serves. */
export const RECEIVER_TLS_HOSTNAME = 'hooks.example.test';

const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg+tzQv2DbUSA+/83P
HE6V5ZG7VElWh9+35BACxszsExGhRANCAATTkHHT+hhbhtCMJheuqfRpUJAjGEH5
ntaqIQhy+XIMXzlHYteAM8gxLdQ6vprIPsSQWBqgiv160UkL+3yS3BMe
-----END PRIVATE KEY-----
`;

const TLS_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBeTCCAR+gAwIBAgIBATAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJob29rcy5l
eGFtcGxlLnRlc3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMB0x
GzAZBgNVBAMMEmhvb2tzLmV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABNOQcdP6GFuG0IwmF66p9GlQkCMYQfme1qohCHL5cgxfOUdi14AzyDEt
1Dq+msg+xJBYGqCK/XrRSQv7fJLcEx6jTjBMMB0GA1UdEQQWMBSCEmhvb2tzLmV4
YW1wbGUudGVzdDAMBgNVHRMBAf8EAjAAMB0GA1UdDgQWBBSahvvlOR1PEltuiwGm
ykYfDV0vCjAKBggqhkjOPQQDAgNIADBFAiEAhxJhpRD1oVAa0Rgoc8JAhpj3gvFv
PuHWb0/pOdCM7DUCIFnQWjxTEUlodg63zIw7OljFXwRVvWCZLCYStRL1k/v9
-----END CERTIFICATE-----
`;

const STREAM_CHUNK = Buffer.alloc(64 * 1024, 'x');

export async function startWebhookReceiver(
  options: WebhookReceiverOptions = {},
): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const serverNames: string[] = [];
  const behaviours = new Map<string, ReceiverBehaviour>();
  const countByPath = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const arrivals = new Set<() => void>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) {
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks).toString('utf8');
    const path = request.url ?? '/';
    const pathname = path.split('?')[0] ?? path;
    const webhook: ReceivedWebhook = {
      id: header(request.headers, 'webhook-id'),
      timestamp: header(request.headers, 'webhook-timestamp'),
      signature: header(request.headers, 'webhook-signature'),
      body,
      json: parseJson(body),
      path,
      method: request.method ?? '',
      receivedAt: Date.now(),
      headers: request.headers,
      outcome: new Promise((resolve) => {
        response.once('close', () => {
          resolve(response.writableFinished ? 'completed' : 'closed-early');
        });
      }),
    };
    const index = countByPath.get(pathname) ?? 0;
    countByPath.set(pathname, index + 1);
    received.push(webhook);
    for (const arrival of arrivals) {
      arrival();
    }

    const behaviour = behaviours.get(pathname) ?? {};
    const answer = typeof behaviour === 'function' ? behaviour(webhook, index) : behaviour;
    if (answer.hang === true) {
      return;
    }
    if (answer.delayMs !== undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timers.delete(timer);
          resolve();
        }, answer.delayMs);
        timers.add(timer);
      });
    }
    if (response.destroyed) {
      return;
    }
    const status = answer.status ?? (answer.location === undefined ? 200 : 302);
    if (answer.location !== undefined) {
      response.setHeader('location', answer.location);
    }
    if (answer.streamBytes !== undefined) {
      await stream(response, status, answer.streamBytes);
      return;
    }
    response.writeHead(status, { 'content-type': 'text/plain' });
    response.end(answer.body ?? 'ok');
  };

  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch(() => {
      response.destroy();
    });
  };
  const server: Server = options.tls
    ? createTlsServer(
        {
          key: TLS_KEY,
          cert: TLS_CERTIFICATE,
          SNICallback: (serverName, callback) => {
            serverNames.push(serverName);
            // No context of its own: the server's certificate answers every name.
            callback(null, undefined);
          },
        },
        listener,
      )
    : createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    received,
    serverNames,
    respond(path, behaviour) {
      behaviours.set(path, behaviour);
    },
    waitFor(count, timeoutMs = 5_000, predicate = () => true) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const matching = received.filter(predicate);
          if (matching.length >= count) {
            arrivals.delete(check);
            clearTimeout(timer);
            resolve(matching.slice(0, count));
          }
        };
        const timer = setTimeout(() => {
          arrivals.delete(check);
          const matching = received.filter(predicate).length;
          reject(new Error(`expected ${count} webhooks, ${matching} arrived in ${timeoutMs} ms`));
        }, timeoutMs);
        arrivals.add(check);
        check();
      });
    },
    async close() {
      for (const timer of timers) {
        clearTimeout(timer);
      }
      timers.clear();
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Writes `total` bytes only as fast as the client reads them, and stops if it goes away. */
async function stream(response: ServerResponse, status: number, total: number): Promise<void> {
  response.writeHead(status, {
    'content-type': 'application/octet-stream',
    'content-length': total,
  });
  let sent = 0;
  while (sent < total && !response.destroyed) {
    const part = STREAM_CHUNK.subarray(0, Math.min(STREAM_CHUNK.length, total - sent));
    sent += part.length;
    if (!response.write(part)) {
      await drainedOrClosed(response);
    }
  }
  if (!response.destroyed) {
    response.end();
  }
}

function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

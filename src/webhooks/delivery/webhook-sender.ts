import {
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request as httpRequest,
  type RequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type LookupAll,
  resolveAllowedAddress,
  type ResolvedAddress,
  WebhookAddressError,
} from './address-policy.js';
import { describeFailure, pinnedLookup } from './outbound-request.js';

/**
 * Sends one webhook POST to a customer's server and reports how it went, without ever
 * throwing for what the network or the server did. The URL is the customer's, so the sender
 * defends the network it runs in: it resolves the host once, refuses private addresses, and
 * connects to exactly the address it checked (a second DNS answer could point elsewhere:
 * DNS rebinding). Redirects are not followed, for the same reason. Every exchange is bounded
 * in time and in the response bytes read.
 */

export interface WebhookRequest {
  /** The endpoint's URL: validated when the endpoint was created, checked again here. */
  url: string;
  /** webhook-id, webhook-timestamp, webhook-signature, content-type... */
  headers: Record<string, string>;
  body: string;
}

export interface WebhookSenderOptions {
  /** Bound of the whole exchange: DNS, connect, response headers and the capped body read. */
  timeoutMs: number;
  /** Response bytes read at most; the connection is closed after them. */
  maxResponseBytes: number;
  /** Loopback, private and link-local targets allowed (development and tests only). */
  allowPrivateAddresses: boolean;
  /** Only https URLs (production). */
  requireHttps: boolean;
  userAgent: string;
  /** Resolves host names; default the system resolver (tests inject their own). */
  lookup?: LookupAll;
}

export type WebhookAttempt =
  | { ok: true; statusCode: number; durationMs: number; responseBody: string }
  | {
      ok: false;
      statusCode?: number;
      error: string;
      durationMs: number;
      responseBody?: string;
      /** False only when the URL or its address is refused: another try meets the same refusal. */
      retryable: boolean;
    };

/** Response text kept for the delivery log: enough to diagnose, never a whole page. */
const LOGGED_RESPONSE_BYTES = 1024;

/** Headers the sender writes itself: a caller's copy could contradict the request sent. */
const SENDER_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

type Outcome<Attempt = WebhookAttempt> = Attempt extends unknown
  ? Omit<Attempt, 'durationMs'>
  : never;

export class WebhookSender {
  constructor(private readonly options: WebhookSenderOptions) {}

  async send(request: WebhookRequest): Promise<WebhookAttempt> {
    const startedAt = performance.now();
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort();
    }, this.options.timeoutMs);
    try {
      const outcome = await this.attempt(request, deadline.signal);
      return { ...outcome, durationMs: Math.round(performance.now() - startedAt) };
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(request: WebhookRequest, deadline: AbortSignal): Promise<Outcome> {
    const url = this.checkUrl(request.url);
    if (typeof url === 'string') {
      return refusal(url);
    }
    let address: ResolvedAddress | 'deadline';
    try {
      address = await beforeDeadline(
        resolveAllowedAddress(url.hostname, {
          allowPrivate: this.options.allowPrivateAddresses,
          lookup: this.options.lookup,
        }),
        deadline,
      );
    } catch (error) {
      if (error instanceof WebhookAddressError) {
        return error.problem === 'refused'
          ? refusal(`address refused: ${error.message}`)
          : { ok: false, error: `DNS lookup failed: ${error.message}`, retryable: true };
      }
      throw error;
    }
    // The deadline may have passed just as the lookup settled; an abort event already
    // dispatched would never reach the exchange's listener.
    if (address === 'deadline' || deadline.aborted) {
      return this.timedOut();
    }
    return this.exchange(url, address, request, deadline);
  }

  /** The URL to send to, or why it is refused. */
  private checkUrl(text: string): URL | string {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return 'invalid URL';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return `URL refused: ${url.protocol.slice(0, -1)} is not http or https`;
    }
    if (this.options.requireHttps && url.protocol === 'http:') {
      return 'URL refused: https is required';
    }
    if (url.username !== '' || url.password !== '') {
      return 'URL refused: credentials in the URL are not allowed';
    }
    return url;
  }

  private exchange(
    url: URL,
    address: ResolvedAddress,
    request: WebhookRequest,
    deadline: AbortSignal,
  ): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const secure = url.protocol === 'https:';
      // The original host name stays in the request: it is the Host header, the TLS server
      // name (SNI) and the name the certificate must match. Only the lookup is pinned.
      const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const options: RequestOptions & { servername?: string } = {
        method: 'POST',
        hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: this.headers(request),
        agent: false,
        lookup: pinnedLookup(address),
      };
      if (secure && isIP(hostname) === 0) {
        options.servername = hostname;
      }

      let settled = false;
      let handshaking = false;
      let response: IncomingMessage | undefined;
      let outgoing: ClientRequest | undefined;
      const settle = (outcome: Outcome): void => {
        if (settled) {
          return;
        }
        settled = true;
        deadline.removeEventListener('abort', onDeadline);
        response?.destroy();
        outgoing?.destroy();
        resolve(outcome);
      };
      const kept: Buffer[] = [];
      let keptBytes = 0;
      const answered = (statusCode: number): void => {
        settle(judge(statusCode, Buffer.concat(kept).toString('utf8')));
      };
      // Once the status line has arrived it decides; a body cut short by the deadline only
      // shortens what the log keeps.
      const onDeadline = (): void => {
        if (response?.statusCode === undefined) {
          settle(this.timedOut());
        } else {
          answered(response.statusCode);
        }
      };
      deadline.addEventListener('abort', onDeadline, { once: true });

      try {
        outgoing = (secure ? httpsRequest : httpRequest)(options, (incoming) => {
          response = incoming;
          const statusCode = incoming.statusCode ?? 0;
          let readBytes = 0;
          incoming.on('data', (chunk: Buffer) => {
            readBytes += chunk.length;
            if (keptBytes < LOGGED_RESPONSE_BYTES) {
              const part = chunk.subarray(0, LOGGED_RESPONSE_BYTES - keptBytes);
              kept.push(part);
              keptBytes += part.length;
            }
            if (readBytes >= this.options.maxResponseBytes) {
              answered(statusCode);
            }
          });
          incoming.on('end', () => {
            answered(statusCode);
          });
          incoming.on('error', () => {
            answered(statusCode);
          });
          incoming.on('close', () => {
            answered(statusCode);
          });
        });
      } catch (error) {
        // Node refuses a header value with control characters before sending anything.
        settle({ ok: false, error: `invalid request: ${messageOf(error)}`, retryable: false });
        return;
      }
      outgoing.on('socket', (socket) => {
        if (secure) {
          socket.once('connect', () => {
            handshaking = true;
          });
          socket.once('secureConnect', () => {
            handshaking = false;
          });
        }
      });
      outgoing.on('error', (error) => {
        if (response?.statusCode !== undefined) {
          answered(response.statusCode);
        } else {
          settle({ ok: false, error: describeFailure(error, handshaking), retryable: true });
        }
      });
      outgoing.end(request.body);
    });
  }

  private headers(request: WebhookRequest): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (!SENDER_HEADERS.has(name.toLowerCase())) {
        headers[name] = value;
      }
    }
    headers['user-agent'] = this.options.userAgent;
    headers['content-length'] = Buffer.byteLength(request.body, 'utf8');
    return headers;
  }

  private timedOut(): Outcome {
    return { ok: false, error: `timed out after ${this.options.timeoutMs} ms`, retryable: true };
  }
}

function refusal(error: string): Outcome {
  return { ok: false, error, retryable: false };
}

function judge(statusCode: number, responseBody: string): Outcome {
  if (statusCode >= 200 && statusCode < 300) {
    return { ok: true, statusCode, responseBody };
  }
  const error =
    statusCode >= 300 && statusCode < 400
      ? `redirect (${statusCode}) not followed`
      : `HTTP ${statusCode}`;
  return { ok: false, statusCode, error, responseBody, retryable: true };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What `work` gives, or `'deadline'` as soon as the deadline passes (`work` is not cancelled). */
async function beforeDeadline<T>(work: Promise<T>, deadline: AbortSignal): Promise<T | 'deadline'> {
  if (deadline.aborted) {
    return 'deadline';
  }
  let onDeadline = (): void => undefined;
  const passed = new Promise<'deadline'>((resolve) => {
    onDeadline = () => {
      resolve('deadline');
    };
    deadline.addEventListener('abort', onDeadline, { once: true });
  });
  try {
    return await Promise.race([work, passed]);
  } finally {
    deadline.removeEventListener('abort', onDeadline);
  }
}

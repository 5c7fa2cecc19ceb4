import { type IncomingMessage, request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Transform } from 'node:stream';
import {
  type LookupAll,
  resolveAllowedAddress,
  WebhookAddressError,
} from '../webhooks/delivery/address-policy.js';
import { describeFailure, pinnedLookup } from '../webhooks/delivery/outbound-request.js';

/**
 * Downloads a call recording from the carrier. The URL arrives in a status callback, so it is
 * treated like any address from outside: http(s) only, resolved once and refused when it is
 * private (unless allowed for development), connected to exactly the address checked, no
 * redirect followed, the whole exchange bounded in time and the body in bytes. The user's
 * Exotel credentials go only to Exotel's own hosts, never to wherever a URL points.
 */

export interface RecordingFetcherOptions {
  /** Bound of the whole download: DNS, connect, headers and every byte of the body. */
  timeoutMs: number;
  /** Bytes at most; a larger recording fails with `RecordingTooLargeError`. */
  maxBytes: number;
  allowPrivateAddresses: boolean;
  /** Hosts (besides `*.exotel.com` and `*.exotel.in`) that get the user's credentials. */
  credentialHosts: readonly string[];
  lookup?: LookupAll;
}

export interface Credentials {
  username: string;
  password: string;
}

/** Why a recording could not be downloaded; `retryable` says whether another try may work. */
export type RecordingFetchProblem =
  | { kind: 'missing'; statusCode: number; message: string }
  | { kind: 'too-large'; message: string }
  | { kind: 'refused'; message: string }
  | { kind: 'failed'; statusCode?: number; message: string; retryable: boolean };

export type RecordingFetchResult =
  | {
      ok: true;
      /** The body, capped at `maxBytes` (it fails with RecordingTooLargeError past them). */
      body: NodeJS.ReadableStream & Transform;
      contentType?: string;
      contentLength?: number;
    }
  | { ok: false; problem: RecordingFetchProblem };

export class RecordingTooLargeError extends Error {
  override readonly name = 'RecordingTooLargeError';
}

export class RecordingTimeoutError extends Error {
  override readonly name = 'RecordingTimeoutError';
}

const EXOTEL_HOST = /(^|\.)exotel\.(com|in)$/i;

export class RecordingFetcher {
  constructor(private readonly options: RecordingFetcherOptions) {}

  /** Whether the user's carrier credentials may be sent to this URL's host. */
  sendsCredentialsTo(url: URL): boolean {
    const host = url.hostname.toLowerCase();
    return (
      (url.protocol === 'https:' && EXOTEL_HOST.test(host)) ||
      this.options.credentialHosts.includes(url.host.toLowerCase())
    );
  }

  async fetch(text: string, credentials?: Credentials): Promise<RecordingFetchResult> {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return refused('the recording URL is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return refused(`the recording URL's scheme ${url.protocol} is not http(s)`);
    }
    if (url.username !== '' || url.password !== '') {
      return refused('the recording URL carries credentials');
    }
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    let address;
    try {
      address = await resolveAllowedAddress(url.hostname, {
        allowPrivate: this.options.allowPrivateAddresses,
        lookup: this.options.lookup,
      });
    } catch (error) {
      if (error instanceof WebhookAddressError) {
        return error.problem === 'refused'
          ? refused(`address refused: ${error.message}`)
          : failed(`DNS lookup failed: ${error.message}`, true);
      }
      throw error;
    }
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = url.protocol === 'https:';
    const request: RequestOptions & { servername?: string } = {
      method: 'GET',
      hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: { accept: 'audio/*, */*;q=0.5', 'user-agent': 'ai-calling-platform-recordings' },
      agent: false,
      lookup: pinnedLookup(address),
      signal: deadline,
      ...(credentials !== undefined && this.sendsCredentialsTo(url)
        ? { auth: `${credentials.username}:${credentials.password}` }
        : {}),
    };
    if (secure && isIP(hostname) === 0) {
      request.servername = hostname;
    }
    let response: IncomingMessage;
    try {
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        const outgoing = (secure ? httpsRequest : httpRequest)(request, resolve);
        outgoing.on('error', reject);
        outgoing.end();
      });
    } catch (error) {
      return deadline.aborted
        ? failed(`timed out after ${this.options.timeoutMs} ms`, true)
        : failed(describeFailure(error as Error, false), true);
    }
    const statusCode = response.statusCode ?? 0;
    if (statusCode < 200 || statusCode >= 300) {
      response.destroy();
      return { ok: false, problem: judge(statusCode) };
    }
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.options.maxBytes) {
      response.destroy();
      return {
        ok: false,
        problem: {
          kind: 'too-large',
          message: `the recording is ${declared} bytes, more than the ${this.options.maxBytes} kept`,
        },
      };
    }
    const body = this.capped(response, deadline);
    const contentType = response.headers['content-type'];
    return {
      ok: true,
      body,
      ...(contentType === undefined ? {} : { contentType }),
      ...(Number.isFinite(declared) ? { contentLength: declared } : {}),
    };
  }

  /** The response as a stream that fails past `maxBytes` or the deadline. */
  private capped(response: IncomingMessage, deadline: AbortSignal): Transform {
    const { maxBytes, timeoutMs } = this.options;
    let received = 0;
    const body = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > maxBytes) {
          callback(
            new RecordingTooLargeError(
              `the recording is larger than the ${maxBytes} bytes kept (stopped at ${received})`,
            ),
          );
          return;
        }
        callback(null, chunk);
      },
    });
    const onDeadline = (): void => {
      body.destroy(new RecordingTimeoutError(`download timed out after ${timeoutMs} ms`));
    };
    deadline.addEventListener('abort', onDeadline, { once: true });
    response.on('error', (error) => {
      body.destroy(deadline.aborted ? new RecordingTimeoutError(error.message) : error);
    });
    // A body cut short (the server closed before Content-Length bytes) is an error, not an end.
    response.on('aborted', () => {
      body.destroy(new Error('the carrier closed the connection before the whole recording'));
    });
    body.on('close', () => {
      deadline.removeEventListener('abort', onDeadline);
      response.destroy();
    });
    response.pipe(body);
    return body;
  }
}

function refused(message: string): RecordingFetchResult {
  return { ok: false, problem: { kind: 'refused', message } };
}

function failed(message: string, retryable: boolean): RecordingFetchResult {
  return { ok: false, problem: { kind: 'failed', message, retryable } };
}

/** A non-2xx answer: gone for good, worth another try later, or a refusal. */
function judge(statusCode: number): RecordingFetchProblem {
  if (statusCode === 404 || statusCode === 410) {
    return {
      kind: 'missing',
      statusCode,
      message: `the carrier no longer has the recording (HTTP ${statusCode})`,
    };
  }
  if (statusCode >= 300 && statusCode < 400) {
    return {
      kind: 'failed',
      statusCode,
      message: `redirect (${statusCode}) not followed`,
      retryable: false,
    };
  }
  const retryable = statusCode >= 500 || statusCode === 408 || statusCode === 429;
  return { kind: 'failed', statusCode, message: `HTTP ${statusCode}`, retryable };
}

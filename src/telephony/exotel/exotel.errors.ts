/**
 * How an Exotel request failed, which decides what to do next:
 * - `client`: Exotel refused the request (4xx other than 429); repeating it cannot help.
 * - `rate-limited`: 429; worth repeating after `retryAfterMs`.
 * - `server`: 5xx, or a 2xx answer that is not what Exotel documents.
 * - `network`: no answer at all (refused connection, reset, DNS, timeout).
 */
export type ExotelErrorKind = 'client' | 'rate-limited' | 'server' | 'network';

export interface ExotelApiErrorDetails {
  httpStatus?: number;
  /** Exotel's own error code (`RestException.Code`) when it sent one. */
  code?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

/** A failed Exotel API request. The message never contains credentials. */
export class ExotelApiError extends Error {
  readonly httpStatus?: number;
  readonly code?: string;
  readonly retryAfterMs?: number;

  constructor(
    readonly kind: ExotelErrorKind,
    message: string,
    details: ExotelApiErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ExotelApiError';
    this.httpStatus = details.httpStatus;
    this.code = details.code;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** Whether sending the same request again may succeed. */
  get retryable(): boolean {
    return this.kind !== 'client';
  }

  /**
   * Whether Exotel certainly did not act on the request: it refused it (4xx, 429), or the
   * request never left this machine (no address, connection refused). After a timeout, a 5xx
   * or a dropped connection, Exotel may well have acted on it.
   */
  get certainlyNotProcessed(): boolean {
    return (
      this.kind === 'client' ||
      this.kind === 'rate-limited' ||
      (this.kind === 'network' && this.code !== undefined && NOT_SENT_CODES.has(this.code))
    );
  }
}

/** Network failures that happen before a request reaches the server. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

const MAX_MESSAGE_LENGTH = 500;

interface RestException {
  Status?: unknown;
  Message?: unknown;
  Code?: unknown;
}

function restExceptionOf(bodyText: string): RestException | undefined {
  try {
    const body: unknown = JSON.parse(bodyText);
    if (typeof body !== 'object' || body === null) {
      return undefined;
    }
    const exception = (body as { RestException?: unknown }).RestException;
    return typeof exception === 'object' && exception !== null ? exception : undefined;
  } catch {
    return undefined;
  }
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') {
    return value.trim();
  }
  return typeof value === 'number' ? String(value) : undefined;
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) {
    return undefined;
  }
  if (/^\d+$/.test(text)) {
    return Number(text) * 1000;
  }
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Classifies a non-2xx answer, reading Exotel's `{RestException: {Status, Message, Code}}` body. */
export function exotelErrorFromResponse(
  httpStatus: number,
  headers: Headers,
  bodyText: string,
  defaultRetryAfterMs: number,
): ExotelApiError {
  const exception = restExceptionOf(bodyText);
  const exotelMessage = scalar(exception?.Message)?.slice(0, MAX_MESSAGE_LENGTH);
  const message = exotelMessage ?? `Exotel answered HTTP ${httpStatus}`;
  const code = scalar(exception?.Code);
  if (httpStatus === 429) {
    const retryAfterMs = parseRetryAfter(headers.get('retry-after')) ?? defaultRetryAfterMs;
    return new ExotelApiError('rate-limited', message, { httpStatus, code, retryAfterMs });
  }
  return new ExotelApiError(httpStatus >= 500 ? 'server' : 'client', message, {
    httpStatus,
    code,
  });
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A request that got no answer: timed out, or failed below HTTP (fetch's TypeError and its cause). */
export function exotelNetworkError(error: unknown, timeoutMs: number): ExotelApiError {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ExotelApiError('network', `Exotel did not answer within ${timeoutMs} ms`, {
      code: 'TIMEOUT',
      cause: error,
    });
  }
  const cause = (error as { cause?: unknown } | null)?.cause;
  const code = errorCode(cause) ?? errorCode(error);
  const reason = code ?? (error instanceof Error ? error.message : String(error));
  return new ExotelApiError('network', `Exotel could not be reached (${reason})`, {
    code,
    cause: error,
  });
}

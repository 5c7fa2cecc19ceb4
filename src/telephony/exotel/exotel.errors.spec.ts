import { describe, expect, it } from 'vitest';
import {
  ExotelApiError,
  exotelErrorFromResponse,
  exotelNetworkError,
  parseRetryAfter,
} from './exotel.errors.js';

const NO_HEADERS = new Headers();

function restException(status: number, message: string, code?: string | number): string {
  return JSON.stringify({ RestException: { Status: status, Message: message, Code: code } });
}

describe('exotelErrorFromResponse', () => {
  it("takes the message and code from Exotel's RestException", () => {
    const error = exotelErrorFromResponse(
      400,
      NO_HEADERS,
      restException(400, 'Invalid From number', 'INVALID_PARAM'),
      1_000,
    );

    expect(error).toBeInstanceOf(ExotelApiError);
    expect(error).toMatchObject({
      kind: 'client',
      httpStatus: 400,
      code: 'INVALID_PARAM',
      message: 'Invalid From number',
      retryable: false,
    });
  });

  it('reads a numeric code as text', () => {
    expect(
      exotelErrorFromResponse(402, NO_HEADERS, restException(402, 'Low balance', 1003), 0).code,
    ).toBe('1003');
  });

  it.each([401, 403, 404, 409])('treats HTTP %i as a client error', (status) => {
    expect(exotelErrorFromResponse(status, NO_HEADERS, '', 0).kind).toBe('client');
  });

  it.each([500, 502, 503, 504])('treats HTTP %i as a retryable server error', (status) => {
    const error = exotelErrorFromResponse(status, NO_HEADERS, '<html>bad gateway</html>', 0);

    expect(error).toMatchObject({ kind: 'server', httpStatus: status, retryable: true });
    expect(error.message).toBe(`Exotel answered HTTP ${status}`);
  });

  it('takes the wait of a 429 from Retry-After', () => {
    const error = exotelErrorFromResponse(
      429,
      new Headers({ 'Retry-After': '30' }),
      restException(429, 'Rate limit exceeded. Try again in 30 seconds.', 'RATE_LIMIT_EXCEEDED'),
      1_000,
    );

    expect(error).toMatchObject({
      kind: 'rate-limited',
      retryAfterMs: 30_000,
      code: 'RATE_LIMIT_EXCEEDED',
      retryable: true,
    });
  });

  it('uses the default wait for a 429 without Retry-After', () => {
    expect(exotelErrorFromResponse(429, NO_HEADERS, '', 1_500).retryAfterMs).toBe(1_500);
  });

  it('cuts an overlong message', () => {
    const error = exotelErrorFromResponse(
      400,
      NO_HEADERS,
      restException(400, 'x'.repeat(5_000)),
      0,
    );

    expect(error.message).toHaveLength(500);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates', () => {
    const now = Date.parse('2026-11-24T10:00:00Z');

    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('12', now)).toBe(12_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });

  it('gives undefined for a missing or unreadable header', () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('exotelNetworkError', () => {
  it('names a timeout', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');

    expect(exotelNetworkError(timeout, 10_000)).toMatchObject({
      kind: 'network',
      code: 'TIMEOUT',
      message: 'Exotel did not answer within 10000 ms',
    });
  });

  it("names the system error behind fetch's TypeError", () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    });

    const error = exotelNetworkError(refused, 10_000);

    expect(error).toMatchObject({ kind: 'network', code: 'ECONNREFUSED', retryable: true });
    expect(error.message).toBe('Exotel could not be reached (ECONNREFUSED)');
    expect(error.cause).toBe(refused);
  });
});

describe('ExotelApiError.certainlyNotProcessed', () => {
  const networkFailure = (code: string) =>
    exotelNetworkError(
      new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) }),
      10_000,
    );

  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'])(
    'holds for %s: the request never left this machine',
    (code) => {
      expect(networkFailure(code).certainlyNotProcessed).toBe(true);
    },
  );

  it('holds for refusals: a 4xx and a 429', () => {
    expect(
      new ExotelApiError('client', 'Bad Request', { httpStatus: 400 }).certainlyNotProcessed,
    ).toBe(true);
    expect(
      new ExotelApiError('rate-limited', 'Slow down', { httpStatus: 429 }).certainlyNotProcessed,
    ).toBe(true);
  });

  it('does not hold when Exotel may have acted: 5xx, timeout, reset connection', () => {
    expect(
      new ExotelApiError('server', 'Bad Gateway', { httpStatus: 502 }).certainlyNotProcessed,
    ).toBe(false);
    const timeout = new DOMException('aborted', 'TimeoutError');
    expect(exotelNetworkError(timeout, 10_000).certainlyNotProcessed).toBe(false);
    expect(networkFailure('ECONNRESET').certainlyNotProcessed).toBe(false);
    expect(new ExotelApiError('network', 'no code').certainlyNotProcessed).toBe(false);
  });
});

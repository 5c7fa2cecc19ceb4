import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RecordingFetcher,
  type RecordingFetcherOptions,
  RecordingTimeoutError,
  RecordingTooLargeError,
} from '../src/recordings/recording-fetcher.js';

const CREDENTIALS = { username: 'key', password: 'token' };

describe('RecordingFetcher: downloads from an address given by a callback', () => {
  let server: Server;
  let base: string;
  const seen: IncomingHttpHeaders[] = [];

  const fetcher = (options: Partial<RecordingFetcherOptions> = {}) =>
    new RecordingFetcher({
      timeoutMs: 2000,
      maxBytes: 1024,
      allowPrivateAddresses: true,
      credentialHosts: [],
      ...options,
    });

  beforeAll(async () => {
    server = createServer((request, response) => {
      seen.push(request.headers);
      const path = request.url ?? '/';
      if (path === '/redirect.mp3') {
        response.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
        response.end();
      } else if (path === '/slow.mp3') {
        response.writeHead(200, { 'content-type': 'audio/mpeg' });
        response.write(Buffer.alloc(10));
        // Never ends: the deadline must.
      } else if (path === '/forbidden.mp3') {
        response.writeHead(403);
        response.end();
      } else if (path === '/busy.mp3') {
        response.writeHead(429);
        response.end();
      } else {
        response.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': '5' });
        response.end('audio');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('downloads, with credentials only for a credential host', async () => {
    seen.length = 0;
    const plain = await fetcher().fetch(`${base}/a.mp3`, CREDENTIALS);
    expect(plain.ok).toBe(true);
    if (plain.ok) {
      expect((await buffer(plain.body)).toString()).toBe('audio');
      expect(plain).toMatchObject({ contentType: 'audio/mpeg', contentLength: 5 });
    }
    const trusted = await fetcher({ credentialHosts: [new URL(base).host] }).fetch(
      `${base}/a.mp3`,
      CREDENTIALS,
    );
    if (trusted.ok) {
      await buffer(trusted.body);
    }
    expect(seen.map((headers) => headers.authorization)).toEqual([
      undefined,
      `Basic ${Buffer.from('key:token').toString('base64')}`,
    ]);
  });

  it('sends credentials to Exotel hosts over https only', () => {
    const exotel = fetcher();
    expect(exotel.sendsCredentialsTo(new URL('https://recordings.exotel.com/a.mp3'))).toBe(true);
    expect(exotel.sendsCredentialsTo(new URL('https://api.in.exotel.in/a.mp3'))).toBe(true);
    expect(exotel.sendsCredentialsTo(new URL('http://recordings.exotel.com/a.mp3'))).toBe(false);
    expect(exotel.sendsCredentialsTo(new URL('https://exotel.com.evil.test/a.mp3'))).toBe(false);
    expect(exotel.sendsCredentialsTo(new URL('https://notexotel.com/a.mp3'))).toBe(false);
  });

  it('refuses private addresses, other schemes and credentials in the URL, without a request', async () => {
    seen.length = 0;
    const strict = fetcher({ allowPrivateAddresses: false });
    const cases: Array<[string, RegExp]> = [
      [`${base}/a.mp3`, /address refused: 127\.0\.0\.1 is a loopback address/],
      ['http://169.254.169.254/latest/meta-data/', /link-local|metadata/],
      ['file:///etc/passwd', /scheme file: is not http/],
      [`http://user:pass@127.0.0.1:1/a.mp3`, /carries credentials/],
      ['not a url', /not a valid URL/],
    ];
    for (const [url, reason] of cases) {
      const result = await strict.fetch(url, CREDENTIALS);
      expect(result.ok, url).toBe(false);
      if (!result.ok) {
        expect(result.problem.kind, url).toBe('refused');
        expect(result.problem.message, url).toMatch(reason);
      }
    }
    expect(seen).toHaveLength(0);
  });

  it('follows no redirect, and tells which failures another try may get past', async () => {
    const outcomes = await Promise.all(
      ['/redirect.mp3', '/forbidden.mp3', '/busy.mp3'].map((path) =>
        fetcher().fetch(`${base}${path}`),
      ),
    );
    expect(outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.problem))).toEqual([
      { kind: 'failed', statusCode: 302, message: 'redirect (302) not followed', retryable: false },
      { kind: 'failed', statusCode: 403, message: 'HTTP 403', retryable: false },
      { kind: 'failed', statusCode: 429, message: 'HTTP 429', retryable: true },
    ]);
    const refused = await fetcher().fetch('http://127.0.0.1:1/closed.mp3');
    expect(refused.ok ? undefined : refused.problem).toMatchObject({
      kind: 'failed',
      retryable: true,
    });
  });

  it('stops a download at the deadline and past the size cap', async () => {
    const slow = await fetcher({ timeoutMs: 300 }).fetch(`${base}/slow.mp3`);
    expect(slow.ok).toBe(true);
    if (slow.ok) {
      await expect(buffer(slow.body)).rejects.toBeInstanceOf(RecordingTimeoutError);
    }
    const capped = await fetcher({ maxBytes: 4 }).fetch(`${base}/a.mp3`);
    expect(capped.ok ? undefined : capped.problem.kind).toBe('too-large');
    const streamedCap = await fetcher({ maxBytes: 6 }).fetch(`${base}/slow.mp3`);
    if (streamedCap.ok) {
      await expect(buffer(streamedCap.body)).rejects.toBeInstanceOf(RecordingTooLargeError);
    }
    expect(streamedCap.ok).toBe(true);
  });
});

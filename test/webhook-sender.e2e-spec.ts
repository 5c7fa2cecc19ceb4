import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LookupAll } from '../src/webhooks/delivery/address-policy.js';
import {
  type WebhookRequest,
  WebhookSender,
  type WebhookSenderOptions,
} from '../src/webhooks/delivery/webhook-sender.js';
import {
  generateWebhookSecret,
  signatureHeader,
  verifyWebhook,
} from '../src/webhooks/delivery/webhook-signature.js';
import {
  RECEIVER_TLS_HOSTNAME,
  startWebhookReceiver,
  type WebhookReceiver,
} from './support/webhook-receiver.js';

const USER_AGENT = 'ai-calling-platform-webhooks/test';
const SECRET = generateWebhookSecret();

function sender(options: Partial<WebhookSenderOptions> = {}): WebhookSender {
  return new WebhookSender({
    timeoutMs: 5_000,
    maxResponseBytes: 64 * 1024,
    allowPrivateAddresses: true,
    requireHttps: false,
    userAgent: USER_AGENT,
    ...options,
  });
}

/** A signed delivery of `payload` to `url`, as the delivery job builds it. */
function webhook(url: string, payload: unknown = { type: 'call.completed' }): WebhookRequest {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const body = JSON.stringify(payload);
  return {
    url,
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader([SECRET], id, timestamp, body),
    },
  };
}

function answering(...addresses: string[]): LookupAll {
  return () =>
    Promise.resolve(
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
}

/** A port on 127.0.0.1 that was listening a moment ago and is closed now. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('WebhookSender (real HTTP on 127.0.0.1)', () => {
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
  });

  afterEach(async () => {
    await receiver.close();
  });

  it('delivers the body and the headers exactly, and reports a 2xx as ok', async () => {
    receiver.respond('/hooks', { status: 200, body: 'received' });
    const request = webhook(`${receiver.url}/hooks?tenant=7`, {
      type: 'call.completed',
      data: { transcript: 'नमस्ते, how can I help?' },
    });

    const attempt = await sender().send(request);

    expect(attempt).toEqual({
      ok: true,
      statusCode: 200,
      responseBody: 'received',
      durationMs: expect.any(Number),
    });
    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    expect(delivery!.method).toBe('POST');
    expect(delivery!.path).toBe('/hooks?tenant=7');
    expect(delivery!.body).toBe(request.body);
    expect(delivery!.json).toEqual(JSON.parse(request.body));
    expect(delivery!.headers).toMatchObject({
      host: `127.0.0.1:${receiver.port}`,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(request.body)),
      'user-agent': USER_AGENT,
      'webhook-id': request.headers['webhook-id'],
      'webhook-timestamp': request.headers['webhook-timestamp'],
      'webhook-signature': request.headers['webhook-signature'],
    });
    expect(verifyWebhook(SECRET, delivery!, delivery!.body)).toBe(true);
  });

  it('keeps its own Host and Content-Length over the ones a caller passes', async () => {
    const request = webhook(`${receiver.url}/hooks`);
    request.headers.Host = 'internal.example.test';
    request.headers['Content-Length'] = '1';

    const attempt = await sender().send(request);

    expect(attempt.ok).toBe(true);
    expect(receiver.received[0]!.headers.host).toBe(`127.0.0.1:${receiver.port}`);
    expect(receiver.received[0]!.body).toBe(request.body);
  });

  it('refuses a header value Node would not send, without sending anything', async () => {
    const request = webhook(`${receiver.url}/hooks`);
    request.headers['webhook-id'] = 'msg_1\r\nx-injected: yes';

    const attempt = await sender().send(request);

    expect(attempt).toMatchObject({ ok: false, retryable: false });
    expect(attempt.ok ? '' : attempt.error).toMatch(/^invalid request: /);
    expect(receiver.received).toHaveLength(0);
  });

  it('reports a 500 as a retryable failure with its status and the start of the body', async () => {
    receiver.respond('/hooks', { status: 500, body: 'database is down' });

    const attempt = await sender().send(webhook(`${receiver.url}/hooks`));

    expect(attempt).toEqual({
      ok: false,
      statusCode: 500,
      error: 'HTTP 500',
      responseBody: 'database is down',
      retryable: true,
      durationMs: expect.any(Number),
    });
  });

  it('reports a 4xx as a failure', async () => {
    receiver.respond('/gone', { status: 410, body: '' });

    const attempt = await sender().send(webhook(`${receiver.url}/gone`));

    expect(attempt).toMatchObject({ ok: false, statusCode: 410, error: 'HTTP 410' });
  });

  it.each([301, 302, 303, 307, 308])(
    'does not follow a redirect (%i): its Location receives nothing',
    async (status) => {
      receiver.respond('/moved', { status, location: `${receiver.url}/elsewhere` });

      const attempt = await sender().send(webhook(`${receiver.url}/moved`));

      expect(attempt).toMatchObject({
        ok: false,
        statusCode: status,
        error: `redirect (${status}) not followed`,
        retryable: true,
      });
      // The send has completed: a followed redirect would already be here.
      expect(receiver.received.map((request) => request.path)).toEqual(['/moved']);
    },
  );

  it('gives up on a receiver that never answers within the time bound, closing the connection', async () => {
    receiver.respond('/slow', { hang: true });
    const startedAt = performance.now();

    const attempt = await sender({ timeoutMs: 300 }).send(webhook(`${receiver.url}/slow`));

    const elapsed = performance.now() - startedAt;
    expect(attempt).toEqual({
      ok: false,
      error: 'timed out after 300 ms',
      retryable: true,
      durationMs: expect.any(Number),
    });
    expect(attempt.durationMs).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
    expect(receiver.received).toHaveLength(1);
    await expect(receiver.received[0]!.outcome).resolves.toBe('closed-early');
  });

  it('counts the DNS lookup in the time bound', async () => {
    const lookup: LookupAll = () => new Promise(() => undefined);
    const startedAt = performance.now();

    const attempt = await sender({ timeoutMs: 200, lookup }).send(
      webhook('http://hooks.example.test/hooks'),
    );

    expect(attempt).toMatchObject({ ok: false, error: 'timed out after 200 ms', retryable: true });
    expect(performance.now() - startedAt).toBeLessThan(1_500);
  });

  it('stops reading a huge response at maxResponseBytes and keeps only its first KiB', async () => {
    const total = 20 * 1024 * 1024;
    receiver.respond('/huge', { status: 200, streamBytes: total });

    const attempt = await sender({ maxResponseBytes: 64 * 1024 }).send(
      webhook(`${receiver.url}/huge`),
    );

    expect(attempt).toMatchObject({ ok: true, statusCode: 200 });
    expect(attempt.responseBody).toBe('x'.repeat(1024));
    // The receiver could not hand over its 20 MB: the sender closed the connection first.
    await expect(receiver.received[0]!.outcome).resolves.toBe('closed-early');
  });

  it('reports a refused connection as retryable', async () => {
    const port = await closedPort();

    const attempt = await sender().send(webhook(`http://127.0.0.1:${port}/hooks`));

    expect(attempt).toEqual({
      ok: false,
      error: 'connection refused',
      retryable: true,
      durationMs: expect.any(Number),
    });
  });

  it('reports a TLS failure when the server does not speak TLS', async () => {
    const attempt = await sender().send(
      webhook(`${receiver.url.replace('http:', 'https:')}/hooks`),
    );

    expect(attempt).toMatchObject({ ok: false, retryable: true });
    expect(attempt.ok ? '' : attempt.error).toMatch(/^TLS error: /);
    expect(receiver.received).toHaveLength(0);
  });

  it('sends the host name as TLS server name to the pinned address, and checks the certificate', async () => {
    const tlsReceiver = await startWebhookReceiver({ tls: true });
    try {
      const lookup = vi.fn(answering('127.0.0.1'));

      const attempt = await sender({ lookup, requireHttps: true }).send(
        webhook(`https://${RECEIVER_TLS_HOSTNAME}:${tlsReceiver.port}/hooks`),
      );

      expect(attempt).toMatchObject({ ok: false, retryable: true });
      expect(attempt.ok ? '' : attempt.error).toMatch(/^TLS error: self[- ]signed certificate/);
      expect(tlsReceiver.serverNames).toEqual([RECEIVER_TLS_HOSTNAME]);
      expect(tlsReceiver.received).toHaveLength(0);
      expect(lookup).toHaveBeenCalledOnce();
    } finally {
      await tlsReceiver.close();
    }
  });

  describe('refuses private addresses when they are not allowed, contacting nothing', () => {
    it.each([
      [
        '127.0.0.1',
        (port: number) => `http://127.0.0.1:${port}/hooks`,
        /^127\.0\.0\.1 is a loopback address$/,
      ],
      [
        'localhost',
        (port: number) => `http://localhost:${port}/hooks`,
        /^localhost resolves to (127\.0\.0\.1|::1), a loopback address$/,
      ],
      ['[::1]', (port: number) => `http://[::1]:${port}/hooks`, /^::1 is a loopback address$/],
      [
        'an IPv4-mapped loopback',
        (port: number) => `http://[::ffff:127.0.0.1]:${port}/hooks`,
        /^::ffff:7f00:1 is a loopback address$/,
      ],
      [
        'a hexadecimal loopback',
        (port: number) => `http://0x7f000001:${port}/hooks`,
        /^127\.0\.0\.1 is a loopback address$/,
      ],
      [
        'the metadata service',
        () => 'http://169.254.169.254/latest/meta-data/',
        /^169\.254\.169\.254 is a cloud metadata address$/,
      ],
      ['10.0.0.1', () => 'http://10.0.0.1/hooks', /^10\.0\.0\.1 is a private address$/],
    ])('%s', async (_name, url, reason) => {
      const attempt = await sender({ allowPrivateAddresses: false }).send(
        webhook(url(receiver.port)),
      );

      expect(attempt).toMatchObject({ ok: false, retryable: false });
      expect(attempt).not.toHaveProperty('statusCode');
      const error = attempt.ok ? '' : attempt.error;
      expect(error.replace(/^address refused: /, '')).toMatch(reason);
      expect(error).toMatch(/^address refused: /);
      expect(receiver.received).toHaveLength(0);
    });

    it.each([[['93.184.215.14', '127.0.0.1']], [['127.0.0.1', '93.184.215.14']]])(
      'a name resolving to %j (public and private)',
      async (addresses) => {
        const lookup = vi.fn(answering(...addresses));

        const attempt = await sender({ allowPrivateAddresses: false, lookup }).send(
          webhook(`http://hooks.example.test:${receiver.port}/hooks`),
        );

        expect(attempt).toMatchObject({
          ok: false,
          error: 'address refused: hooks.example.test resolves to 127.0.0.1, a loopback address',
          retryable: false,
        });
        expect(receiver.received).toHaveLength(0);
      },
    );
  });

  it('connects to the address it resolved once, keeping the host name in the Host header', async () => {
    const lookup = vi.fn(answering('127.0.0.1'));

    const attempt = await sender({ lookup }).send(
      webhook(`http://hooks.example.test:${receiver.port}/pinned`),
    );

    expect(attempt).toMatchObject({ ok: true, statusCode: 200 });
    expect(lookup).toHaveBeenCalledExactlyOnceWith('hooks.example.test');
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.path).toBe('/pinned');
    expect(receiver.received[0]!.headers.host).toBe(`hooks.example.test:${receiver.port}`);
  });

  it('reports a name that does not resolve as retryable', async () => {
    const lookup: LookupAll = () =>
      Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));

    const attempt = await sender({ lookup }).send(webhook('http://nowhere.example.test/hooks'));

    expect(attempt).toMatchObject({
      ok: false,
      error: 'DNS lookup failed: nowhere.example.test could not be resolved (ENOTFOUND)',
      retryable: true,
    });
  });

  it.each([
    [
      'http when https is required',
      true,
      (port: number) => `http://127.0.0.1:${port}/hooks`,
      'URL refused: https is required',
    ],
    [
      'credentials in the URL',
      false,
      (port: number) => `http://user:secret@127.0.0.1:${port}/hooks`,
      'URL refused: credentials in the URL are not allowed',
    ],
    [
      'a user name in the URL',
      false,
      (port: number) => `http://user@127.0.0.1:${port}/hooks`,
      'URL refused: credentials in the URL are not allowed',
    ],
    [
      'another scheme',
      false,
      (port: number) => `ftp://127.0.0.1:${port}/hooks`,
      'URL refused: ftp is not http or https',
    ],
    ['a file URL', false, () => 'file:///etc/passwd', 'URL refused: file is not http or https'],
    ['text that is not a URL', false, () => 'not a url', 'invalid URL'],
  ])('refuses %s without sending', async (_name, requireHttps, url, error) => {
    const attempt = await sender({ requireHttps }).send(webhook(url(receiver.port)));

    expect(attempt).toEqual({ ok: false, error, retryable: false, durationMs: expect.any(Number) });
    expect(receiver.received).toHaveLength(0);
  });
});

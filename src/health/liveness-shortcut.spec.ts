import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LivenessShortcut } from './liveness-shortcut.js';

const PATH = '/api/v1/health';

describe('LivenessShortcut', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  /** A server from the factory whose framework handler answers 418 and records the URL. */
  async function start(shortcut: LivenessShortcut, passed: string[]): Promise<string> {
    server = shortcut.serverFactory(
      (request, response) => {
        passed.push(`${request.method} ${request.url}`);
        response.writeHead(418).end();
      },
      { keepAliveTimeout: 5_000 },
    );
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('answers GET of the path itself, with the request id, before the framework', async () => {
    const passed: string[] = [];
    const base = await start(new LivenessShortcut(PATH, () => 'req-1'), passed);
    for (const url of [PATH, `${PATH}?verbose=1`]) {
      const response = await fetch(`${base}${url}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('x-request-id')).toBe('req-1');
      const body = (await response.json()) as { status: string; uptimeSeconds: number };
      expect(body.status).toBe('ok');
      expect(body.uptimeSeconds).toEqual(expect.any(Number));
    }
    expect(passed).toEqual([]);
  });

  it('hands every other request to the framework', async () => {
    const passed: string[] = [];
    const base = await start(new LivenessShortcut(PATH, () => 'req-1'), passed);
    const others: Array<[string, string]> = [
      ['HEAD', PATH],
      ['POST', PATH],
      ['GET', `${PATH}/ready`],
      ['GET', `${PATH}/`],
      ['GET', `${PATH}x`],
      ['GET', '/api/v1/HEALTH'],
    ];
    for (const [method, url] of others) {
      const response = await fetch(`${base}${url}`, { method });
      expect(response.status).toBe(418);
    }
    expect(passed).toEqual(others.map(([method, url]) => `${method} ${url}`));
  });

  it('hands the path to the framework too once the app is closing', async () => {
    const passed: string[] = [];
    const shortcut = new LivenessShortcut(PATH, () => 'req-1');
    const base = await start(shortcut, passed);
    shortcut.markClosing();
    expect((await fetch(`${base}${PATH}`)).status).toBe(418);
    expect(passed).toEqual([`GET ${PATH}`]);
  });

  it("keeps the framework's connection timeouts on the server it makes", () => {
    const shortcut = new LivenessShortcut(PATH, () => 'req-1');
    const made = shortcut.serverFactory(() => undefined, {
      keepAliveTimeout: 72_000,
      requestTimeout: 30_000,
      connectionTimeout: 0,
      maxRequestsPerSocket: 100,
    });
    expect(made.keepAliveTimeout).toBe(72_000);
    expect(made.requestTimeout).toBe(30_000);
    expect(made.maxRequestsPerSocket).toBe(100);
  });
});

import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

// Each block owns one context and blocks never overlap: Passport keeps one global 'jwt'
// strategy per process, so only the most recently created app verifies tokens correctly.
describe('health', () => {
  describe('with MongoDB and Redis up', () => {
    let context: TestContext;

    beforeAll(async () => {
      context = await createTestContext();
    });
    afterAll(async () => {
      await context.close();
    });

    it('answers liveness without a token', async () => {
      const response = await call(context.app, 'GET', '/api/v1/health');
      expect(response.status).toBe(200);
      expect(response.body.status).toBe('ok');
      expect(response.body.uptimeSeconds).toEqual(expect.any(Number));
    });

    it('reports readiness with both dependencies up', async () => {
      const response = await call(context.app, 'GET', '/api/v1/health/ready');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        status: 'ok',
        checks: { mongodb: 'up', redis: 'up' },
        down: [],
      });
    });

    it('publishes an OpenAPI document with bearer auth and the auth routes', async () => {
      const response = await call(context.app, 'GET', '/docs-json');
      expect(response.status).toBe(200);
      expect(response.body.openapi).toMatch(/^3\./);
      expect(response.body.components.securitySchemes.bearer).toMatchObject({
        type: 'http',
        scheme: 'bearer',
      });
      expect(response.body.paths['/api/v1/auth/login']).toHaveProperty('post');
      expect(response.body.paths['/api/v1/auth/register']).toHaveProperty('post');
      expect(response.body.paths['/api/v1/health/ready']).toHaveProperty('get');
      // Protected routes declare the scheme; public ones do not need it.
      expect(response.body.paths['/api/v1/auth/me'].get.security).toEqual([{ bearer: [] }]);
    });

    it('documents both probes in the OpenAPI document with their response models', async () => {
      const document = (await call(context.app, 'GET', '/docs-json')).body;
      const schemaOf = (path: string, status: string) =>
        document.paths[path].get.responses[status].content['application/json'].schema.$ref;
      expect(schemaOf('/api/v1/health', '200')).toBe('#/components/schemas/LivenessResponse');
      expect(schemaOf('/api/v1/health/ready', '200')).toBe(
        '#/components/schemas/ReadinessResponse',
      );
      expect(schemaOf('/api/v1/health/ready', '503')).toBe(
        '#/components/schemas/ReadinessResponse',
      );
      expect(document.components.schemas.ReadinessResponse.properties).toHaveProperty('down');
      expect(document.paths['/api/v1/health'].get.security).toBeUndefined();
    });

    it('answers probes without browser headers, which other routes keep', async () => {
      const origin = { origin: 'https://app.example.com' };
      for (const path of ['/api/v1/health', '/api/v1/health/ready']) {
        const probe = await call(context.app, 'GET', path, { headers: origin });
        expect(probe.status).toBe(200);
        expect(probe.headers['x-content-type-options']).toBeUndefined();
        expect(probe.headers['access-control-allow-origin']).toBeUndefined();
        expect(probe.headers['x-request-id']).toEqual(expect.any(String));
      }
      const person = await call(context.app, 'GET', '/api/v1/auth/me', { headers: origin });
      expect(person.status).toBe(401);
      expect(person.headers['x-content-type-options']).toBe('nosniff');
      expect(person.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(person.headers['access-control-allow-origin']).toBe('https://app.example.com');
    });

    it('gives every response an x-request-id, a fresh one per request', async () => {
      const first = await call(context.app, 'GET', '/api/v1/health');
      const second = await call(context.app, 'GET', '/api/v1/health');
      expect(first.headers['x-request-id']).toEqual(expect.any(String));
      expect(second.headers['x-request-id']).toEqual(expect.any(String));
      expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']);
    });

    it('echoes a given x-request-id on success and in error bodies', async () => {
      const requestId = 'trace-1234.abc:def';
      const ok = await call(context.app, 'GET', '/api/v1/health', {
        headers: { 'x-request-id': requestId },
      });
      expect(ok.headers['x-request-id']).toBe(requestId);
      const unauthorized = await call(context.app, 'GET', '/api/v1/auth/me', {
        headers: { 'x-request-id': requestId },
      });
      expect(unauthorized.status).toBe(401);
      expect(unauthorized.headers['x-request-id']).toBe(requestId);
      expect(unauthorized.body.requestId).toBe(requestId);
      const notFound = await call(context.app, 'GET', '/api/v1/no-such-route', {
        headers: { 'x-request-id': requestId },
      });
      expect(notFound.status).toBe(404);
      expect(notFound.headers['x-request-id']).toBe(requestId);
    });

    it('replaces an x-request-id that is not a safe token with a generated one', async () => {
      const unsafe = 'id with spaces <script>';
      const response = await call(context.app, 'GET', '/api/v1/health', {
        headers: { 'x-request-id': unsafe },
      });
      expect(response.headers['x-request-id']).toEqual(expect.any(String));
      expect(response.headers['x-request-id']).not.toBe(unsafe);
    });
    // Last in this block: it makes the app listen on a port, which the tests above do not need.
    it('answers liveness over a socket before the framework, and every other route through it', async () => {
      await context.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = context.app.getHttpServer().address() as AddressInfo;
      const base = `http://127.0.0.1:${port}`;
      const origin = 'https://app.example.com';

      const live = await fetch(`${base}/api/v1/health`, {
        headers: { origin, 'x-request-id': 'probe-7' },
      });
      expect(live.status).toBe(200);
      expect(live.headers.get('x-request-id')).toBe('probe-7');
      expect(live.headers.get('x-content-type-options')).toBeNull();
      expect(live.headers.get('access-control-allow-origin')).toBeNull();
      // Fastify's CORS hook adds Vary: Origin to every answer it sees, probes included.
      expect(live.headers.get('vary')).toBeNull();
      const body = (await live.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(
        Object.keys((await call(context.app, 'GET', '/api/v1/health')).body).sort(),
      );
      expect(body.status).toBe('ok');
      const generated = await fetch(`${base}/api/v1/health`);
      expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

      // Readiness, people's routes and unknown paths still go through Fastify and Nest.
      const ready = await fetch(`${base}/api/v1/health/ready`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { checks: unknown }).checks).toEqual({
        mongodb: 'up',
        redis: 'up',
      });
      const person = await fetch(`${base}/api/v1/auth/me`, { headers: { origin } });
      expect(person.status).toBe(401);
      expect(person.headers.get('x-content-type-options')).toBe('nosniff');
      expect(person.headers.get('access-control-allow-origin')).toBe(origin);
      expect((await fetch(`${base}/api/v1/health/`)).status).toBe(404);
    });
  });

  describe('with Redis unreachable', () => {
    const SHUTDOWN_LIMIT_MS = 10_000;
    let context: TestContext;
    let closing: Promise<void> | undefined;

    /** Resolves true when the app closed within the limit, false when it still hangs. */
    const closeWithin = async (limitMs: number): Promise<boolean> => {
      closing ??= context.close();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, limitMs);
      });
      const closed = await Promise.race([closing.then(() => true as const), timedOut]);
      clearTimeout(timer);
      return closed;
    };

    beforeAll(async () => {
      context = await createTestContext({ REDIS_URL: 'redis://127.0.0.1:1' });
    });
    afterAll(async () => {
      // A hung shutdown is reported by its own test; here it must not also stall the file.
      if (!(await closeWithin(1_000))) {
        await context.db.dropDatabase().catch(() => undefined);
      }
    });

    it('still boots and answers liveness', async () => {
      const response = await call(context.app, 'GET', '/api/v1/health');
      expect(response.status).toBe(200);
      expect(response.body.status).toBe('ok');
    });

    it('answers readiness with 503 naming redis as down and mongodb as up', async () => {
      const response = await call(context.app, 'GET', '/api/v1/health/ready');
      expect(response.status).toBe(503);
      expect(response.body.status).toBe('error');
      expect(response.body.down).toEqual(['redis']);
      expect(response.body.checks).toEqual({ mongodb: 'up', redis: 'down' });
    });

    it('shuts down within 10 s, so a SIGTERM during a Redis outage ends the process', async () => {
      expect(await closeWithin(SHUTDOWN_LIMIT_MS)).toBe(true);
    });
  });
});

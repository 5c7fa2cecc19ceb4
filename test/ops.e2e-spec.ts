import { randomBytes } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAdmin, registerUser, type TestUser } from './support/factories.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

describe('ops: Prometheus metrics and the queue dashboard', () => {
  let context: TestContext;
  let user: TestUser;
  let admin: TestUser;
  const metricsToken = randomBytes(24).toString('base64url');
  const scrape = () => call(context.app, 'GET', '/api/v1/metrics', { token: metricsToken });

  beforeAll(async () => {
    context = await createTestContext({ METRICS_TOKEN: metricsToken });
    user = await registerUser(context);
    admin = await registerAdmin(context);
    const now = new Date();
    await context.db.collection('calllogs').insertMany(
      ['completed', 'completed', 'failed'].map((status, index) => ({
        sessionId: `sess_ops_${index}_${new ObjectId().toString()}`,
        userId: new ObjectId(user.id),
        agentId: new ObjectId(),
        fromPhone: '+918030752400',
        toPhone: '+919123456789',
        direction: 'outbound',
        status,
        createdAt: now,
        updatedAt: now,
      })),
    );
  });

  afterAll(async () => {
    await context.redis.del(`user:token:${user.id}`, `user:token:${admin.id}`);
    await context.close();
  });

  describe('GET /metrics', () => {
    it('serves Prometheus text with HTTP latency, calls by status and queue depths to METRICS_TOKEN', async () => {
      // One request that the latency histogram then reports, and a probe that it leaves out.
      expect((await call(context.app, 'GET', '/api/v1/auth/me')).status).toBe(401);
      expect((await call(context.app, 'GET', '/api/v1/health')).status).toBe(200);
      const response = await scrape();
      expect(response.status).toBe(200);
      expect(String(response.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = response.text;
      expect(text).toContain('# TYPE http_request_duration_seconds histogram');
      expect(text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/auth\/me",status_code="401"\} [1-9]/,
      );
      expect(text).not.toContain('route="/api/v1/health"');
      expect(text).toContain('# TYPE calls_by_status gauge');
      expect(text).toMatch(/calls_by_status\{status="completed"\} 2\b/);
      expect(text).toMatch(/calls_by_status\{status="failed"\} 1\b/);
      expect(text).toContain('# TYPE queue_jobs gauge');
      for (const queue of ['call-placement', 'call-events']) {
        for (const state of ['waiting', 'active', 'delayed', 'failed', 'completed']) {
          expect(text).toMatch(
            new RegExp(`queue_jobs\\{queue="${queue}",state="${state}"\\} \\d+`),
          );
        }
      }
    });

    it('labels an unknown route as unmatched instead of one series per URL', async () => {
      await call(context.app, 'GET', '/api/v1/no-such-route-1234');
      const text = (await scrape()).text;
      expect(text).not.toContain('no-such-route-1234');
    });

    it.each([
      ['no token', undefined],
      ['a wrong token', `${metricsToken}x`],
      ["a user's API token", 'user'],
    ])('refuses %s with 401 and no figures', async (_case, token) => {
      const response = await call(context.app, 'GET', '/api/v1/metrics', {
        token: token === 'user' ? user.token : token,
      });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('METRICS_INVALID_TOKEN');
      expect(response.text).not.toContain('calls_by_status');
    });

    it('reuses the calls-by-status count between scrapes instead of grouping every call log again', async () => {
      expect((await scrape()).text).toMatch(/calls_by_status\{status="failed"\} 1\b/);
      await context.db.collection('calllogs').insertOne({
        sessionId: `sess_ops_late_${new ObjectId().toString()}`,
        userId: new ObjectId(user.id),
        agentId: new ObjectId(),
        fromPhone: '+918030752400',
        toPhone: '+919123456789',
        direction: 'outbound',
        status: 'failed',
        createdAt: new Date(),
        updatedAt: new Date(),
      });
      // Within METRICS_CALLS_REFRESH_SECONDS (60 s by default) the earlier count is served.
      expect((await scrape()).text).toMatch(/calls_by_status\{status="failed"\} 1\b/);
    });
  });

  describe('/admin/queues', () => {
    it('refuses a request without a token with 401', async () => {
      const response = await call(context.app, 'GET', '/api/v1/admin/queues');
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ statusCode: 401 });
      expect(response.body.requestId).toEqual(expect.any(String));
    });

    it('refuses an invalid token with 401', async () => {
      const response = await call(context.app, 'GET', '/api/v1/admin/queues', {
        token: 'not.a.jwt',
      });
      expect(response.status).toBe(401);
    });

    it("refuses a user's token with 403, on the page and on the dashboard's API", async () => {
      const page = await call(context.app, 'GET', '/api/v1/admin/queues', { token: user.token });
      expect(page.status).toBe(403);
      const api = await call(context.app, 'GET', '/api/v1/admin/queues/api/queues', {
        token: user.token,
      });
      expect(api.status).toBe(403);
      expect(api.text).not.toContain('call-events');
    });

    it('serves the dashboard and its API to an admin', async () => {
      const response = await call(context.app, 'GET', '/api/v1/admin/queues', {
        token: admin.token,
      });
      expect(response.status).toBe(200);
      expect(String(response.headers['content-type'])).toContain('text/html');
      expect(response.text).toMatch(/<html/i);
      const api = await call(context.app, 'GET', '/api/v1/admin/queues/api/queues', {
        token: admin.token,
      });
      expect(api.status).toBe(200);
      expect(api.text).toContain('call-events');
      expect(api.text).toContain('call-placement');
    });

    it("refuses an admin's token once it is revoked (logout) with 401", async () => {
      const other = await registerAdmin(context);
      expect(
        (await call(context.app, 'POST', '/api/v1/auth/logout', { token: other.token })).status,
      ).toBe(204);
      const response = await call(context.app, 'GET', '/api/v1/admin/queues', {
        token: other.token,
      });
      expect(response.status).toBe(401);
      await context.redis.del(`user:token:${other.id}`);
    });
  });

  // Last: closing a second app in this process breaks the first one's queue dashboard.
  describe('switched off', () => {
    let disabled: TestContext;

    beforeAll(async () => {
      disabled = await createTestContext({ API_DOCS_ENABLED: 'false' });
    });
    afterAll(async () => {
      await disabled.close();
    });

    it('answers 404 on /metrics when METRICS_TOKEN is not set, whatever the token', async () => {
      for (const token of [undefined, 'anything-at-all-anything-at-all-1']) {
        const response = await call(disabled.app, 'GET', '/api/v1/metrics', { token });
        expect(response.status).toBe(404);
        expect(response.body.code).toBe('METRICS_DISABLED');
      }
    });

    it('serves neither /docs nor /docs-json when API_DOCS_ENABLED=false', async () => {
      expect((await call(disabled.app, 'GET', '/docs')).status).toBe(404);
      expect((await call(disabled.app, 'GET', '/docs-json')).status).toBe(404);
      // The same routes exist where the docs are on (the default outside production).
      expect((await call(context.app, 'GET', '/docs-json')).status).toBe(200);
    });
  });
});

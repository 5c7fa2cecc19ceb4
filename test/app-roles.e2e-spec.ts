import { SchedulerRegistry } from '@nestjs/schedule';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallEventsProcessor } from '../src/calls/call-events.processor.js';
import { loadConfig } from '../src/config/app-config.js';
import { CallPlacementProcessor } from '../src/telephony/call-placement.processor.js';
import { call } from './support/http.js';
import { createTestContext, type TestContext } from './support/test-app.js';

function cronJobNames(context: TestContext): string[] {
  return [...context.app.get(SchedulerRegistry).getCronJobs().keys()];
}

describe('process roles (APP_ROLES)', () => {
  describe('a worker-only process', () => {
    let context: TestContext;
    beforeAll(async () => {
      context = await createTestContext({ APP_ROLES: 'worker' });
    });
    afterAll(() => context.close());

    it('registers the queue workers', () => {
      expect(context.app.get(CallEventsProcessor).worker.isRunning()).toBe(true);
      expect(context.app.get(CallPlacementProcessor).worker.isRunning()).toBe(true);
    });

    it('serves no API route, but health and metrics', async () => {
      expect((await call(context.app, 'POST', '/api/v1/auth/login', { body: {} })).status).toBe(
        404,
      );
      expect((await call(context.app, 'GET', '/api/v1/agents')).status).toBe(404);
      expect((await call(context.app, 'GET', '/api/v1/admin/queues')).status).toBe(404);
      expect((await call(context.app, 'GET', '/api/v1/health')).status).toBe(200);
      expect((await call(context.app, 'GET', '/docs-json')).status).toBe(404);
    });

    it('runs no cron', () => {
      expect(cronJobNames(context)).toEqual([]);
    });
  });

  describe('an API-only process with the scheduler', () => {
    let context: TestContext;
    beforeAll(async () => {
      context = await createTestContext({ APP_ROLES: 'api,scheduler', SCHEDULER_ENABLED: 'true' });
    });
    afterAll(() => context.close());

    it('serves the API', async () => {
      expect((await call(context.app, 'GET', '/api/v1/agents')).status).toBe(401);
      expect((await call(context.app, 'GET', '/docs-json')).status).toBe(200);
    });

    it('registers no queue worker', () => {
      expect(() => context.app.get(CallEventsProcessor)).toThrow();
      expect(() => context.app.get(CallPlacementProcessor)).toThrow();
    });

    it('registers the crons', () => {
      expect(cronJobNames(context)).toEqual(expect.arrayContaining(['reconcile-calls']));
    });
  });

  it('runs every role when APP_ROLES is not set', () => {
    const { config } = loadConfig({ NODE_ENV: 'test' });
    expect(config.roles).toEqual({ api: true, worker: true, scheduler: true, media: true });
  });

  it('refuses an unknown or empty role list', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', APP_ROLES: 'api,web' })).toThrow(/APP_ROLES/);
    expect(() => loadConfig({ NODE_ENV: 'test', APP_ROLES: ' , ' })).toThrow(/APP_ROLES/);
  });
});

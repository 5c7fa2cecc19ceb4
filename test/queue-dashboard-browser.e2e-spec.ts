import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Queues } from '../src/infra/queue/queues.js';
import { registerAdmin, registerUser, type TestUser } from './support/factories.js';
import { createTestContext, type TestContext } from './support/test-app.js';

/** Debian's Chromium; playwright-core drives it and downloads no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const DASHBOARD = '/api/v1/admin/queues';
const SIGN_IN = '/api/v1/admin/queue-dashboard/sign-in';
const STEP_TIMEOUT_MS = 15_000;
const TEST_TIMEOUT_MS = 60_000;

describe('queue dashboard in a real browser', () => {
  let context: TestContext;
  let origin: string;
  let admin: TestUser;
  let user: TestUser;
  let browser: Browser | undefined;
  const sessions: BrowserContext[] = [];
  const placementQueue = (): Queue => context.app.get<Queue>(getQueueToken(Queues.callPlacement));

  /** A fresh browser profile (no cookies) that can reach nothing but this app. */
  async function openPage(): Promise<{ page: Page; session: BrowserContext }> {
    if (!browser) {
      throw new Error(
        `Chromium is required at ${CHROMIUM} for this test: install it with ` +
          '`apt-get install -y chromium` (.ci/run does this when it is missing)',
      );
    }
    const session = await browser.newContext();
    sessions.push(session);
    session.setDefaultTimeout(STEP_TIMEOUT_MS);
    // bull-board's UI may ask for fonts or scripts elsewhere; tests never leave the machine.
    await session.route('**/*', (route) =>
      new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
    );
    return { page: await session.newPage(), session };
  }

  async function signInThroughTheForm(page: Page, who: TestUser): Promise<number | undefined> {
    await page.locator('input[name="email"]').fill(who.email);
    await page.locator('input[name="password"]').fill(who.password);
    const [response] = await Promise.all([
      page.waitForResponse(
        (candidate) =>
          candidate.request().method() === 'POST' && new URL(candidate.url()).pathname === SIGN_IN,
      ),
      page.locator('button[type="submit"]', { hasText: 'Sign in' }).click(),
    ]);
    return response.status();
  }

  beforeAll(async () => {
    context = await createTestContext();
    await context.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = context.app.getHttpServer().address() as AddressInfo;
    origin = `http://127.0.0.1:${port}`;
    admin = await registerAdmin(context);
    user = await registerUser(context);
    if (existsSync(CHROMIUM)) {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // Tests run as root, where Chromium's sandbox cannot start.
        args: ['--no-sandbox'],
        timeout: 30_000,
      });
    }
  });

  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((session) => session.close()));
    await placementQueue().resume();
  });

  afterAll(async () => {
    await browser?.close();
    await context.redis.del(`user:token:${admin.id}`, `user:token:${user.id}`);
    await context.close();
  });

  it(
    'shows an anonymous visitor the sign-in form and no queue',
    async () => {
      const { page } = await openPage();
      await page.goto(`${origin}${DASHBOARD}`);
      expect(new URL(page.url()).pathname).toBe(SIGN_IN);
      await expect(page.locator('input[name="password"]').isVisible()).resolves.toBe(true);
      const content = await page.content();
      expect(content).not.toContain(Queues.callPlacement);
      expect(content).not.toContain(Queues.callEvents);
      const api = await page.evaluate(async (url) => {
        const response = await fetch(url);
        return { status: response.status, body: await response.text() };
      }, `${DASHBOARD}/api/queues`);
      expect(api.status).toBe(401);
      expect(api.body).not.toContain(Queues.callPlacement);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'lets an admin sign in through the form and see the queues in the dashboard',
    async () => {
      const { page, session } = await openPage();
      await page.goto(`${origin}${DASHBOARD}`);
      expect(new URL(page.url()).pathname).toBe(SIGN_IN);
      expect(await signInThroughTheForm(page, admin)).toBe(303);
      await page.waitForURL(`${origin}${DASHBOARD}`);
      // Rendered by bull-board's UI from its API, on the cookie alone.
      await page.getByText(Queues.callEvents).first().waitFor();
      await page.getByText(Queues.callPlacement).first().waitFor();

      const cookie = (await session.cookies(`${origin}${DASHBOARD}`)).find(
        (candidate) => candidate.name === 'queue_dashboard_session',
      );
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: DASHBOARD });
      expect((cookie?.expires ?? 0) * 1000 - Date.now()).toBeLessThanOrEqual(15 * 60 * 1000);
      // HttpOnly: the page's scripts cannot read it.
      expect(await page.evaluate<string>('document.cookie')).not.toContain(
        'queue_dashboard_session',
      );

      // The dashboard's own pages may change state: the browser marks them same-origin.
      const paused = await page.evaluate(
        async (url) => (await fetch(url, { method: 'PUT' })).status,
        `${DASHBOARD}/api/queues/${Queues.callPlacement}/pause`,
      );
      expect(paused).toBe(200);
      expect(await placementQueue().isPaused()).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'refuses a non-admin who signs in and shows no queue',
    async () => {
      const { page, session } = await openPage();
      await page.goto(`${origin}${SIGN_IN}`);
      expect(await signInThroughTheForm(page, user)).toBe(403);
      await expect(page.getByRole('alert').textContent()).resolves.toContain(
        'This account cannot open the queue dashboard.',
      );
      expect(
        (await session.cookies(`${origin}${DASHBOARD}`)).map((candidate) => candidate.name),
      ).not.toContain('queue_dashboard_session');

      await page.goto(`${origin}${DASHBOARD}`);
      expect(new URL(page.url()).pathname).toBe(SIGN_IN);
      const content = await page.content();
      expect(content).not.toContain(Queues.callPlacement);
      expect(content).not.toContain(Queues.callEvents);
    },
    TEST_TIMEOUT_MS,
  );
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AppConfig, loadConfig } from '../../config/app-config.js';
import { ExotelClient, exotelFlowUrl, retryDelayMs } from './exotel.client.js';
import { ExotelApiError } from './exotel.errors.js';
import type { RequestBudget } from './exotel-request-budget.js';
import type { ExotelCredentials } from './exotel.types.js';

const CREDENTIALS: ExotelCredentials = {
  apiKey: 'key',
  apiToken: 'secret-token',
  sid: 'acme1',
  subdomain: 'api.in.exotel.com',
};

/** No request budget: these tests are about the client, not Exotel's rate limit. */
const UNLIMITED: RequestBudget = { acquire: () => Promise.resolve() };

function configWith(environment: Record<string, string> = {}): AppConfig {
  return loadConfig({ NODE_ENV: 'test', ...environment }).config;
}

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** Replaces the global fetch; answers every request with `answer()` and records the URLs. */
function stubFetch(answer: () => Response): string[] {
  const urls: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn((input: string | URL) => {
      urls.push(String(input));
      return Promise.resolve(answer());
    }),
  );
  return urls;
}

describe('exotelFlowUrl', () => {
  it("builds Exotel's start_voice URL for a flow", () => {
    expect(exotelFlowUrl('acme1', '246810')).toBe(
      'http://my.exotel.com/acme1/exoml/start_voice/246810',
    );
  });
});

describe('retryDelayMs', () => {
  const options = { baseDelayMs: 200, maxDelayMs: 5_000 };

  it('doubles per retry, between half and all of the exponential step', () => {
    expect(retryDelayMs(1, options, () => 0)).toBe(100);
    expect(retryDelayMs(1, options, () => 1)).toBe(200);
    expect(retryDelayMs(3, options, () => 0)).toBe(400);
    expect(retryDelayMs(3, options, () => 1)).toBe(800);
  });

  it('never waits longer than the cap', () => {
    expect(retryDelayMs(20, options, () => 1)).toBe(5_000);
  });
});

describe('ExotelClient', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it("calls the account's regional host when no base URL is configured", async () => {
    const urls = stubFetch(() => jsonResponse({ Call: { Sid: 'c1', Status: 'completed' } }));
    const client = new ExotelClient(configWith(), UNLIMITED);

    await client.getCallDetails(CREDENTIALS, 'c1');

    expect(urls).toEqual(['https://api.in.exotel.com/v1/Accounts/acme1/Calls/c1.json']);
  });

  it('uses EXOTEL_API_BASE_URL without doubling its trailing slash, and escapes path parts', async () => {
    const urls = stubFetch(() => jsonResponse({ Call: { Sid: 'c/1' } }));
    const client = new ExotelClient(
      configWith({ EXOTEL_API_BASE_URL: 'http://proxy.local:8080/' }),
      UNLIMITED,
    );

    await client.getCallDetails(CREDENTIALS, 'c/1');

    expect(urls).toEqual(['http://proxy.local:8080/v1/Accounts/acme1/Calls/c%2F1.json']);
  });

  it('reads a numeric Duration and treats an unreadable one as unknown', async () => {
    let duration: unknown = 42;
    stubFetch(() => jsonResponse({ Call: { Sid: 'c1', Status: 'completed', Duration: duration } }));
    const client = new ExotelClient(configWith(), UNLIMITED);

    expect((await client.getCallDetails(CREDENTIALS, 'c1')).durationSec).toBe(42);
    duration = 'n/a';
    expect((await client.getCallDetails(CREDENTIALS, 'c1')).durationSec).toBeUndefined();
  });

  it('does not repeat a connect whose 200 answer lacks the Call.Sid, since the call may exist', async () => {
    const urls = stubFetch(() => jsonResponse({ Call: { Status: 'queued' } }));
    const client = new ExotelClient(configWith(), UNLIMITED, { baseDelayMs: 1 });

    const attempt = client.connectCall(CREDENTIALS, {
      from: '+919876543210',
      callerId: '+918030752400',
      url: exotelFlowUrl('acme1', '1'),
      statusCallback: 'https://voice.example.test/status',
    });

    await expect(attempt).rejects.toMatchObject({ kind: 'server' });
    expect(urls).toHaveLength(1);
  });

  it('does not repeat a 200 answer that is not JSON', async () => {
    const urls = stubFetch(() => new Response('<Call/>', { status: 200 }));
    const client = new ExotelClient(configWith(), UNLIMITED, { baseDelayMs: 1 });

    const error: unknown = await client.getCallDetails(CREDENTIALS, 'c1').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ExotelApiError);
    expect(error).toMatchObject({ kind: 'server', httpStatus: 200 });
    expect(urls).toHaveLength(1);
  });

  it('counts every request against the account before sending it', async () => {
    stubFetch(() => jsonResponse({ Call: { Sid: 'c1' } }));
    const counted: string[] = [];
    const client = new ExotelClient(configWith(), {
      acquire: (accountSid) => {
        counted.push(accountSid);
        return Promise.resolve();
      },
    });

    await client.getCallDetails(CREDENTIALS, 'c1');
    await client.getCallDetails({ ...CREDENTIALS, sid: 'other-account' }, 'c1');

    expect(counted).toEqual(['acme1', 'other-account']);
  });
});

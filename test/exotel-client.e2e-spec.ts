import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  inject,
  it,
  vi,
} from 'vitest';
import type { AppConfig } from '../src/config/app-config.js';
import { ExotelClient, exotelFlowUrl } from '../src/telephony/exotel/exotel.client.js';
import { ExotelRequestBudget } from '../src/telephony/exotel/exotel-request-budget.js';
import { ExotelApiError } from '../src/telephony/exotel/exotel.errors.js';
import type {
  ConnectCallRequest,
  ExotelCredentials,
} from '../src/telephony/exotel/exotel.types.js';
import {
  DEFAULT_FAKE_ACCOUNT,
  type FakeExotel,
  startFakeExotel,
} from './support/fake-exotel-server.js';
import { testConfig, uniqueName } from './support/test-app.js';

const CREDENTIALS: ExotelCredentials = {
  apiKey: DEFAULT_FAKE_ACCOUNT.apiKey,
  apiToken: DEFAULT_FAKE_ACCOUNT.apiToken,
  sid: DEFAULT_FAKE_ACCOUNT.sid,
  subdomain: 'api.in.exotel.com',
};

const REQUEST: ConnectCallRequest = {
  from: '+919876543210',
  callerId: '+918030752400',
  url: exotelFlowUrl(DEFAULT_FAKE_ACCOUNT.sid, '123456'),
  statusCallback: 'https://voice.example.test/api/v1/telephony/exotel/status/abc?sig=s1',
  customField: 'sess_0123456789',
  timeLimit: 1800,
  record: true,
};

const FAST = { baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 2_000 };

async function failureOf(promise: Promise<unknown>): Promise<ExotelApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ExotelApiError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the Exotel request to fail');
}

interface ReceivedCallback {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for our webhook endpoint, to see exactly what the fake posts. */
async function startReceiver(): Promise<{
  url: string;
  received: ReceivedCallback[];
  server: Server;
}> {
  const received: ReceivedCallback[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, server };
}

describe('ExotelClient against the fake Exotel', () => {
  let fake: FakeExotel;
  let config: AppConfig;
  let client: ExotelClient;
  let redis: Redis;
  let budget: ExotelRequestBudget;

  beforeAll(async () => {
    fake = await startFakeExotel();
    config = testConfig({ EXOTEL_API_BASE_URL: fake.baseUrl });
    redis = new Redis(inject('redisUrl'));
    budget = new ExotelRequestBudget(redis, config);
    client = new ExotelClient(config, budget, FAST);
  });

  beforeEach(() => {
    fake.reset();
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  afterAll(async () => {
    await redis.del(`ratelimit:exotel:${CREDENTIALS.sid}`, 'ratelimit:exotel:someone-else');
    redis.disconnect();
    await fake.close();
  });

  describe('connectCall', () => {
    it('posts every documented field, form-encoded with basic auth, to Calls/connect.json', async () => {
      await client.connectCall(CREDENTIALS, REQUEST);

      expect(fake.requests).toHaveLength(1);
      const [request] = fake.requests;
      expect(request?.method).toBe('POST');
      expect(request?.path).toBe('/v1/Accounts/fake-account/Calls/connect.json');
      const basic = Buffer.from('fake-api-key:fake-api-token').toString('base64');
      expect(request?.headers.authorization).toBe(`Basic ${basic}`);
      expect(request?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(request?.headers.accept).toBe('application/json');
      expect(request?.form).toEqual({
        From: '+919876543210',
        CallerId: '+918030752400',
        Url: 'http://my.exotel.com/fake-account/exoml/start_voice/123456',
        StatusCallback: REQUEST.statusCallback,
        'StatusCallbackEvents[0]': 'terminal',
        'StatusCallbackEvents[1]': 'answered',
        StatusCallbackContentType: 'application/json',
        CustomField: 'sess_0123456789',
        TimeLimit: '1800',
        Record: 'true',
      });
    });

    it("reads the call's Sid and status from Exotel's Call object", async () => {
      const result = await client.connectCall(CREDENTIALS, REQUEST);

      expect(result.callSid).toMatch(/^fake-\d+$/);
      expect(result.status).toBe('in-progress');
      expect(result.raw).toMatchObject({
        Sid: result.callSid,
        AccountSid: 'fake-account',
        From: '+919876543210',
        PhoneNumberSid: '+918030752400',
        Direction: 'outbound-api',
      });
      expect(fake.calls.get(result.callSid)?.customField).toBe('sess_0123456789');
    });

    it('sends Record=false and leaves out optional fields that were not given', async () => {
      const { customField: _customField, timeLimit: _timeLimit, ...required } = REQUEST;
      await client.connectCall(CREDENTIALS, { ...required, record: false });

      const form = fake.requests[0]?.form ?? {};
      expect(form.Record).toBe('false');
      expect(form).not.toHaveProperty('CustomField');
      expect(form).not.toHaveProperty('TimeLimit');
    });

    it("gives a 400 as a client error with Exotel's message and code, without retrying", async () => {
      fake.failNext(400, {
        RestException: { Status: 400, Message: 'Invalid CallerId', Code: 'INVALID_PARAM' },
      });

      const error = await failureOf(client.connectCall(CREDENTIALS, REQUEST));

      expect(error).toMatchObject({
        kind: 'client',
        httpStatus: 400,
        code: 'INVALID_PARAM',
        message: 'Invalid CallerId',
        retryable: false,
      });
      expect(fake.requests).toHaveLength(1);
    });

    it('never repeats a connect answered with a 5xx: Exotel may have placed the call', async () => {
      fake.failNext(500, undefined, 2);

      const error = await failureOf(client.connectCall(CREDENTIALS, REQUEST));

      expect(error).toMatchObject({
        kind: 'server',
        httpStatus: 500,
        certainlyNotProcessed: false,
      });
      expect(fake.requests).toHaveLength(1);
    });

    it('never repeats a connect whose answer timed out', async () => {
      const impatient = new ExotelClient(config, budget, { ...FAST, timeoutMs: 100 });
      fake.loseAnswerNext({ delayMs: 600 });

      const error = await failureOf(impatient.connectCall(CREDENTIALS, REQUEST));

      expect(error).toMatchObject({
        kind: 'network',
        code: 'TIMEOUT',
        certainlyNotProcessed: false,
      });
      expect(fake.requests).toHaveLength(1);
      // The fake did place it: that is why it must not be sent again.
      expect(fake.calls.size).toBeGreaterThan(0);
    });

    it('repeats a connect when the connection was refused (certainly not sent)', async () => {
      const gone = await startFakeExotel();
      await gone.close();
      const unreachable = new ExotelClient(
        testConfig({ EXOTEL_API_BASE_URL: gone.baseUrl }),
        budget,
        {
          ...FAST,
          maxRetries: 2,
        },
      );
      const warn = vi.spyOn(Logger.prototype, 'warn');

      const error = await failureOf(unreachable.connectCall(CREDENTIALS, REQUEST));

      expect(error).toMatchObject({
        kind: 'network',
        code: 'ECONNREFUSED',
        certainlyNotProcessed: true,
      });
      expect(warn).toHaveBeenCalledTimes(2);
    });

    it('retries a 500 on a read and succeeds on the third request', async () => {
      const { callSid } = await client.connectCall(CREDENTIALS, REQUEST);
      fake.reset();
      fake.failNext(500, undefined, 2);

      const details = await client.getCallDetails(CREDENTIALS, callSid);

      expect(details.callSid).toBe(callSid);
      expect(fake.requests).toHaveLength(3);
    });

    it('throws a server error after the first attempt and three retries when reads keep failing', async () => {
      fake.failNext(503, undefined, 5);

      const error = await failureOf(client.getCallDetails(CREDENTIALS, 'fake-1'));

      expect(error).toMatchObject({ kind: 'server', httpStatus: 503, retryable: true });
      expect(error.message).toBe('Service Unavailable');
      expect(fake.requests).toHaveLength(4);
    });

    it('treats a redirect as an error and does not follow it', async () => {
      const elsewhere = await startFakeExotel();
      fake.failNext(307, '', 1, {
        location: `${elsewhere.baseUrl}/v1/Accounts/x/Calls/connect.json`,
      });

      const error = await failureOf(client.connectCall(CREDENTIALS, REQUEST));

      expect(error).toMatchObject({ kind: 'client', httpStatus: 307 });
      expect(error.message).toMatch(/redirect/);
      expect(fake.requests).toHaveLength(1);
      expect(elsewhere.requests).toHaveLength(0);
      await elsewhere.close();
    });

    it('refuses an answer larger than 1 MiB', async () => {
      fake.failNext(200, { Call: { Sid: 'x', padding: 'x'.repeat(1_100_000) } }, 1);

      const error = await failureOf(client.getCallDetails(CREDENTIALS, 'fake-1'));

      expect(error.message).toMatch(/exceeds/);
    });

    it('honours Retry-After on a 429, then succeeds', async () => {
      fake.failNext(429, undefined, 1, { 'Retry-After': '1' });
      const started = Date.now();

      const result = await client.connectCall(CREDENTIALS, REQUEST);

      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(result.callSid).toMatch(/^fake-/);
      expect(fake.requests).toHaveLength(2);
    });

    it('throws a 429 at once when Exotel asks to wait longer than the client will', async () => {
      fake.failNext(429, undefined, 1, { 'Retry-After': '120' });

      const error = await failureOf(client.connectCall(CREDENTIALS, REQUEST));

      expect(error).toMatchObject({ kind: 'rate-limited', httpStatus: 429, retryAfterMs: 120_000 });
      expect(fake.requests).toHaveLength(1);
    });

    it('refuses wrong credentials as a 401 client error whose message holds no secret', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn');
      const wrong = { ...CREDENTIALS, apiToken: 'not-the-token-xyz' };

      const error = await failureOf(client.connectCall(wrong, REQUEST));

      expect(error).toMatchObject({ kind: 'client', httpStatus: 401 });
      expect(error.message).toContain('Authentication failed');
      const described = [error.message, error.code, String(error.cause), error.stack].join(' ');
      expect(described).not.toContain('not-the-token-xyz');
      expect(fake.requests).toHaveLength(1);
      expect(warn).not.toHaveBeenCalled();
    });

    it('refuses credentials of another account as a 403 client error', async () => {
      const error = await failureOf(
        client.connectCall({ ...CREDENTIALS, sid: 'someone-else' }, REQUEST),
      );

      expect(error).toMatchObject({ kind: 'client', httpStatus: 403 });
      expect(fake.requests[0]?.path).toBe('/v1/Accounts/someone-else/Calls/connect.json');
    });

    it('logs retries without the API token or the Authorization header', async () => {
      const warn = vi.spyOn(Logger.prototype, 'warn');
      fake.failNext(429, undefined, 1, { 'Retry-After': '0' });

      await client.connectCall(CREDENTIALS, REQUEST);

      expect(warn).toHaveBeenCalledTimes(1);
      const logged = JSON.stringify(warn.mock.calls);
      expect(logged).toContain('fake-account');
      expect(logged).toContain('HTTP 429');
      expect(logged).not.toContain(CREDENTIALS.apiToken);
      expect(logged).not.toContain(Buffer.from('fake-api-key:fake-api-token').toString('base64'));
    });
  });

  describe('timeouts and unreachable servers', () => {
    it('gives up on a slow answer after the timeout and reports a network error', async () => {
      const impatient = new ExotelClient(config, budget, {
        ...FAST,
        timeoutMs: 100,
        maxRetries: 1,
      });
      fake.delayNext(600, 2);
      const started = Date.now();

      const error = await failureOf(impatient.getCallDetails(CREDENTIALS, 'fake-1'));

      expect(error).toMatchObject({ kind: 'network', code: 'TIMEOUT' });
      expect(fake.requests).toHaveLength(2);
      expect(Date.now() - started).toBeLessThan(1_000);
    });

    it('reports a network error when nothing listens, after retrying', async () => {
      const gone = await startFakeExotel();
      await gone.close();
      const unreachable = new ExotelClient(
        testConfig({ EXOTEL_API_BASE_URL: gone.baseUrl }),
        budget,
        {
          ...FAST,
          maxRetries: 2,
        },
      );

      const error = await failureOf(unreachable.getCallDetails(CREDENTIALS, 'fake-1'));

      expect(error.kind).toBe('network');
      expect(error.retryable).toBe(true);
      expect(error.message).toMatch(/could not be reached/);
    });
  });

  describe('getCallDetails', () => {
    it("reads status, times, duration and recording from Exotel's Call object", async () => {
      const { callSid } = await client.connectCall(CREDENTIALS, REQUEST);
      fake.setCallDetails(callSid, {
        Status: 'completed',
        StartTime: '2026-11-24 10:15:00',
        EndTime: '2026-11-24 10:16:17',
        Duration: '77',
        RecordingUrl: 'https://recordings.example.test/a.mp3',
      });
      fake.requests.length = 0;

      const details = await client.getCallDetails(CREDENTIALS, callSid);

      expect(fake.requests[0]).toMatchObject({
        method: 'GET',
        path: `/v1/Accounts/fake-account/Calls/${callSid}.json`,
      });
      expect(details).toEqual({
        callSid,
        status: 'completed',
        startTime: '2026-11-24 10:15:00',
        endTime: '2026-11-24 10:16:17',
        durationSec: 77,
        recordingUrl: 'https://recordings.example.test/a.mp3',
        raw: expect.objectContaining({ Sid: callSid, Direction: 'outbound-api' }),
      });
    });

    it('leaves out what Exotel has not filled in yet (null fields of a running call)', async () => {
      const { callSid } = await client.connectCall(CREDENTIALS, REQUEST);

      const details = await client.getCallDetails(CREDENTIALS, callSid);

      expect(details.status).toBe('in-progress');
      expect(details.endTime).toBeUndefined();
      expect(details.durationSec).toBeUndefined();
      expect(details.recordingUrl).toBeUndefined();
    });

    it('gives an unknown call as a 404 client error, not retried', async () => {
      const error = await failureOf(client.getCallDetails(CREDENTIALS, 'no-such-call'));

      expect(error).toMatchObject({ kind: 'client', httpStatus: 404 });
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe("the account's request budget", () => {
    it('is shared by every instance: the limit holds across them, and the one over it waits', async () => {
      const account = uniqueName('acct');
      const limited = {
        ...config,
        exotel: { ...config.exotel, requestsPerMinute: 2, requestWindowMs: 400 },
      };
      const first = new ExotelRequestBudget(redis, limited);
      const second = new ExotelRequestBudget(redis, limited);
      const started = Date.now();

      await Promise.all([first.acquire(account), second.acquire(account)]);
      expect(await redis.zcard(`ratelimit:exotel:${account}`)).toBe(2);
      await second.acquire(account);

      // The third request had to wait for the window to move on.
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      expect(await redis.zcard(`ratelimit:exotel:${account}`)).toBe(1);
      await redis.del(`ratelimit:exotel:${account}`);
    });
  });

  describe('the API host', () => {
    it.each([
      ['an internal host', 'internal.example.com'],
      ['a loopback address', '127.0.0.1'],
      ['a host with a port', 'api.exotel.com:6379'],
      ['a look-alike', 'api.exotel.com.attacker.example'],
    ])('refuses %s stored as subdomain before sending anything', async (_case, subdomain) => {
      const direct = new ExotelClient(testConfig(), budget, FAST);

      const error = await failureOf(direct.connectCall({ ...CREDENTIALS, subdomain }, REQUEST));

      expect(error).toMatchObject({ kind: 'client', code: 'HOST_NOT_ALLOWED' });
      expect(error.message).toContain('api.exotel.com, api.in.exotel.com');
    });
  });

  describe('findCalls', () => {
    it("finds the calls from a number via an ExoPhone in a window, with Exotel's filters", async () => {
      const before = new Date(Date.now() - 60_000);
      const { callSid } = await client.connectCall(CREDENTIALS, REQUEST);
      await client.connectCall(CREDENTIALS, { ...REQUEST, from: '+919000000001' });
      fake.reset();

      const calls = await client.findCalls(CREDENTIALS, {
        from: REQUEST.from,
        exoPhone: REQUEST.callerId,
        createdAfter: before,
        createdBefore: new Date(Date.now() + 60_000),
      });

      expect(calls.map((found) => found.Sid)).toContain(callSid);
      expect(calls.every((found) => found.From === REQUEST.from)).toBe(true);
      expect(fake.requests[0]).toMatchObject({
        method: 'GET',
        path: '/v1/Accounts/fake-account/Calls.json',
        query: expect.objectContaining({
          From: REQUEST.from,
          PhoneNumber: REQUEST.callerId,
          SortBy: 'DateCreated:desc',
          DateCreated: expect.stringMatching(
            /^gte:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2};lte:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/,
          ),
        }),
      });
    });

    it('finds nothing outside the window', async () => {
      await client.connectCall(CREDENTIALS, REQUEST);

      const calls = await client.findCalls(CREDENTIALS, {
        from: REQUEST.from,
        exoPhone: REQUEST.callerId,
        createdAfter: new Date(Date.now() - 3 * 3600_000),
        createdBefore: new Date(Date.now() - 2 * 3600_000),
      });

      expect(calls).toEqual([]);
    });
  });

  describe("the fake's StatusCallbacks", () => {
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    beforeAll(async () => {
      receiver = await startReceiver();
    });

    beforeEach(() => {
      receiver.received.length = 0;
    });

    afterAll(async () => {
      await new Promise((resolve) => receiver.server.close(resolve));
    });

    it("posts a terminal event as JSON to the call's StatusCallback and updates its details", async () => {
      const { callSid } = await client.connectCall(CREDENTIALS, {
        ...REQUEST,
        statusCallback: `${receiver.url}/status/1?sig=abc`,
      });

      const delivery = await fake.finishCall(callSid, {
        status: 'completed',
        conversationDuration: 42,
        recordingUrl: 'https://recordings.example.test/b.mp3',
      });

      expect(delivery.status).toBe(200);
      const [callback] = receiver.received;
      expect(callback?.path).toBe('/status/1?sig=abc');
      expect(callback?.headers['content-type']).toBe('application/json');
      expect(JSON.parse(callback?.body ?? '{}')).toMatchObject({
        CallSid: callSid,
        Status: 'completed',
        EventType: 'terminal',
        ConversationDuration: 42,
        CustomField: 'sess_0123456789',
        RecordingUrl: 'https://recordings.example.test/b.mp3',
        DateUpdated: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
        Legs: [{ OnCallDuration: 42, Status: 'completed', AnsweredBy: 'HUMAN' }],
      });
      const details = await client.getCallDetails(CREDENTIALS, callSid);
      expect(details).toMatchObject({ status: 'completed', durationSec: 42 });
    });

    it('posts form fields when asked, with Legs in bracket notation', async () => {
      await fake.sendStatusCallback(
        `${receiver.url}/status/2`,
        {
          CallSid: 'abc123',
          Status: 'no-answer',
          CustomField: 'sess_x',
          Legs: [{ OnCallDuration: 0, Status: 'no-answer' }],
        },
        'form',
      );

      const [callback] = receiver.received;
      expect(callback?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      const form = Object.fromEntries(new URLSearchParams(callback?.body));
      expect(form).toMatchObject({
        CallSid: 'abc123',
        Status: 'no-answer',
        CustomField: 'sess_x',
        'Legs[0][OnCallDuration]': '0',
        'Legs[0][Status]': 'no-answer',
      });
      expect(form).not.toHaveProperty('RecordingUrl');
    });

    it('posts the answered event with the in-progress status', async () => {
      const { callSid } = await client.connectCall(CREDENTIALS, {
        ...REQUEST,
        statusCallback: `${receiver.url}/status/3`,
      });

      await fake.answerCall(callSid);

      expect(JSON.parse(receiver.received[0]?.body ?? '{}')).toMatchObject({
        CallSid: callSid,
        Status: 'in-progress',
        EventType: 'answered',
      });
    });
  });
});

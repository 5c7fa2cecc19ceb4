import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Exotel's Voice v1 API (JSON flavour) on 127.0.0.1: connect a call to a
 * flow, read call details (one call, or in bulk with filters), and send StatusCallbacks the way
 * Exotel does. Like Exotel's documented Call object, a call's details do not carry CustomField. Requests are checked
 * with HTTP basic auth against the configured accounts and recorded for assertions.
 */

export interface FakeExotelAccount {
  sid: string;
  apiKey: string;
  apiToken: string;
}

export const DEFAULT_FAKE_ACCOUNT: FakeExotelAccount = {
  sid: 'fake-account',
  apiKey: 'fake-api-key',
  apiToken: 'fake-api-token',
};

export interface RecordedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The url-encoded body, parsed (empty for GET). */
  form: Record<string, string>;
  rawBody: string;
}

/** Exotel's Call object as the fake stores and returns it. */
export interface FakeCallRecord {
  Sid: string;
  ParentCallSid: string | null;
  DateCreated: string;
  DateUpdated: string;
  AccountSid: string;
  To: string | null;
  From: string | null;
  PhoneNumberSid: string | null;
  Status: string;
  StartTime: string | null;
  EndTime: string | null;
  Duration: string | null;
  Price: string | null;
  Direction: string;
  AnsweredBy: string | null;
  ForwardedFrom: string | null;
  CallerName: string | null;
  Uri: string;
  RecordingUrl: string | null;
  [field: string]: unknown;
}

export interface FakeCall {
  record: FakeCallRecord;
  /** The connect request's form fields. */
  request: Record<string, string>;
  statusCallback?: string;
  customField?: string;
}

/** Fields Exotel posts to a StatusCallback (default ones plus those of subscribed events). */
export interface ExotelStatusCallbackPayload {
  CallSid: string;
  Status: string;
  DateUpdated?: string;
  RecordingUrl?: string | null;
  EventType?: 'terminal' | 'answered';
  DateCreated?: string;
  To?: string;
  From?: string;
  PhoneNumberSid?: string;
  StartTime?: string;
  EndTime?: string;
  ConversationDuration?: number;
  Direction?: string;
  CustomField?: string;
  Legs?: { OnCallDuration: number; Status: string; AnsweredBy?: string }[];
  [field: string]: unknown;
}

export type CallbackFormat = 'json' | 'form';

export interface CallbackDelivery {
  status: number;
  body: string;
}

/** How a StatusCallback reaches the app: by default a real POST; tests may route it into `app.inject`. */
export type CallbackDeliverer = (
  url: string,
  request: { contentType: string; body: string },
) => Promise<CallbackDelivery>;

export interface FakeExotelOptions {
  accounts?: FakeExotelAccount[];
  deliver?: CallbackDeliverer;
}

export interface FakeExotel {
  baseUrl: string;
  accounts: FakeExotelAccount[];
  requests: RecordedRequest[];
  /** Calls placed through connect, by Sid. */
  calls: Map<string, FakeCall>;
  /**
   * The next `times` requests (any route) get `status` with `body` (default: a RestException
   * like Exotel's) and `headers` (e.g. Retry-After), before authentication is checked.
   */
  failNext(status: number, body?: unknown, times?: number, headers?: Record<string, string>): void;
  /** The next `times` requests are answered only after `ms` (for client timeouts). */
  delayNext(ms: number, times?: number): void;
  /**
   * The next `times` requests are carried out (a connect places its call) but the answer is
   * lost: replaced by `status` (e.g. 502), or sent only after `delayMs` (a client timeout).
   */
  loseAnswerNext(outcome: { status?: number; delayMs?: number }, times?: number): void;
  /** Changes (or creates, for inbound calls) what call details return for `callSid`. */
  setCallDetails(callSid: string, details: Partial<FakeCallRecord>, accountSid?: string): void;
  /** POSTs a StatusCallback to `url` like Exotel: JSON, or url-encoded form fields. */
  sendStatusCallback(
    url: string,
    payload: ExotelStatusCallbackPayload,
    format?: CallbackFormat,
  ): Promise<CallbackDelivery>;
  /** Ends a placed call (updating its details) and sends the terminal event to its StatusCallback. */
  finishCall(
    callSid: string,
    outcome: {
      status: 'completed' | 'failed' | 'busy' | 'no-answer';
      conversationDuration?: number;
      recordingUrl?: string;
    },
    format?: CallbackFormat,
  ): Promise<CallbackDelivery>;
  /** Sends the `answered` event of a placed call to its StatusCallback. */
  answerCall(callSid: string, format?: CallbackFormat): Promise<CallbackDelivery>;
  /**
   * Serves a call recording at the returned URL (`{baseUrl}/recordings/{sid}/{name}`), to the
   * account's credentials only, like Exotel's authenticated recording links. `chunked`: sent
   * without Content-Length (its size is known only by reading it).
   */
  addRecording(
    name: string,
    body: Buffer,
    options?: { contentType?: string; accountSid?: string; chunked?: boolean },
  ): string;
  /** The carrier no longer has it: its URL answers 404. */
  removeRecording(url: string): void;
  /** Forgets recorded requests and pending scripted failures and delays (calls stay). */
  reset(): void;
  close(): Promise<void>;
}

/** Exotel's timestamp format ("YYYY-MM-DD HH:mm:ss"), in IST like Indian accounts. */
export function exotelTimestamp(date = new Date()): string {
  const ist = new Date(date.getTime() + 330 * 60_000);
  return ist.toISOString().slice(0, 19).replace('T', ' ');
}

function restException(status: number, message: string, code?: string): unknown {
  return { RestException: { Status: status, Message: message, ...(code ? { Code: code } : {}) } };
}

const DEFAULT_FAILURE_MESSAGES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Authentication failed. Invalid API Key or Token.',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Rate limit exceeded.',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Url-encoded form fields; nested values (Legs) in the bracket notation form parsers read. */
export function encodeForm(payload: Record<string, unknown>): string {
  const form = new URLSearchParams();
  const add = (key: string, value: unknown): void => {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      form.append(key, String(value));
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => add(`${key}[${index}]`, item));
    } else if (typeof value === 'object' && value !== null) {
      for (const [field, inner] of Object.entries(value)) {
        add(`${key}[${field}]`, inner);
      }
    }
  };
  for (const [key, value] of Object.entries(payload)) {
    add(key, value);
  }
  return form.toString();
}

/** The body and content type of a StatusCallback as Exotel sends it. */
export function buildStatusCallback(
  payload: ExotelStatusCallbackPayload,
  format: CallbackFormat = 'json',
): { contentType: string; body: string } {
  const full: ExotelStatusCallbackPayload = {
    DateUpdated: exotelTimestamp(),
    RecordingUrl: null,
    ...payload,
  };
  return format === 'json'
    ? { contentType: 'application/json', body: JSON.stringify(full) }
    : { contentType: 'application/x-www-form-urlencoded', body: encodeForm(full) };
}

const postCallback: CallbackDeliverer = async (url, request) => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': request.contentType, 'user-agent': 'fake-exotel' },
    body: request.body,
  });
  return { status: response.status, body: await response.text() };
};

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function credentialsOf(headers: IncomingHttpHeaders): { key: string; token: string } | undefined {
  const match = /^Basic\s+(.+)$/i.exec(headers.authorization ?? '');
  if (!match?.[1]) {
    return undefined;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { key: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(text);
}

interface ScriptedFailure {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  remaining: number;
}

export async function startFakeExotel(options: FakeExotelOptions = {}): Promise<FakeExotel> {
  const accounts = options.accounts ?? [DEFAULT_FAKE_ACCOUNT];
  const deliver = options.deliver ?? postCallback;
  const requests: RecordedRequest[] = [];
  const calls = new Map<string, FakeCall>();
  const details = new Map<string, FakeCallRecord>();
  const failures: ScriptedFailure[] = [];
  const delays: { ms: number; remaining: number }[] = [];
  const lostAnswers: { status?: number; delayMs?: number; remaining: number }[] = [];
  let callCounter = 0;

  function nextScripted<T extends { remaining: number }>(queue: T[]): T | undefined {
    const next = queue[0];
    if (next) {
      next.remaining -= 1;
      if (next.remaining <= 0) {
        queue.shift();
      }
    }
    return next;
  }

  function connect(account: FakeExotelAccount, form: Record<string, string>): [number, unknown] {
    const missing = ['From', 'CallerId'].filter((field) => !form[field]);
    if (!form.Url && !form.To) {
      missing.push('Url');
    }
    if (missing.length > 0) {
      return [400, restException(400, `Missing parameter(s): ${missing.join(', ')}`)];
    }
    callCounter += 1;
    const sid = `fake-${callCounter}`;
    const now = exotelTimestamp();
    const record: FakeCallRecord = {
      Sid: sid,
      ParentCallSid: null,
      DateCreated: now,
      DateUpdated: now,
      AccountSid: account.sid,
      To: form.To ?? form.CallerId ?? null,
      From: form.From ?? null,
      PhoneNumberSid: form.CallerId ?? null,
      Status: 'in-progress',
      StartTime: now,
      EndTime: null,
      Duration: null,
      Price: null,
      Direction: 'outbound-api',
      AnsweredBy: null,
      ForwardedFrom: null,
      CallerName: null,
      Uri: `/v1/Accounts/${account.sid}/Calls/${sid}.json`,
      RecordingUrl: null,
    };
    details.set(sid, record);
    calls.set(sid, {
      record,
      request: form,
      statusCallback: form.StatusCallback,
      customField: form.CustomField,
    });
    return [200, { Call: record }];
  }

  /** Bulk call details: From, PhoneNumber and DateCreated (gte/lte) filters, newest first. */
  function searchCalls(account: FakeExotelAccount, query: URLSearchParams): unknown {
    const from = query.get('From')?.split(',');
    const exoPhones = query.get('PhoneNumber')?.split(',');
    const range = Object.fromEntries(
      (query.get('DateCreated') ?? '')
        .split(';')
        .map((part) => [part.slice(0, part.indexOf(':')), part.slice(part.indexOf(':') + 1)]),
    ) as { gte?: string; lte?: string };
    const pageSize = Math.min(100, Number(query.get('PageSize') ?? 50));
    const found = [...details.values()]
      .filter(
        (record) =>
          record.AccountSid === account.sid &&
          (!from || from.includes(record.From ?? '')) &&
          (!exoPhones || exoPhones.includes(record.PhoneNumberSid ?? '')) &&
          (!range.gte || record.DateCreated >= range.gte) &&
          (!range.lte || record.DateCreated <= range.lte),
      )
      .sort((a, b) => b.DateCreated.localeCompare(a.DateCreated))
      .slice(0, pageSize);
    return {
      Metadata: { Total: found.length, PageSize: pageSize, FirstPageUri: null, NextPageUri: null },
      Calls: found,
    };
  }

  function route(
    method: string,
    path: string,
    form: Record<string, string>,
    account: FakeExotelAccount,
    query: URLSearchParams,
  ): [number, unknown] {
    const prefix = `/v1/Accounts/${account.sid}/Calls`;
    if (method === 'POST' && (path === `${prefix}/connect` || path === `${prefix}/connect.json`)) {
      return connect(account, form);
    }
    if (method === 'GET' && (path === prefix || path === `${prefix}.json`)) {
      return [200, searchCalls(account, query)];
    }
    const detailsMatch = path.startsWith(`${prefix}/`)
      ? /^([^/]+?)(\.json)?$/.exec(path.slice(prefix.length + 1))
      : null;
    if (method === 'GET' && detailsMatch?.[1]) {
      const record = details.get(decodeURIComponent(detailsMatch[1]));
      return record?.AccountSid === account.sid
        ? [200, { Call: record }]
        : [404, restException(404, 'Call not found')];
    }
    return [404, restException(404, `No route ${method} ${path}`)];
  }

  interface FakeRecording {
    body: Buffer;
    contentType: string;
    accountSid: string;
    chunked: boolean;
  }
  const recordings = new Map<string, FakeRecording>();

  /** GET /recordings/{sid}/{name}: the bytes, to the owning account only. */
  function sendRecording(path: string, account: FakeExotelAccount, response: ServerResponse): void {
    const recording = recordings.get(path);
    if (recording?.accountSid !== account.sid) {
      send(response, 404, restException(404, 'Recording not found'));
      return;
    }
    response.writeHead(200, {
      'content-type': recording.contentType,
      ...(recording.chunked ? {} : { 'content-length': String(recording.body.length) }),
    });
    // In pieces, as a real download arrives.
    for (let offset = 0; offset < recording.body.length; offset += 64 * 1024) {
      response.write(recording.body.subarray(offset, offset + 64 * 1024));
    }
    response.end();
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const rawBody = await readBody(request);
    const form = Object.fromEntries(new URLSearchParams(rawBody));
    requests.push({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: request.headers,
      form: request.method === 'GET' ? {} : form,
      rawBody,
    });
    const delay = nextScripted(delays);
    if (delay) {
      await new Promise((resolve) => setTimeout(resolve, delay.ms));
    }
    const failure = nextScripted(failures);
    if (failure) {
      send(response, failure.status, failure.body, failure.headers);
      return;
    }
    const credentials = credentialsOf(request.headers);
    const account = accounts.find(
      (candidate) =>
        candidate.apiKey === credentials?.key && candidate.apiToken === credentials.token,
    );
    if (!account) {
      send(response, 401, restException(401, DEFAULT_FAILURE_MESSAGES[401] ?? 'Unauthorized'), {
        'www-authenticate': 'Basic realm="Exotel"',
      });
      return;
    }
    if (request.method === 'GET' && url.pathname.startsWith('/recordings/')) {
      sendRecording(url.pathname, account, response);
      return;
    }
    const sidInPath = /^\/v1\/Accounts\/([^/]+)/.exec(url.pathname)?.[1];
    if (sidInPath !== undefined && decodeURIComponent(sidInPath) !== account.sid) {
      send(response, 403, restException(403, 'Credentials do not belong to this account'));
      return;
    }
    const [status, body] = route(
      request.method ?? 'GET',
      url.pathname,
      form,
      account,
      url.searchParams,
    );
    const lost = nextScripted(lostAnswers);
    if (lost?.delayMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, lost.delayMs));
    }
    if (lost?.status !== undefined) {
      send(response, lost.status, restException(lost.status, `HTTP ${lost.status}`));
      return;
    }
    send(response, status, body);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
      } else {
        send(response, 500, restException(500, String(error)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  function placedCall(callSid: string): FakeCall & { statusCallback: string } {
    const call = calls.get(callSid);
    if (!call?.statusCallback) {
      throw new Error(`fake Exotel has no placed call ${callSid} with a StatusCallback`);
    }
    return call as FakeCall & { statusCallback: string };
  }

  function eventPayload(call: FakeCall): ExotelStatusCallbackPayload {
    const { record } = call;
    return {
      CallSid: record.Sid,
      Status: record.Status,
      DateUpdated: record.DateUpdated,
      RecordingUrl: record.RecordingUrl,
      DateCreated: record.DateCreated,
      To: record.To ?? undefined,
      From: record.From ?? undefined,
      PhoneNumberSid: record.PhoneNumberSid ?? undefined,
      StartTime: record.StartTime ?? undefined,
      Direction: record.Direction,
      CustomField: call.customField,
    };
  }

  const fake: FakeExotel = {
    baseUrl: `http://127.0.0.1:${port}`,
    accounts,
    requests,
    calls,
    failNext(status, body, times = 1, headers = {}) {
      const message = DEFAULT_FAILURE_MESSAGES[status] ?? `HTTP ${status}`;
      failures.push({
        status,
        body: body ?? restException(status, message),
        headers,
        remaining: times,
      });
    },
    delayNext(ms, times = 1) {
      delays.push({ ms, remaining: times });
    },
    loseAnswerNext(outcome, times = 1) {
      lostAnswers.push({ ...outcome, remaining: times });
    },
    setCallDetails(callSid, changes, accountSid = accounts[0]?.sid ?? DEFAULT_FAKE_ACCOUNT.sid) {
      const existing = details.get(callSid);
      if (existing) {
        Object.assign(existing, changes);
        return;
      }
      const now = exotelTimestamp();
      details.set(callSid, {
        Sid: callSid,
        ParentCallSid: null,
        DateCreated: now,
        DateUpdated: now,
        AccountSid: accountSid,
        To: null,
        From: null,
        PhoneNumberSid: null,
        Status: 'completed',
        StartTime: now,
        EndTime: null,
        Duration: null,
        Price: null,
        Direction: 'inbound',
        AnsweredBy: null,
        ForwardedFrom: null,
        CallerName: null,
        Uri: `/v1/Accounts/${accountSid}/Calls/${callSid}.json`,
        RecordingUrl: null,
        ...changes,
      });
    },
    sendStatusCallback(url, payload, format = 'json') {
      return deliver(url, buildStatusCallback(payload, format));
    },
    finishCall(callSid, outcome, format = 'json') {
      const call = placedCall(callSid);
      const answered = outcome.status === 'completed';
      const duration = answered ? (outcome.conversationDuration ?? 0) : 0;
      const now = exotelTimestamp();
      Object.assign(call.record, {
        Status: outcome.status,
        DateUpdated: now,
        EndTime: now,
        Duration: String(duration),
        RecordingUrl: outcome.recordingUrl ?? null,
      });
      return fake.sendStatusCallback(
        call.statusCallback,
        {
          ...eventPayload(call),
          EventType: 'terminal',
          EndTime: now,
          ConversationDuration: duration,
          Legs: [
            {
              OnCallDuration: duration,
              Status: outcome.status,
              AnsweredBy: answered ? 'HUMAN' : 'NA',
            },
          ],
        },
        format,
      );
    },
    answerCall(callSid, format = 'json') {
      const call = placedCall(callSid);
      call.record.Status = 'in-progress';
      call.record.DateUpdated = exotelTimestamp();
      return fake.sendStatusCallback(
        call.statusCallback,
        { ...eventPayload(call), EventType: 'answered' },
        format,
      );
    },
    addRecording(name, body, recordingOptions = {}) {
      const accountSid = recordingOptions.accountSid ?? accounts[0]?.sid ?? '';
      const path = `/recordings/${encodeURIComponent(accountSid)}/${encodeURIComponent(name)}`;
      recordings.set(path, {
        body,
        contentType: recordingOptions.contentType ?? 'audio/mpeg',
        accountSid,
        chunked: recordingOptions.chunked ?? false,
      });
      return `http://127.0.0.1:${port}${path}`;
    },
    removeRecording(url) {
      recordings.delete(new URL(url).pathname);
    },
    reset() {
      requests.length = 0;
      failures.length = 0;
      delays.length = 0;
      lostAnswers.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
  return fake;
}

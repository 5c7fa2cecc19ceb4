import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { EXOTEL_API_HOSTS, isExotelApiHost } from './exotel-hosts.js';
import { ExotelRequestBudget, type RequestBudget } from './exotel-request-budget.js';
import { ExotelApiError, exotelErrorFromResponse, exotelNetworkError } from './exotel.errors.js';
import type {
  ConnectCallRequest,
  ConnectCallResult,
  ExotelCall,
  ExotelCallDetails,
  ExotelCredentials,
} from './exotel.types.js';

/** Optional provider overriding the client's retry and timeout settings (tests use small values). */
export const EXOTEL_CLIENT_OPTIONS = Symbol('EXOTEL_CLIENT_OPTIONS');

export interface ExotelClientOptions {
  /** Retries after the first attempt for 429, 5xx and network failures. */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per attempt, covering the connection, the answer and its body. */
  timeoutMs?: number;
  /** Wait after a 429 that has no Retry-After header. */
  defaultRetryAfterMs?: number;
  /** A 429 asking to wait longer than this is thrown at once, for the caller's queue to reschedule. */
  maxRetryAfterMs?: number;
}

const DEFAULTS: Required<ExotelClientOptions> = {
  maxRetries: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  timeoutMs: 10_000,
  defaultRetryAfterMs: 1_000,
  maxRetryAfterMs: 30_000,
};

/** Exotel's answers are small JSON documents; anything larger is not Exotel's. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Which failures `send` repeats: all of them for reads; for a call, only the certainly-unsent. */
type RetryPolicy = 'any-retryable' | 'certainly-not-processed';

/** Filters of the bulk call details request (`GET /Calls`). */
export interface CallSearch {
  /** The customer's number (Exotel's From for calls placed with connect). */
  from: string;
  /** The ExoPhone (Exotel's PhoneNumber filter). */
  exoPhone: string;
  createdAfter: Date;
  createdBefore: Date;
}

type AttemptOutcome = { ok: true; body: unknown } | { ok: false; error: ExotelApiError };

/** The ExoML start URL that runs flow (applet) `appId` of account `sid` once the call is answered. */
export function exotelFlowUrl(sid: string, appId: string): string {
  return `http://my.exotel.com/${encodeURIComponent(sid)}/exoml/start_voice/${encodeURIComponent(appId)}`;
}

/**
 * Delay before retry number `retry` (1-based): exponential from `baseDelayMs`, capped, with
 * "equal jitter" (between half and all of it) so that workers failing together spread out.
 */
export function retryDelayMs(
  retry: number,
  options: Pick<Required<ExotelClientOptions>, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Exotel's "YYYY-MM-DD HH:mm:ss" for a filter, in IST (the zone of Indian accounts). */
export function exotelFilterTime(date: Date): string {
  return new Date(date.getTime() + 330 * 60_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** The body as text, refusing answers larger than `limit` bytes. */
async function boundedText(response: Response, limit: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) {
    return '';
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) {
      break;
    }
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ExotelApiError('server', `Exotel's answer exceeds ${limit} bytes`, {
        httpStatus: response.status,
      });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') {
    return value.trim();
  }
  return typeof value === 'number' ? String(value) : undefined;
}

function seconds(value: unknown): number | undefined {
  const raw = text(value);
  const parsed = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(parsed) && parsed >= 0 ? Math.round(parsed) : undefined;
}

/**
 * Exotel's Voice v1 API (JSON flavour) for one customer account at a time: places outbound
 * calls and reads call details. Retries what may succeed later (429, 5xx, no answer) with
 * backoff, and keeps each account under Exotel's per-minute request limit.
 */
@Injectable()
export class ExotelClient {
  private readonly logger = new Logger(ExotelClient.name);
  private readonly options: Required<ExotelClientOptions>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ExotelRequestBudget) private readonly budget: RequestBudget,
    @Optional() @Inject(EXOTEL_CLIENT_OPTIONS) options?: ExotelClientOptions,
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Rings `request.from`; once answered Exotel runs the flow at `request.url`. */
  async connectCall(
    credentials: ExotelCredentials,
    request: ConnectCallRequest,
  ): Promise<ConnectCallResult> {
    const form = new URLSearchParams({
      From: request.from,
      CallerId: request.callerId,
      Url: request.url,
      StatusCallback: request.statusCallback,
      // Exotel reads StatusCallbackEvents as an array; indexed keys are its form encoding.
      'StatusCallbackEvents[0]': 'terminal',
      'StatusCallbackEvents[1]': 'answered',
      StatusCallbackContentType: 'application/json',
    });
    if (request.customField !== undefined) {
      form.set('CustomField', request.customField);
    }
    if (request.timeLimit !== undefined) {
      form.set('TimeLimit', String(request.timeLimit));
    }
    if (request.record !== undefined) {
      form.set('Record', request.record ? 'true' : 'false');
    }
    // Repeated only when Exotel certainly did not act on it: a repeat could ring someone twice.
    const body = await this.send(
      credentials,
      'connect',
      'POST',
      '/Calls/connect.json',
      form,
      'certainly-not-processed',
    );
    const call = this.callOf(body, 'connect');
    return { callSid: call.Sid, status: text(call.Status) ?? 'queued', raw: call };
  }

  async getCallDetails(
    credentials: ExotelCredentials,
    callSid: string,
  ): Promise<ExotelCallDetails> {
    const path = `/Calls/${encodeURIComponent(callSid)}.json`;
    const call = this.callOf(
      await this.send(credentials, 'call details', 'GET', path),
      'call details',
    );
    return {
      callSid: call.Sid,
      status: text(call.Status) ?? 'queued',
      startTime: text(call.StartTime),
      endTime: text(call.EndTime),
      durationSec: seconds(call.Duration),
      recordingUrl: text(call.RecordingUrl),
      raw: call,
    };
  }

  /**
   * Calls from `search.from` via `search.exoPhone` created in the given window, newest first
   * (Exotel's bulk call details). Used to learn whether a connect request whose answer was
   * lost did place a call.
   */
  async findCalls(credentials: ExotelCredentials, search: CallSearch): Promise<ExotelCall[]> {
    const query = new URLSearchParams({
      From: search.from,
      PhoneNumber: search.exoPhone,
      DateCreated: `gte:${exotelFilterTime(search.createdAfter)};lte:${exotelFilterTime(search.createdBefore)}`,
      SortBy: 'DateCreated:desc',
      PageSize: '50',
    });
    const body = await this.send(
      credentials,
      'call search',
      'GET',
      `/Calls.json?${query.toString()}`,
    );
    const calls = (body as { Calls?: unknown } | null)?.Calls;
    if (!Array.isArray(calls)) {
      throw new ExotelApiError('server', "Exotel's call search answer has no Calls list");
    }
    return calls.filter(
      (call): call is ExotelCall =>
        typeof call === 'object' &&
        call !== null &&
        typeof (call as { Sid?: unknown }).Sid === 'string',
    );
  }

  private baseUrl(credentials: ExotelCredentials): string {
    if (this.config.exotel.apiBaseUrl !== undefined) {
      return this.config.exotel.apiBaseUrl.replace(/\/+$/, '');
    }
    // Checked again here for values stored before the allow-list existed.
    const host = credentials.subdomain.trim().toLowerCase();
    if (!isExotelApiHost(host)) {
      throw new ExotelApiError(
        'client',
        `Exotel API host "${credentials.subdomain.slice(0, 64)}" is not one of ${EXOTEL_API_HOSTS.join(', ')}`,
        { code: 'HOST_NOT_ALLOWED' },
      );
    }
    return `https://${host}`;
  }

  private callOf(body: unknown, operation: string): ExotelCall {
    const call = (body as { Call?: unknown } | null)?.Call;
    const sid = (call as { Sid?: unknown } | null | undefined)?.Sid;
    if (typeof call !== 'object' || call === null || typeof sid !== 'string' || sid === '') {
      throw new ExotelApiError('server', `Exotel's ${operation} answer has no Call.Sid`);
    }
    return call as ExotelCall;
  }

  /** One API request with the account's rate limit, a timeout per attempt, and retries. */
  private async send(
    credentials: ExotelCredentials,
    operation: string,
    method: 'GET' | 'POST',
    path: string,
    form?: URLSearchParams,
    retryPolicy: RetryPolicy = 'any-retryable',
  ): Promise<unknown> {
    const url = `${this.baseUrl(credentials)}/v1/Accounts/${encodeURIComponent(credentials.sid)}${path}`;
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Authorization: `Basic ${Buffer.from(`${credentials.apiKey}:${credentials.apiToken}`).toString('base64')}`,
    };
    if (form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    for (let retry = 0; ; retry += 1) {
      await this.budget.acquire(credentials.sid);
      const outcome = await this.attempt(url, method, headers, form);
      if (outcome.ok) {
        return outcome.body;
      }
      const { error } = outcome;
      const delay =
        retryPolicy === 'any-retryable' || error.certainlyNotProcessed
          ? this.delayBeforeRetry(error, retry + 1)
          : undefined;
      if (delay === undefined) {
        throw error;
      }
      this.logger.warn(
        `Exotel ${operation} for account ${credentials.sid} failed (${error.kind}` +
          `${error.httpStatus ? ` HTTP ${error.httpStatus}` : ''}: ${error.message}); ` +
          `retry ${retry + 1}/${this.options.maxRetries} in ${delay} ms`,
      );
      await sleep(delay);
    }
  }

  /** The parsed JSON answer, or the error describing why there is none. */
  private async attempt(
    url: string,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    form: URLSearchParams | undefined,
  ): Promise<AttemptOutcome> {
    let response: Response;
    let bodyText: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: form?.toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      bodyText = await boundedText(response, MAX_RESPONSE_BYTES);
    } catch (error) {
      if (error instanceof ExotelApiError) {
        return { ok: false, error };
      }
      return { ok: false, error: exotelNetworkError(error, this.options.timeoutMs) };
    }
    if (response.status >= 300 && response.status < 400) {
      // Exotel does not redirect API calls; following one would send the credentials elsewhere.
      const message = `Exotel answered with a redirect (HTTP ${response.status}), which is not followed`;
      return {
        ok: false,
        error: new ExotelApiError('client', message, { httpStatus: response.status }),
      };
    }
    if (!response.ok) {
      const { status, headers: responseHeaders } = response;
      const retryAfter = this.options.defaultRetryAfterMs;
      return {
        ok: false,
        error: exotelErrorFromResponse(status, responseHeaders, bodyText, retryAfter),
      };
    }
    try {
      return { ok: true, body: JSON.parse(bodyText) as unknown };
    } catch {
      const message = `Exotel answered HTTP ${response.status} without JSON`;
      return {
        ok: false,
        error: new ExotelApiError('server', message, { httpStatus: response.status }),
      };
    }
  }

  /** Milliseconds to wait before retry number `retry`, or undefined when the error is final. */
  private delayBeforeRetry(error: ExotelApiError, retry: number): number | undefined {
    if (!error.retryable || retry > this.options.maxRetries) {
      return undefined;
    }
    if (error.httpStatus !== undefined && error.httpStatus < 300) {
      return undefined;
    }
    const backoff = retryDelayMs(retry, this.options);
    if (error.kind !== 'rate-limited') {
      return backoff;
    }
    const retryAfter = error.retryAfterMs ?? this.options.defaultRetryAfterMs;
    return retryAfter > this.options.maxRetryAfterMs ? undefined : Math.max(retryAfter, backoff);
  }
}

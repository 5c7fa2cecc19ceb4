import { VendorError, type VendorFailure } from '../../ports/vendor-error.js';
import { vendorText } from '../vendor-text.js';

/**
 * What both OpenAI adapters share over HTTP: the vendor's name and default base URL, the
 * classified failures of a request, and the watchdog that bounds the vendor's silence.
 */

export const OPENAI_VENDOR = 'openai';
export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** Vendor text kept in an error message: enough to diagnose, never a whole body. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Aborts an exchange when the vendor stays silent too long; `timedOut` tells that abort apart
 * from the caller's.
 */
export class Watchdog {
  timedOut = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly controller: AbortController) {}

  get armed(): boolean {
    return this.timer !== undefined;
  }

  arm(milliseconds: number): void {
    this.disarm();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timedOut = true;
      this.controller.abort();
    }, milliseconds);
  }

  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The classified error for a fetch that rejected before any response (DNS, refused, reset). */
export function connectionFailure(error: unknown): VendorError {
  const cause = error instanceof Error && isRecord(error.cause) ? error.cause : undefined;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return new VendorError(OPENAI_VENDOR, 'unavailable', `could not reach the server${code}`);
}

/** The classified error for a response that dropped mid-body. */
export function droppedConnection(): VendorError {
  return new VendorError(OPENAI_VENDOR, 'unavailable', 'the connection dropped mid-response');
}

async function readErrorMessage(response: Response): Promise<string | undefined> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader();
  if (!reader) {
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < MAX_ERROR_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      chunks.push(value);
      length += value.byteLength;
    }
  } catch {
    // The status alone classifies the failure.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8', 0, Math.min(length, MAX_ERROR_BODY_BYTES));
  try {
    const body: unknown = JSON.parse(text);
    if (isRecord(body) && isRecord(body.error) && typeof body.error.message === 'string') {
      return body.error.message;
    }
  } catch {
    // Not OpenAI's error shape (a proxy's HTML page, say): report a little of it as it is.
  }
  return text === '' ? undefined : text;
}

/** The classified error for a non-2xx response, with OpenAI's `error.message` cut short. */
export async function failedResponse(response: Response, apiKey: string): Promise<VendorError> {
  const { status } = response;
  const message = await readErrorMessage(response);
  const detail = message === undefined ? '' : `: ${vendorText(message, apiKey)}`;
  let failure: VendorFailure = 'rejected';
  let summary = 'the request was rejected';
  if (status === 401 || status === 403) {
    // OpenAI's text here quotes part of the key: leave it out.
    return new VendorError(
      OPENAI_VENDOR,
      'unauthorized',
      `the API key was refused (${status})`,
      status,
    );
  } else if (status === 429) {
    failure = 'rate-limited';
    summary = 'rate limited';
  } else if (status >= 500) {
    failure = 'unavailable';
    summary = 'server error';
  }
  return new VendorError(OPENAI_VENDOR, failure, `${summary} (${status})${detail}`, status);
}

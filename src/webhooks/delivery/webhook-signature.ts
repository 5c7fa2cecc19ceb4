import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures in the Standard Webhooks scheme (https://www.standardwebhooks.com), so
 * customers can verify them with that project's libraries in any language:
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`, keyed
 * with the base64-decoded part of a `whsec_` secret. The id and timestamp are signed with the
 * body so a captured delivery cannot be replayed under another id or, beyond the tolerance,
 * at a later time.
 */

const SECRET_PREFIX = 'whsec_';
const GENERATED_SECRET_BYTES = 32;
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const SIGNATURE_VERSION = 'v1';
const DEFAULT_TOLERANCE_SECONDS = 300;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TIMESTAMP = /^\d{1,15}$/;

/** The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers of a delivery. */
export interface WebhookSignatureHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

export interface VerifyWebhookOptions {
  /** How far the timestamp may be from now, either way; default 300 seconds. */
  toleranceSeconds?: number;
  /** The current time in unix seconds; default the clock's. */
  now?: number;
}

/** A new endpoint secret: `whsec_` and 32 random bytes in base64. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(GENERATED_SECRET_BYTES).toString('base64')}`;
}

/** `v1,<signature>` of one delivery; `timestamp` is in unix seconds. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`A webhook timestamp is whole unix seconds, not ${timestamp}`);
  }
  return sign(secretKey(secret), id, String(timestamp), body);
}

/**
 * The `webhook-signature` header: one signature per secret, space-separated. While a secret
 * is being rotated both the new and the old one sign, so a receiver holding either verifies.
 */
export function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): string {
  if (secrets.length === 0) {
    throw new Error('A webhook is signed with at least one secret');
  }
  return secrets.map((secret) => signWebhook(secret, id, timestamp, body)).join(' ');
}

/**
 * Whether a delivery is genuine: one of the header's `v1` signatures matches (compared in
 * constant time) and its timestamp is within the tolerance of now. `body` is the raw request
 * body, exactly as received.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookSignatureHeaders,
  body: string,
  options: VerifyWebhookOptions = {},
): boolean {
  const key = secretKey(secret);
  if (!TIMESTAMP.test(headers.timestamp)) {
    return false;
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - Number(headers.timestamp)) > tolerance) {
    return false;
  }
  // The timestamp is signed as the header wrote it, so a receiver never re-formats it.
  const expected = Buffer.from(sign(key, headers.id, headers.timestamp, body));
  return headers.signature
    .split(' ')
    .filter((candidate) => candidate !== '')
    .some((candidate) => {
      const given = Buffer.from(candidate);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

function sign(key: Buffer, id: string, timestamp: string, body: string): string {
  const digest = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest();
  return `${SIGNATURE_VERSION},${digest.toString('base64')}`;
}

function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : '';
  const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    // The secret itself stays out of the message: it may end up in a log.
    throw new Error(
      `A webhook secret is "${SECRET_PREFIX}" and the base64 of ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`,
    );
  }
  return key;
}

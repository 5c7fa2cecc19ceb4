import { describe, expect, it } from 'vitest';
import {
  generateWebhookSecret,
  signatureHeader,
  signWebhook,
  verifyWebhook,
} from './webhook-signature.js';

// The Standard Webhooks reference test vector.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TIMESTAMP = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

function headers(signature: string, timestamp = String(TIMESTAMP), id = ID) {
  return { id, timestamp, signature };
}

describe('webhook signatures', () => {
  it('signs the Standard Webhooks test vector exactly as the reference does', () => {
    expect(signWebhook(SECRET, ID, TIMESTAMP, BODY)).toBe(SIGNATURE);
  });

  it('verifies the Standard Webhooks test vector', () => {
    expect(verifyWebhook(SECRET, headers(SIGNATURE), BODY, { now: TIMESTAMP })).toBe(true);
  });

  it('generates whsec_ secrets of 32 random bytes that sign and verify', () => {
    const first = generateWebhookSecret();
    const second = generateWebhookSecret();

    expect(first).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(first.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(second).not.toBe(first);
    const signature = signWebhook(first, ID, TIMESTAMP, BODY);
    expect(verifyWebhook(first, headers(signature), BODY, { now: TIMESTAMP })).toBe(true);
    expect(verifyWebhook(second, headers(signature), BODY, { now: TIMESTAMP })).toBe(false);
  });

  it('signs with every secret during a rotation, so either one verifies', () => {
    const newSecret = generateWebhookSecret();

    const header = signatureHeader([newSecret, SECRET], ID, TIMESTAMP, BODY);

    const signatures = header.split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures[1]).toBe(SIGNATURE);
    expect(verifyWebhook(newSecret, headers(header), BODY, { now: TIMESTAMP })).toBe(true);
    expect(verifyWebhook(SECRET, headers(header), BODY, { now: TIMESTAMP })).toBe(true);
    expect(verifyWebhook(generateWebhookSecret(), headers(header), BODY, { now: TIMESTAMP })).toBe(
      false,
    );
  });

  it('refuses a tampered body', () => {
    expect(
      verifyWebhook(SECRET, headers(SIGNATURE), '{"test": 2432232315}', { now: TIMESTAMP }),
    ).toBe(false);
  });

  it('refuses a signature made with another secret', () => {
    const signature = signWebhook(generateWebhookSecret(), ID, TIMESTAMP, BODY);

    expect(verifyWebhook(SECRET, headers(signature), BODY, { now: TIMESTAMP })).toBe(false);
  });

  it('refuses a delivery replayed under another id or timestamp', () => {
    expect(
      verifyWebhook(SECRET, headers(SIGNATURE, String(TIMESTAMP), 'msg_other'), BODY, {
        now: TIMESTAMP,
      }),
    ).toBe(false);
    expect(
      verifyWebhook(SECRET, headers(SIGNATURE, String(TIMESTAMP + 1)), BODY, { now: TIMESTAMP }),
    ).toBe(false);
  });

  it('accepts a timestamp within the tolerance and refuses one beyond it, either way', () => {
    const at = (now: number, toleranceSeconds?: number) =>
      verifyWebhook(SECRET, headers(SIGNATURE), BODY, { now, toleranceSeconds });

    expect(at(TIMESTAMP + 300)).toBe(true);
    expect(at(TIMESTAMP - 300)).toBe(true);
    expect(at(TIMESTAMP + 301)).toBe(false);
    expect(at(TIMESTAMP - 301)).toBe(false);
    expect(at(TIMESTAMP + 60, 59)).toBe(false);
    expect(at(TIMESTAMP + 3600, 3600)).toBe(true);
  });

  it('refuses an old timestamp by the clock when no time is given', () => {
    expect(verifyWebhook(SECRET, headers(SIGNATURE), BODY)).toBe(false);

    const now = Math.floor(Date.now() / 1000);
    const signature = signWebhook(SECRET, ID, now, BODY);
    expect(verifyWebhook(SECRET, headers(signature, String(now)), BODY)).toBe(true);
  });

  it('refuses a timestamp that is not whole seconds', () => {
    for (const timestamp of ['', '1614265330.0', '-1614265330', ' 1614265330', '1e9']) {
      expect(verifyWebhook(SECRET, headers(SIGNATURE, timestamp), BODY, { now: TIMESTAMP })).toBe(
        false,
      );
    }
  });

  it('finds the matching signature among others, and ignores other versions', () => {
    const other = signWebhook(generateWebhookSecret(), ID, TIMESTAMP, BODY);
    const v2 = SIGNATURE.replace('v1,', 'v2,');

    expect(verifyWebhook(SECRET, headers(`${other}  ${SIGNATURE}`), BODY, { now: TIMESTAMP })).toBe(
      true,
    );
    expect(verifyWebhook(SECRET, headers(`${other} ${v2}`), BODY, { now: TIMESTAMP })).toBe(false);
    expect(verifyWebhook(SECRET, headers(`${SIGNATURE}x`), BODY, { now: TIMESTAMP })).toBe(false);
    expect(verifyWebhook(SECRET, headers(''), BODY, { now: TIMESTAMP })).toBe(false);
  });

  it('refuses to sign with a malformed secret or timestamp', () => {
    const tooShort = `whsec_${Buffer.alloc(16).toString('base64')}`;
    const tooLong = `whsec_${Buffer.alloc(65).toString('base64')}`;
    for (const secret of [
      'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      tooShort,
      tooLong,
      'whsec_not base64!',
    ]) {
      expect(() => signWebhook(secret, ID, TIMESTAMP, BODY)).toThrow(/whsec_/);
    }
    expect(() => signWebhook(SECRET, ID, 1614265330.5, BODY)).toThrow(RangeError);
    expect(() => signatureHeader([], ID, TIMESTAMP, BODY)).toThrow(/at least one secret/);
  });
});

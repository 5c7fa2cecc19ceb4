import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/app-config.js';
import { SecretBoxService } from './secret-box.service.js';

const OWNER = '665f1c2ab9d1e2f3a4b5c6d7';
const OTHER_OWNER = '665f1c2ab9d1e2f3a4b5c6d8';

function secretBox(
  key: Buffer = randomBytes(32),
  environment: Record<string, string> = {},
): SecretBoxService {
  return new SecretBoxService(
    loadConfig({
      NODE_ENV: 'test',
      ENCRYPTION_KEY: key.toString('base64'),
      URL_SIGNING_KEY: 's'.repeat(40),
      ...environment,
    }).config,
  );
}

/** A value in the v1 format (one key, no key id, no owner) as earlier releases stored it. */
function sealVersion1(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), ciphertext]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join(':');
}

/** Changes one character of one `:`-separated part of a sealed value. */
function tamper(sealed: string, part: number): string {
  const parts = sealed.split(':');
  const text = parts[part] ?? '';
  parts[part] = text.startsWith('A') ? `B${text.slice(1)}` : `A${text.slice(1)}`;
  return parts.join(':');
}

describe('SecretBoxService', () => {
  describe('encrypt and decrypt', () => {
    it('round-trips a secret, unicode included', () => {
      const box = secretBox();
      for (const plaintext of ['tok_abc123', 'ünïcødé ✓ 秘密', '', 'x'.repeat(5000)]) {
        expect(box.decrypt(box.encrypt(plaintext, OWNER), OWNER)).toBe(plaintext);
      }
    });

    it('seals as v2:<keyId>:<iv>:<tag>:<ciphertext> without the plaintext in it', () => {
      const sealed = secretBox().encrypt('tok_visible_secret', OWNER);
      expect(sealed).toMatch(/^v2:default:[\w-]+:[\w-]+:[\w-]+$/);
      expect(sealed).not.toContain('tok_visible_secret');
    });

    it('gives a different ciphertext each time for the same plaintext', () => {
      const box = secretBox();
      const sealed = new Set(Array.from({ length: 20 }, () => box.encrypt('same secret', OWNER)));
      expect(sealed.size).toBe(20);
    });

    it('refuses a value sealed for another owner', () => {
      const box = secretBox();
      const sealed = box.encrypt('tok_abcdef123456', OWNER);
      expect(() => box.decrypt(sealed, OTHER_OWNER)).toThrow();
    });

    it.each([
      ['the ciphertext', 4],
      ['the authentication tag', 3],
      ['the iv', 2],
    ])('refuses a value whose %s was tampered with', (_part, index) => {
      const box = secretBox();
      const sealed = box.encrypt('tok_abcdef123456', OWNER);
      expect(() => box.decrypt(tamper(sealed, index), OWNER)).toThrow();
    });

    it('refuses a value sealed with another key, and one naming an unknown key id', () => {
      const sealed = secretBox().encrypt('tok_abcdef123456', OWNER);
      expect(() => secretBox().decrypt(sealed, OWNER)).toThrow();
      expect(() => secretBox().decrypt(sealed.replace(':default:', ':k9:'), OWNER)).toThrow(
        /Unknown encryption key id "k9"/,
      );
    });

    it('refuses an unknown version or a malformed value', () => {
      const box = secretBox();
      const sealed = box.encrypt('tok_abcdef123456', OWNER);
      expect(() => box.decrypt(sealed.replace(/^v2:/, 'v3:'), OWNER)).toThrow(/Unsupported/);
      expect(() => box.decrypt('tok_abcdef123456', OWNER)).toThrow(/Unsupported/);
      expect(() => box.decrypt(`${sealed}:extra`, OWNER)).toThrow(/Unsupported/);
    });

    it('decrypts with the same key in another instance (after a restart)', () => {
      const key = randomBytes(32);
      expect(secretBox(key).decrypt(secretBox(key).encrypt('persisted', OWNER), OWNER)).toBe(
        'persisted',
      );
    });

    it('still decrypts v1 values written with ENCRYPTION_KEY, and reports them as not current', () => {
      const key = randomBytes(32);
      const legacy = sealVersion1(key, 'tok_from_v1');
      const box = secretBox(key);
      expect(box.decrypt(legacy, OWNER)).toBe('tok_from_v1');
      expect(box.isCurrent(legacy)).toBe(false);
      expect(() => secretBox().decrypt(legacy, OWNER)).toThrow();
    });

    it('encrypts with ENCRYPTION_KEY_ID and keeps decrypting values of the older key', () => {
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32).toString('base64');
      const before = secretBox(oldKey).encrypt('tok_rotate', OWNER);
      const rotated = secretBox(oldKey, {
        ENCRYPTION_KEYS: `k2:${newKey}`,
        ENCRYPTION_KEY_ID: 'k2',
      });
      expect(rotated.decrypt(before, OWNER)).toBe('tok_rotate');
      expect(rotated.isCurrent(before)).toBe(false);
      const after = rotated.encrypt('tok_rotate', OWNER);
      expect(after).toMatch(/^v2:k2:/);
      expect(rotated.isCurrent(after)).toBe(true);
      const onlyNewKey = secretBox(randomBytes(32), {
        ENCRYPTION_KEY: '',
        ENCRYPTION_KEYS: `k2:${newKey}`,
      });
      expect(onlyNewKey.decrypt(after, OWNER)).toBe('tok_rotate');
    });
  });

  describe('sign and verify', () => {
    it('verifies its own signature', () => {
      const box = secretBox();
      expect(box.verify('call-123', box.sign('call-123'))).toBe(true);
    });

    it('signs deterministically with a URL-safe signature', () => {
      const box = secretBox();
      expect(box.sign('call-123')).toBe(box.sign('call-123'));
      expect(box.sign('call-123')).toMatch(/^[\w-]{43}$/);
    });

    it('refuses the signature of another value', () => {
      const box = secretBox();
      expect(box.verify('call-124', box.sign('call-123'))).toBe(false);
    });

    it('refuses a missing, shorter, longer or altered signature', () => {
      const box = secretBox();
      const signature = box.sign('call-123');
      expect(box.verify('call-123', undefined)).toBe(false);
      expect(box.verify('call-123', '')).toBe(false);
      expect(box.verify('call-123', signature.slice(0, -1))).toBe(false);
      expect(box.verify('call-123', `${signature}A`)).toBe(false);
      expect(box.verify('call-123', tamper(signature, 0))).toBe(false);
    });

    it('signs with URL_SIGNING_KEY, not with the encryption key', () => {
      const key = randomBytes(32);
      const signed = secretBox(key, { URL_SIGNING_KEY: 'a'.repeat(40) }).sign('call-123');
      expect(secretBox(key, { URL_SIGNING_KEY: 'b'.repeat(40) }).verify('call-123', signed)).toBe(
        false,
      );
      expect(
        secretBox(randomBytes(32), { URL_SIGNING_KEY: 'a'.repeat(40) }).verify('call-123', signed),
      ).toBe(true);
    });
  });
});

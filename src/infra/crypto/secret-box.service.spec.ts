import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/app-config.js';
import { SecretBoxService } from './secret-box.service.js';

function secretBox(key: Buffer = randomBytes(32)): SecretBoxService {
  return new SecretBoxService(
    loadConfig({ NODE_ENV: 'test', ENCRYPTION_KEY: key.toString('base64') }).config,
  );
}

/** Changes one character of one `:`-separated part of a sealed value. */
function tamper(sealed: string, part: number): string {
  const parts = sealed.split(':');
  const text = parts[part] ?? '';
  const flipped = text.startsWith('A') ? `B${text.slice(1)}` : `A${text.slice(1)}`;
  parts[part] = flipped;
  return parts.join(':');
}

describe('SecretBoxService', () => {
  describe('encrypt and decrypt', () => {
    it('round-trips a secret, unicode included', () => {
      const box = secretBox();
      for (const plaintext of ['tok_abc123', 'ünïcødé ✓ 秘密', '', 'x'.repeat(5000)]) {
        expect(box.decrypt(box.encrypt(plaintext))).toBe(plaintext);
      }
    });

    it('seals as v1:<iv>:<tag>:<ciphertext> without the plaintext in it', () => {
      const sealed = secretBox().encrypt('tok_visible_secret');
      expect(sealed).toMatch(/^v1:[\w-]+:[\w-]+:[\w-]+$/);
      expect(sealed).not.toContain('tok_visible_secret');
    });

    it('gives a different ciphertext each time for the same plaintext', () => {
      const box = secretBox();
      const sealed = new Set(Array.from({ length: 20 }, () => box.encrypt('same secret')));
      expect(sealed.size).toBe(20);
    });

    it.each([
      ['the ciphertext', 3],
      ['the authentication tag', 2],
      ['the iv', 1],
    ])('refuses a value whose %s was tampered with', (_part, index) => {
      const box = secretBox();
      const sealed = box.encrypt('tok_abcdef123456');
      expect(() => box.decrypt(tamper(sealed, index))).toThrow();
    });

    it('refuses a value sealed with another key', () => {
      const sealed = secretBox().encrypt('tok_abcdef123456');
      expect(() => secretBox().decrypt(sealed)).toThrow();
    });

    it('refuses an unknown version or a malformed value', () => {
      const box = secretBox();
      const sealed = box.encrypt('tok_abcdef123456');
      expect(() => box.decrypt(sealed.replace(/^v1:/, 'v2:'))).toThrow(/Unsupported/);
      expect(() => box.decrypt('tok_abcdef123456')).toThrow(/Unsupported/);
      expect(() => box.decrypt(`${sealed}:extra`)).toThrow(/Unsupported/);
    });

    it('decrypts with the same key in another instance (after a restart)', () => {
      const key = randomBytes(32);
      expect(secretBox(key).decrypt(secretBox(key).encrypt('persisted'))).toBe('persisted');
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

    it('refuses a signature made with another key', () => {
      expect(secretBox().verify('call-123', secretBox().sign('call-123'))).toBe(false);
    });
  });
});

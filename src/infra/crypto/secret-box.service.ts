import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';

const CIPHERTEXT_VERSION = 'v1';
const IV_BYTES = 12;

/**
 * Secrets at rest (AES-256-GCM, `v1:<iv>:<tag>:<ciphertext>` in base64url so the key or the
 * format can be rotated later) and URL signatures (HMAC-SHA256 with a key derived from the
 * same master key, so operators manage one secret).
 */
@Injectable()
export class SecretBoxService {
  private readonly encryptionKey: Buffer;
  private readonly signingKey: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.encryptionKey = config.encryptionKey;
    this.signingKey = Buffer.from(
      hkdfSync('sha256', config.encryptionKey, Buffer.alloc(0), 'url-signatures', 32),
    );
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [CIPHERTEXT_VERSION, iv, tag, ciphertext]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join(':');
  }

  decrypt(sealed: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== CIPHERTEXT_VERSION) {
      throw new Error('Unsupported ciphertext format');
    }
    const [, iv, tag, ciphertext] = parts as [string, string, string, string];
    const decipher = createDecipheriv(
      'aes-256-gcm',
      this.encryptionKey,
      Buffer.from(iv, 'base64url'),
    );
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(ciphertext, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  }

  sign(value: string): string {
    return createHmac('sha256', this.signingKey).update(value).digest('base64url');
  }

  verify(value: string, signature: string | undefined): boolean {
    if (signature === undefined) {
      return false;
    }
    const expected = Buffer.from(this.sign(value));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

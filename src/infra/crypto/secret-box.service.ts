import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { type AppConfig, DEFAULT_ENCRYPTION_KEY_ID } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';

const IV_BYTES = 12;

/**
 * Secrets at rest and URL signatures.
 * - Encryption: AES-256-GCM, written as `v2:<keyId>:<iv>:<tag>:<ciphertext>` (base64url). The
 *   key id lets keys rotate (`reencrypt-secrets` moves old values to the current key), and the
 *   owner (a user id) is bound as associated data, so a value copied to another user's document
 *   does not decrypt there. `v1:<iv>:<tag>:<ciphertext>` values (one key, no owner) still
 *   decrypt until they are re-encrypted.
 * - Signatures: HMAC-SHA256 with URL_SIGNING_KEY, a key of its own, so rotating encryption
 *   keys never invalidates callback URLs Exotel already holds, and a leaked signing key
 *   reveals nothing stored.
 */
@Injectable()
export class SecretBoxService {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly currentKeyId: string;
  private readonly signingKey: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.keys = new Map(Object.entries(config.encryption.keys));
    this.currentKeyId = config.encryption.currentKeyId;
    this.signingKey = config.urlSigningKey;
  }

  /** Seals `plaintext` with the current key for `owner` (the id of the user it belongs to). */
  encrypt(plaintext: string, owner: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyOf(this.currentKeyId), iv);
    cipher.setAAD(associatedData(this.currentKeyId, owner));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const sealed = [iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url'));
    return ['v2', this.currentKeyId, ...sealed].join(':');
  }

  /** Opens a value sealed for `owner`; throws when it was sealed for someone else or altered. */
  decrypt(sealed: string, owner: string): string {
    const parts = sealed.split(':');
    if (parts[0] === 'v2' && parts.length === 5) {
      const [, keyId, iv, tag, ciphertext] = parts as [string, string, string, string, string];
      return open(this.keyOf(keyId), iv, tag, ciphertext, associatedData(keyId, owner));
    }
    if (parts[0] === 'v1' && parts.length === 4) {
      const [, iv, tag, ciphertext] = parts as [string, string, string, string];
      return this.openVersion1(iv, tag, ciphertext);
    }
    throw new Error('Unsupported ciphertext format');
  }

  /** Whether a sealed value already uses the current format and key (nothing to re-encrypt). */
  isCurrent(sealed: string): boolean {
    return sealed.startsWith(`v2:${this.currentKeyId}:`);
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

  /**
   * v1 values name no key: they were sealed with ENCRYPTION_KEY (id `default`), tried first;
   * the other keys are tried after it, in case an operator renamed that key in ENCRYPTION_KEYS.
   * GCM's tag makes a wrong key fail rather than return garbage.
   */
  private openVersion1(iv: string, tag: string, ciphertext: string): string {
    const ids = [...this.keys.keys()].sort((a, b) =>
      a === DEFAULT_ENCRYPTION_KEY_ID ? -1 : b === DEFAULT_ENCRYPTION_KEY_ID ? 1 : 0,
    );
    for (const id of ids) {
      try {
        return open(this.keyOf(id), iv, tag, ciphertext);
      } catch {
        // Not this key; the next one may be.
      }
    }
    throw new Error('No configured key opens this v1 value');
  }

  private keyOf(keyId: string): Buffer {
    const key = this.keys.get(keyId);
    if (!key) {
      throw new Error(`Unknown encryption key id "${keyId}"`);
    }
    return key;
  }
}

function associatedData(keyId: string, owner: string): Buffer {
  return Buffer.from(`v2:${keyId}:${owner}`, 'utf8');
}

function open(
  key: Buffer,
  iv: string,
  tag: string,
  ciphertext: string,
  additionalData?: Buffer,
): string {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  if (additionalData) {
    decipher.setAAD(additionalData);
  }
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([
    decipher.update(Buffer.from(ciphertext, 'base64url')),
    decipher.final(),
  ]).toString('utf8');
}

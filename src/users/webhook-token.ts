import { randomBytes } from 'node:crypto';

/** 256 random bits, URL-safe: the secret path segment of a user's inbound webhook. */
export function newWebhookToken(): string {
  return randomBytes(32).toString('base64url');
}

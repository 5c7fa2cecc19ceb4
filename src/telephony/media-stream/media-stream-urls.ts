import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.module.js';
import { SecretBoxService } from '../../infra/crypto/secret-box.service.js';

export const MEDIA_STREAM_PATH = '/api/v1/telephony/exotel/stream';
/** Our session ids: `sess_` + 24 hex (outbound), `sess_in_` + 24 hex (inbound). */
export const SESSION_ID_PATTERN = /^sess_(?:in_)?[0-9a-f]{24}$/;
const EXPIRY_PATTERN = /^\d{1,12}$/;

/** The credentials a stream presents: in its URL's query, or in `start.custom_parameters`. */
export interface StreamCredentials {
  session?: unknown;
  exp?: unknown;
  sig?: unknown;
}

export type CredentialCheck = { ok: true; sessionId: string } | { ok: false; problem: string };

/**
 * Signed, expiring media-stream URLs. Exotel cannot sign its WebSocket requests, so the URL
 * itself carries the proof: the session id, an expiry, and an HMAC of both. The URL is handed
 * out only to the Voicebot applet's dynamic-URL request for that call, seconds before Exotel
 * connects, so a short lifetime is enough.
 */
@Injectable()
export class MediaStreamUrls {
  constructor(
    private readonly secretBox: SecretBoxService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  urlFor(sessionId: string, now = Date.now()): string {
    const expiry = String(Math.floor(now / 1000) + this.config.voice.streamUrlTtlSeconds);
    const base = new URL(this.config.publicBaseUrl);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = new URL(MEDIA_STREAM_PATH, base);
    if (this.config.voice.sampleRate !== 8000) {
      // Exotel reads the rate from the URL it connects to (8 kHz when absent).
      url.searchParams.set('sample-rate', String(this.config.voice.sampleRate));
    }
    url.searchParams.set('session', sessionId);
    url.searchParams.set('exp', expiry);
    url.searchParams.set('sig', this.signatureOf(sessionId, expiry));
    return url.toString();
  }

  check(credentials: StreamCredentials, now = Date.now()): CredentialCheck {
    const { session, exp, sig } = credentials;
    if (session === undefined && exp === undefined && sig === undefined) {
      return { ok: false, problem: 'no stream credentials' };
    }
    // A repeated query parameter arrives as an array: never valid.
    if (
      typeof session !== 'string' ||
      typeof exp !== 'string' ||
      typeof sig !== 'string' ||
      !SESSION_ID_PATTERN.test(session) ||
      !EXPIRY_PATTERN.test(exp) ||
      !this.secretBox.verify(this.signedValue(session, exp), sig)
    ) {
      return { ok: false, problem: 'invalid stream signature' };
    }
    if (Number(exp) * 1000 <= now) {
      return { ok: false, problem: 'expired stream signature' };
    }
    return { ok: true, sessionId: session };
  }

  private signatureOf(sessionId: string, expiry: string): string {
    return this.secretBox.sign(this.signedValue(sessionId, expiry));
  }

  private signedValue(sessionId: string, expiry: string): string {
    return `media-stream:${sessionId}:${expiry}`;
  }
}

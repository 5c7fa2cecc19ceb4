import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { VendorError, type VendorFailure } from '../ports/vendor-error.js';
import { vendorText } from './vendor-text.js';

/** Larger vendor messages are refused (ws closes with 1009); a few MB is minutes of base64 PCM. */
export const MAX_VENDOR_MESSAGE_BYTES = 4 * 1024 * 1024;

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const QUOTA_WORDS =
  /quota|rate[\s_-]?limit|too[\s_-]many[\s_-]requests|credits?|concurren|payment[\s_-]required/i;
const AUTH_WORDS =
  /unauthori[sz]ed|authenticat|api[\s_-]?key|forbidden|permission|access[\s_-]denied|credential/i;

/** How a failed WebSocket handshake's HTTP status is read. */
export function failureForStatus(status: number): VendorFailure {
  if (status === 401 || status === 403) {
    return 'unauthorized';
  }
  if (status === 429) {
    return 'rate-limited';
  }
  if (status >= 500) {
    return 'unavailable';
  }
  if (status >= 400) {
    return 'rejected';
  }
  // A 2xx or 3xx instead of 101 is not the vendor's streaming endpoint speaking.
  return 'malformed';
}

/**
 * The failure a vendor's own error message describes. Vendors word these freely, so the words
 * decide; a quota message that mentions the key is still about the quota. An explicit status
 * (some vendors put one in the message) wins when it is one that says it all.
 */
export function failureForVendorMessage(text: string, status?: number): VendorFailure {
  if (status === 401 || status === 403) {
    return 'unauthorized';
  }
  if (status === 402 || status === 429) {
    return 'rate-limited';
  }
  if (status !== undefined && status >= 500) {
    return 'unavailable';
  }
  if (QUOTA_WORDS.test(text)) {
    return 'rate-limited';
  }
  if (AUTH_WORDS.test(text)) {
    return 'unauthorized';
  }
  return 'rejected';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Whether vendor text is base64 (Buffer.from would silently skip what is not). */
export function isBase64(text: string): boolean {
  return BASE64.test(text);
}

/** One vendor text frame read as a JSON object, or why it is not one. */
export function readJsonObject(
  text: string,
): { kind: 'object'; message: Record<string, unknown> } | { kind: 'malformed'; why: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'malformed', why: 'a message is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { kind: 'malformed', why: 'a message is not a JSON object' };
  }
  return { kind: 'object', message: parsed as Record<string, unknown> };
}

/** Why the vendor closed an open socket; a policy close carries the vendor's reason in words. */
function failureForClose(code: number, reason: string): VendorFailure {
  if ((code === 1008 || (code >= 4000 && code < 5000)) && reason.length > 0) {
    return failureForVendorMessage(reason);
  }
  if (code === 1002 || code === 1003 || code === 1007 || code === 1009) {
    return 'rejected';
  }
  return 'unavailable';
}

export interface VendorSocketOptions {
  vendor: string;
  url: string;
  headers: Record<string, string>;
  connectTimeoutMs: number;
  /** Redacted from any vendor text quoted in an error. */
  apiKey: string;
}

export interface VendorSocketEvents {
  onOpen(): void;
  /** One text frame from the vendor. */
  onMessage(text: string): void;
  /** The socket failed or the vendor closed it; the socket is gone and nothing follows. */
  onFailure(error: VendorError): void;
}

/**
 * One client WebSocket to a vendor: opened within a time bound, every way it can fail turned
 * into one classified VendorError, and nothing reported after `close()`. Only text frames are
 * part of the vendors' protocols here, so a binary frame is a protocol failure.
 */
export class VendorSocket {
  private readonly socket: WebSocket | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private handshakeStatus: number | undefined;
  private opened = false;
  private settled = false;

  constructor(
    private readonly options: VendorSocketOptions,
    private readonly events: VendorSocketEvents,
  ) {
    try {
      this.socket = new WebSocket(options.url, {
        headers: options.headers,
        maxPayload: MAX_VENDOR_MESSAGE_BYTES,
        perMessageDeflate: false,
        followRedirects: false,
      });
    } catch {
      // A malformed base URL is configuration; reported after start() has returned.
      setImmediate(() => {
        this.fail('rejected', 'the vendor URL is not a valid WebSocket URL');
      });
      return;
    }
    const socket = this.socket;
    this.connectTimer = setTimeout(() => {
      this.fail('timeout', `no connection within ${options.connectTimeoutMs} ms`);
    }, options.connectTimeoutMs);
    socket.on('unexpected-response', (_request, response: IncomingMessage) => {
      this.handshakeStatus = response.statusCode ?? 0;
      // terminate() aborts the request and destroys the socket; the 'error' that follows reports it.
      socket.terminate();
    });
    socket.on('open', () => {
      this.guard(() => {
        if (this.settled) {
          return;
        }
        this.opened = true;
        this.clearConnectTimer();
        this.events.onOpen();
      });
    });
    socket.on('message', (data, isBinary) => {
      this.guard(() => {
        if (this.settled) {
          return;
        }
        if (isBinary) {
          this.fail('malformed', 'the vendor sent a binary frame');
          return;
        }
        this.events.onMessage(rawDataToText(data));
      });
    });
    socket.on('error', (error: Error & { code?: string }) => {
      this.guard(() => {
        this.onSocketError(error);
      });
    });
    socket.on('close', (code, reason) => {
      this.guard(() => {
        this.onSocketClose(code, reason.toString('utf8'));
      });
    });
  }

  get isOpen(): boolean {
    return this.opened && !this.settled && this.socket?.readyState === WebSocket.OPEN;
  }

  /** Sends one JSON message; ignored once the socket is closed. */
  send(message: unknown): void {
    if (this.isOpen) {
      this.socket?.send(JSON.stringify(message));
    }
  }

  /** Closes the socket (gracefully when open); no event follows. */
  close(): void {
    this.settled = true;
    this.clearConnectTimer();
    this.shutDown();
  }

  private onSocketError(error: Error & { code?: string }): void {
    if (this.settled) {
      return;
    }
    if (this.handshakeStatus !== undefined) {
      const status = this.handshakeStatus;
      this.fail(failureForStatus(status), `handshake answered with HTTP ${status}`, status);
      return;
    }
    const code = error.code ?? '';
    if (code.startsWith('WS_ERR_')) {
      this.fail('malformed', `the vendor broke the WebSocket protocol (${code})`);
      return;
    }
    const what = NETWORK_ERROR_CODES.has(code) ? code : 'connection error';
    this.fail(
      'unavailable',
      this.opened ? `connection lost (${what})` : `cannot connect (${what})`,
    );
  }

  private onSocketClose(code: number, reason: string): void {
    if (this.settled) {
      return;
    }
    if (!this.opened) {
      this.fail('unavailable', `connection closed during the handshake (code ${code})`);
      return;
    }
    const quoted = vendorText(reason, this.options.apiKey);
    const detail = quoted.length > 0 ? `code ${code}: ${quoted}` : `code ${code}`;
    this.fail(failureForClose(code, reason), `the vendor closed the connection (${detail})`);
  }

  private fail(failure: VendorFailure, message: string, status?: number): void {
    if (this.settled) {
      return;
    }
    this.settled = true;
    this.clearConnectTimer();
    this.shutDown();
    this.events.onFailure(new VendorError(this.options.vendor, failure, message, status));
  }

  private shutDown(): void {
    const socket = this.socket;
    if (!socket) {
      return;
    }
    if (socket.readyState === WebSocket.OPEN) {
      socket.close(1000);
    } else if (socket.readyState === WebSocket.CONNECTING) {
      socket.terminate();
    }
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
  }

  /** A socket callback must never throw into ws (it would crash the process). */
  private guard(body: () => void): void {
    try {
      body();
    } catch (error) {
      const detail = error instanceof Error ? error.message : 'unknown error';
      this.fail(
        'malformed',
        `could not handle a vendor message (${vendorText(detail, this.options.apiKey)})`,
      );
    }
  }
}

function rawDataToText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) {
    return data.toString('utf8');
  }
  if (Array.isArray(data)) {
    return Buffer.concat(data).toString('utf8');
  }
  return Buffer.from(data).toString('utf8');
}

import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './address-policy.js';

/**
 * Pieces every request to an address from outside shares (customer webhooks, carrier
 * recordings): the connection goes to the address the policy checked, and a failure before
 * any response is told in a few words.
 */

/** A lookup that answers the address already checked, whatever it is asked. */
export function pinnedLookup({ address, family }: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    // With autoSelectFamily (Node's default) the socket asks for every address at once.
    if (options.all === true) {
      callback(null, [{ address, family }]);
    } else {
      callback(null, address, family);
    }
  };
}

const NETWORK_FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
};

/** A short reason for a request that failed before any response. */
export function describeFailure(error: Error, handshaking: boolean): string {
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  if (
    handshaking ||
    code?.startsWith('ERR_TLS_') === true ||
    code?.startsWith('ERR_SSL_') === true
  ) {
    // OpenSSL's `reason` is the readable part of its long message.
    const reason = 'reason' in error && typeof error.reason === 'string' ? error.reason : undefined;
    return `TLS error: ${reason ?? error.message}`;
  }
  if (error.message === 'socket hang up') {
    return 'connection closed before a response';
  }
  const known = code === undefined ? undefined : NETWORK_FAILURES[code];
  return known ?? `request failed: ${error.message}`;
}

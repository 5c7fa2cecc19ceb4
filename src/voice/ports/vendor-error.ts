/** Which way a vendor failed; the conversation maps it to a fallback and an end reason. */
export type VendorFailure =
  /** Nothing answered, the connection dropped, or the vendor answered 5xx. */
  | 'unavailable'
  /** The key was refused (401/403): retrying cannot help. */
  | 'unauthorized'
  /** 429 or the vendor's own quota message. */
  | 'rate-limited'
  /** No answer (or no progress) within the adapter's time bound. */
  | 'timeout'
  /** The vendor sent something that is not its protocol (bad JSON, unknown shape). */
  | 'malformed'
  /** The vendor refused the request itself (4xx other than the above): a configuration problem. */
  | 'rejected';

/**
 * A vendor failure, classified. Adapters throw (or report) only this, with a message safe to
 * log (never the key, never a whole vendor body).
 */
export class VendorError extends Error {
  constructor(
    readonly vendor: string,
    readonly failure: VendorFailure,
    message: string,
    readonly status?: number,
  ) {
    super(`${vendor}: ${message}`);
    this.name = 'VendorError';
  }

  /** A second attempt may succeed (the first one had no effect the caller could notice). */
  get retryable(): boolean {
    return (
      this.failure === 'unavailable' ||
      this.failure === 'timeout' ||
      this.failure === 'rate-limited'
    );
  }
}

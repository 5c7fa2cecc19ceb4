import type { CallLogDocument } from './schemas/call-log.schema.js';

/** What the carrier side did with a request to end a live call. */
export type EndCallOutcome =
  | { ended: true }
  /** The carrier offers no way to end this call from here; `reason` says why, for the user. */
  | { ended: false; reason: string };

/**
 * Ends a live call at the carrier. Implemented by telephony (which depends on calls, so calls
 * resolves it at run time by this token). A call that is ended this way keeps its status
 * until the carrier's final callback, which carries the duration that is billed.
 */
export interface CallControl {
  endCall(call: CallLogDocument, reason: string): Promise<EndCallOutcome>;
}

export const CALL_CONTROL = Symbol('CALL_CONTROL');

import type { CallLogDocument } from './schemas/call-log.schema.js';

/** Told about every finished call while it is finalized (campaigns follow their calls' ends). */
export interface CallOutcomeListener {
  /**
   * Runs before the call is recorded as finalized, so a crash in between repeats it: it must be
   * idempotent, and a throw fails the finalization (retried).
   */
  callFinished(call: CallLogDocument): Promise<void>;
}

export const CALL_OUTCOME_LISTENER = Symbol('CALL_OUTCOME_LISTENER');

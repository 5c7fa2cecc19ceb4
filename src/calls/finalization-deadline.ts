import { Injectable } from '@nestjs/common';

/**
 * How long after reading a call log that shows an end-of-call effect due a finalizer may still
 * write that effect. Past it the finalizer stops; its job's retry or the reconciliation starts
 * over from a fresh read.
 */
export const FINALIZER_DEADLINE_MS = 2 * 60_000;

/**
 * How long after `finalizedAt` the markers of a call (on the user, the agent, the roll-up
 * document) stay. Longer than FINALIZER_DEADLINE_MS by a wide margin, which absorbs a write's
 * time in flight and the clock difference between the application and the database server.
 */
export const MARKER_RETENTION_MS = 15 * 60_000;

/** Elapsed time for the finalizer's deadline: monotonic, so a wall-clock step cannot stretch it. */
@Injectable()
export class FinalizationClock {
  now(): number {
    return performance.now();
  }
}

/** A finalizer reached its deadline before an effect write: it wrote nothing more. */
export class FinalizerDeadlineExceeded extends Error {
  constructor(callLogId: string, elapsedMs: number) {
    super(
      `Finalization of call ${callLogId} stopped: ${Math.round(elapsedMs)} ms since the call was read, past the ${FINALIZER_DEADLINE_MS} ms deadline; a fresh run will finish it`,
    );
    this.name = 'FinalizerDeadlineExceeded';
  }
}

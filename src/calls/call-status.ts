import { type CallStatus, TERMINAL_CALL_STATUSES } from './schemas/call-log.schema.js';

// A status only moves forward: to a higher rank, and never out of a terminal status.
const RANK: Record<CallStatus, number> = {
  initiated: 0,
  ringing: 1,
  'in-progress': 2,
  completed: 3,
  failed: 3,
  'no-answer': 3,
  busy: 3,
  canceled: 3,
  'user-ended': 3,
  'agent-ended': 3,
};

export function isTerminal(status: CallStatus): boolean {
  return TERMINAL_CALL_STATUSES.includes(status);
}

/** The statuses a call may be in for `next` to replace them. */
export function statusesBefore(next: CallStatus): CallStatus[] {
  return (Object.keys(RANK) as CallStatus[]).filter((status) => RANK[status] < RANK[next]);
}

export const ACTIVE_CALL_STATUSES: CallStatus[] = statusesBefore('completed');

/** Calls that connected and ended normally count as successful in agent stats. */
export function isSuccessful(status: CallStatus): boolean {
  return status === 'completed' || status === 'user-ended' || status === 'agent-ended';
}

const EXOTEL_STATUSES: Record<string, CallStatus> = {
  queued: 'initiated',
  initiated: 'initiated',
  ringing: 'ringing',
  'in-progress': 'in-progress',
  answered: 'in-progress',
  completed: 'completed',
  failed: 'failed',
  busy: 'busy',
  'no-answer': 'no-answer',
  canceled: 'canceled',
  cancelled: 'canceled',
};

/** Exotel's call status (any case) as ours; undefined when unknown. */
export function fromExotelStatus(status: string): CallStatus | undefined {
  return EXOTEL_STATUSES[status.trim().toLowerCase()];
}

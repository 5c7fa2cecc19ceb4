import { createHash } from 'node:crypto';
import { fromExotelStatus } from '../calls/call-status.js';
import type { CallStatus } from '../calls/schemas/call-log.schema.js';

export interface ParsedStatusCallback {
  status: CallStatus;
  exotelCallSid?: string;
  durationSec?: number;
  recordingUrl?: string;
  startedAt?: Date;
  endedAt?: Date;
  /** Stable identity of this report: repeats of the same callback share it. */
  fingerprint: string;
}

export type ParseResult =
  { ok: true; callback: ParsedStatusCallback } | { ok: false; problems: string[] };

function text(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' && value.trim() !== ''
    ? value.trim()
    : typeof value === 'number'
      ? String(value)
      : undefined;
}

// Exotel writes "2026-11-24 10:15:00" in the account's time zone; only instants that carry
// their zone are trusted as timestamps (durations come from ConversationDuration).
function zonedDate(value: string | undefined): Date | undefined {
  if (value === undefined || !/(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
    return undefined;
  }
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const DURATION_FIELDS = ['ConversationDuration', 'Duration'] as const;
type DurationField = (typeof DURATION_FIELDS)[number];

/** Plain decimal seconds, as Exotel writes them: no sign, no exponent, no hex, no words. */
const SECONDS_PATTERN = /^\d+(\.\d+)?$/;

/**
 * Every duration the callback carries, each checked (a bad Duration is refused even when
 * ConversationDuration is fine) and capped at the longest call there can be, so no callback
 * bills more than that.
 */
function durations(
  fields: Record<string, unknown>,
  maxDurationSec: number,
): { seconds: Partial<Record<DurationField, number>>; problems: string[] } {
  const seconds: Partial<Record<DurationField, number>> = {};
  const problems: string[] = [];
  for (const name of DURATION_FIELDS) {
    const raw = fields[name];
    if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
      continue;
    }
    const value = typeof raw === 'string' || typeof raw === 'number' ? String(raw).trim() : '';
    const parsed = Number(value);
    if (!SECONDS_PATTERN.test(value) || !Number.isFinite(parsed)) {
      problems.push(`${name} must be a non-negative, finite number of seconds`);
      continue;
    }
    seconds[name] = Math.min(Math.round(parsed), maxDurationSec);
  }
  return { seconds, problems };
}

/**
 * Reads Exotel's StatusCallback (JSON or form fields), accepting the fields it documents.
 * `maxDurationSec` is the call time limit: no real call lasts longer.
 */
export function parseStatusCallback(body: unknown, maxDurationSec: number): ParseResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, problems: ['body must be a JSON object or form fields'] };
  }
  const fields = body as Record<string, unknown>;
  const rawStatus = text(fields, 'Status') ?? text(fields, 'CallStatus');
  if (rawStatus === undefined) {
    return { ok: false, problems: ['Status is required'] };
  }
  const status = fromExotelStatus(rawStatus);
  if (status === undefined) {
    return {
      ok: false,
      problems: [`Status "${rawStatus.slice(0, 40)}" is not an Exotel call status`],
    };
  }
  const recordingUrl = text(fields, 'RecordingUrl');
  if (recordingUrl !== undefined && !/^https?:\/\//.test(recordingUrl)) {
    return { ok: false, problems: ['RecordingUrl must be an http(s) URL'] };
  }
  const reported = durations(fields, maxDurationSec);
  if (reported.problems.length > 0) {
    return { ok: false, problems: reported.problems };
  }
  const exotelCallSid = text(fields, 'CallSid');
  const fingerprint = createHash('sha256')
    .update(
      [
        exotelCallSid,
        rawStatus.toLowerCase(),
        text(fields, 'EventType'),
        text(fields, 'DateUpdated'),
        text(fields, 'EndTime'),
      ].join('|'),
    )
    .digest('hex')
    .slice(0, 24);
  return {
    ok: true,
    callback: {
      status,
      exotelCallSid: exotelCallSid?.slice(0, 128),
      durationSec: reported.seconds.ConversationDuration ?? reported.seconds.Duration,
      recordingUrl,
      startedAt: zonedDate(text(fields, 'StartTime')),
      endedAt: zonedDate(text(fields, 'EndTime')),
      fingerprint,
    },
  };
}

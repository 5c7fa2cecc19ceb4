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

function seconds(value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const parsed = Number(value);
  return Number.isFinite(parsed) && parsed >= 0 ? Math.round(parsed) : undefined;
}

/** Reads Exotel's StatusCallback (JSON or form fields), accepting the fields it documents. */
export function parseStatusCallback(body: unknown): ParseResult {
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
      durationSec: seconds(text(fields, 'ConversationDuration') ?? text(fields, 'Duration')),
      recordingUrl,
      startedAt: zonedDate(text(fields, 'StartTime')),
      endedAt: zonedDate(text(fields, 'EndTime')),
      fingerprint,
    },
  };
}

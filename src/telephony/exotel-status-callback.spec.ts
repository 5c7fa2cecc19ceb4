import { describe, expect, it } from 'vitest';
import { parseStatusCallback } from './exotel-status-callback.js';

/** The call time limit the parser caps durations at. */
const LIMIT = 3600;

describe('parseStatusCallback', () => {
  it("reads Exotel's terminal callback", () => {
    const result = parseStatusCallback(
      {
        CallSid: 'b6cfaf0e2f8d',
        EventType: 'terminal',
        Status: 'completed',
        ConversationDuration: '42',
        RecordingUrl: 'https://recordings.exotel.com/a.mp3',
        StartTime: '2026-11-24T10:00:00+05:30',
        EndTime: '2026-11-24 10:00:42',
      },
      LIMIT,
    );
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.callback).toMatchObject({
        status: 'completed',
        exotelCallSid: 'b6cfaf0e2f8d',
        durationSec: 42,
      });
      expect(result.callback.startedAt?.toISOString()).toBe('2026-11-24T04:30:00.000Z');
      // A time without its zone is not trusted as an instant.
      expect(result.callback.endedAt).toBeUndefined();
    }
  });

  it('gives repeats of one callback the same fingerprint and different callbacks different ones', () => {
    const first = parseStatusCallback({ CallSid: 'a', Status: 'ringing', DateUpdated: '1' }, LIMIT);
    const repeat = parseStatusCallback(
      { CallSid: 'a', Status: 'ringing', DateUpdated: '1' },
      LIMIT,
    );
    const other = parseStatusCallback(
      { CallSid: 'a', Status: 'completed', DateUpdated: '1' },
      LIMIT,
    );
    expect(
      first.ok && repeat.ok && first.callback.fingerprint === repeat.callback.fingerprint,
    ).toBe(true);
    expect(first.ok && other.ok && first.callback.fingerprint !== other.callback.fingerprint).toBe(
      true,
    );
  });

  it.each([
    [null, 'body'],
    [['Status'], 'body'],
    [{ CallSid: 'a' }, 'Status is required'],
    [{ Status: 'exploded' }, 'not an Exotel call status'],
    [{ Status: 'completed', RecordingUrl: 'javascript:alert(1)' }, 'RecordingUrl'],
  ])('refuses %j', (body, problem) => {
    const result = parseStatusCallback(body, LIMIT);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.problems.join(' ')).toContain(problem);
  });

  it.each([
    [{ ConversationDuration: '-5' }, 'ConversationDuration'],
    [{ Duration: '-5' }, 'Duration'],
    [{ Duration: 'abc' }, 'Duration'],
    [{ Duration: '1e308' }, 'Duration'],
    [{ Duration: 1e308 }, 'Duration'],
    [{ Duration: 'Infinity' }, 'Duration'],
    [{ Duration: '0x10' }, 'Duration'],
    [{ Duration: true }, 'Duration'],
    [{ Duration: '9'.repeat(400) }, 'Duration'],
    [{ ConversationDuration: '30', Duration: 'NaN' }, 'Duration'],
  ])('refuses the duration of %j', (duration, field) => {
    const result = parseStatusCallback({ Status: 'completed', ...duration }, LIMIT);
    expect(result.ok ? [] : result.problems).toEqual([
      `${field} must be a non-negative, finite number of seconds`,
    ]);
  });

  it('caps a duration at the call time limit', () => {
    const result = parseStatusCallback(
      { Status: 'completed', ConversationDuration: '99999999999999999999', Duration: 7200 },
      LIMIT,
    );
    expect(result.ok && result.callback.durationSec).toBe(LIMIT);
  });

  it('prefers ConversationDuration, rounds it, and falls back to Duration', () => {
    const both = parseStatusCallback(
      { Status: 'completed', ConversationDuration: '41.6', Duration: '50' },
      LIMIT,
    );
    const durationOnly = parseStatusCallback({ Status: 'completed', Duration: 50 }, LIMIT);
    const blank = parseStatusCallback({ Status: 'completed', Duration: ' ' }, LIMIT);
    expect(both.ok && both.callback.durationSec).toBe(42);
    expect(durationOnly.ok && durationOnly.callback.durationSec).toBe(50);
    expect(blank.ok && blank.callback.durationSec).toBeUndefined();
  });
});

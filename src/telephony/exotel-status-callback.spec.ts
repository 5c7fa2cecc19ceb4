import { describe, expect, it } from 'vitest';
import { parseStatusCallback } from './exotel-status-callback.js';

describe('parseStatusCallback', () => {
  it("reads Exotel's terminal callback", () => {
    const result = parseStatusCallback({
      CallSid: 'b6cfaf0e2f8d',
      EventType: 'terminal',
      Status: 'completed',
      ConversationDuration: '42',
      RecordingUrl: 'https://recordings.exotel.com/a.mp3',
      StartTime: '2026-11-24T10:00:00+05:30',
      EndTime: '2026-11-24 10:00:42',
    });
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
    const first = parseStatusCallback({ CallSid: 'a', Status: 'ringing', DateUpdated: '1' });
    const repeat = parseStatusCallback({ CallSid: 'a', Status: 'ringing', DateUpdated: '1' });
    const other = parseStatusCallback({ CallSid: 'a', Status: 'completed', DateUpdated: '1' });
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
    const result = parseStatusCallback(body);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.problems.join(' ')).toContain(problem);
  });

  it('ignores a negative or non-numeric duration', () => {
    const result = parseStatusCallback({ Status: 'completed', ConversationDuration: '-5' });
    expect(result.ok && result.callback.durationSec).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import {
  closesAt,
  DEFAULT_WINDOW,
  isOpen,
  isValidTimezone,
  nextOpening,
  parseClock,
  windowProblems,
  type CampaignSchedule,
  type CallingWindow,
} from './campaign-schedule.js';

const at = (iso: string): Date => new Date(iso);

const kolkata = (
  windows: CallingWindow[] = [DEFAULT_WINDOW],
  extra: Partial<CampaignSchedule> = {},
): CampaignSchedule => ({
  startAt: at('2026-01-01T00:00:00Z'),
  timezone: 'Asia/Kolkata',
  windows,
  ...extra,
});

describe('isOpen with the default window in Asia/Kolkata (UTC+05:30)', () => {
  const schedule = kolkata();

  it('opens at 09:00 IST inclusive and closes at 21:00 IST exclusive', () => {
    expect(isOpen(schedule, at('2026-03-04T03:29:00Z'))).toBe(false);
    expect(isOpen(schedule, at('2026-03-04T03:30:00Z'))).toBe(true);
    expect(isOpen(schedule, at('2026-03-04T15:29:00Z'))).toBe(true);
    expect(isOpen(schedule, at('2026-03-04T15:30:00Z'))).toBe(false);
  });

  it('finds the next opening and the closing time', () => {
    expect(nextOpening(schedule, at('2026-03-04T03:00:00Z'))).toEqual(at('2026-03-04T03:30:00Z'));
    expect(nextOpening(schedule, at('2026-03-04T10:00:00Z'))).toEqual(at('2026-03-04T10:00:00Z'));
    expect(nextOpening(schedule, at('2026-03-04T15:30:00Z'))).toEqual(at('2026-03-05T03:30:00Z'));
    expect(closesAt(schedule, at('2026-03-04T03:30:00Z'))).toEqual(at('2026-03-04T15:30:00Z'));
    expect(closesAt(schedule, at('2026-03-04T15:30:00Z'))).toBeUndefined();
  });
});

describe('weekday filter', () => {
  it('is open only on the listed days', () => {
    const weekend = kolkata([{ days: ['sat', 'sun'], from: '09:00', to: '21:00' }]);
    expect(isOpen(weekend, at('2026-03-06T06:00:00Z'))).toBe(false); // Friday 11:30 IST
    expect(isOpen(weekend, at('2026-03-07T06:00:00Z'))).toBe(true); // Saturday 11:30 IST
    expect(isOpen(weekend, at('2026-03-08T06:00:00Z'))).toBe(true); // Sunday 11:30 IST
    expect(nextOpening(weekend, at('2026-03-06T06:00:00Z'))).toEqual(at('2026-03-07T03:30:00Z'));
  });

  it('goes from a Friday 22:00 IST to Monday 09:00 IST with a Monday-to-Friday window', () => {
    const weekdays = kolkata([
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '21:00' },
    ]);
    expect(nextOpening(weekdays, at('2026-03-06T16:30:00Z'))).toEqual(at('2026-03-09T03:30:00Z'));
  });

  it('finds the same weekday a week later', () => {
    const wednesdays = kolkata([{ days: ['wed'], from: '09:00', to: '21:00' }]);
    expect(nextOpening(wednesdays, at('2026-03-04T15:30:00Z'))).toEqual(at('2026-03-11T03:30:00Z'));
  });
});

describe('campaign start and end', () => {
  it('is closed before a future startAt and opens at the later of startAt and the window', () => {
    const midWindow = kolkata([DEFAULT_WINDOW], { startAt: at('2026-03-04T05:00:00Z') });
    expect(isOpen(midWindow, at('2026-03-04T04:59:59Z'))).toBe(false);
    expect(isOpen(midWindow, at('2026-03-04T05:00:00Z'))).toBe(true);
    expect(nextOpening(midWindow, at('2026-03-01T00:00:00Z'))).toEqual(at('2026-03-04T05:00:00Z'));

    const beforeWindow = kolkata([DEFAULT_WINDOW], { startAt: at('2026-03-04T01:00:00Z') });
    expect(nextOpening(beforeWindow, at('2026-03-01T00:00:00Z'))).toEqual(
      at('2026-03-04T03:30:00Z'),
    );

    const afterWindow = kolkata([DEFAULT_WINDOW], { startAt: at('2026-03-04T20:00:00Z') });
    expect(nextOpening(afterWindow, at('2026-03-01T00:00:00Z'))).toEqual(
      at('2026-03-05T03:30:00Z'),
    );
  });

  it('is closed from endAt on, and endAt cuts the closing time', () => {
    const schedule = kolkata([DEFAULT_WINDOW], { endAt: at('2026-03-04T10:00:00Z') });
    expect(isOpen(schedule, at('2026-03-04T09:59:59Z'))).toBe(true);
    expect(isOpen(schedule, at('2026-03-04T10:00:00Z'))).toBe(false);
    expect(closesAt(schedule, at('2026-03-04T05:00:00Z'))).toEqual(at('2026-03-04T10:00:00Z'));
    expect(nextOpening(schedule, at('2026-03-04T00:00:00Z'))).toEqual(at('2026-03-04T03:30:00Z'));
    expect(nextOpening(schedule, at('2026-03-04T10:00:00Z'))).toBeUndefined();
  });

  it('has no opening when endAt comes before the next window', () => {
    const schedule = kolkata([DEFAULT_WINDOW], { endAt: at('2026-03-05T03:30:00Z') });
    expect(nextOpening(schedule, at('2026-03-04T16:00:00Z'))).toBeUndefined();
  });
});

describe('several windows', () => {
  it('treats touching windows as one span', () => {
    const schedule = kolkata([
      { days: ['wed'], from: '09:00', to: '13:00' },
      { days: ['wed'], from: '13:00', to: '18:00' },
    ]);
    expect(isOpen(schedule, at('2026-03-04T07:30:00Z'))).toBe(true); // 13:00 IST
    expect(closesAt(schedule, at('2026-03-04T04:00:00Z'))).toEqual(at('2026-03-04T12:30:00Z'));
    expect(closesAt(schedule, at('2026-03-04T07:30:00Z'))).toEqual(at('2026-03-04T12:30:00Z'));
  });

  it('merges overlapping windows whatever their order', () => {
    const schedule = kolkata([
      { days: ['wed'], from: '12:00', to: '16:00' },
      { days: ['wed'], from: '09:00', to: '14:00' },
    ]);
    expect(closesAt(schedule, at('2026-03-04T04:00:00Z'))).toEqual(at('2026-03-04T10:30:00Z'));
  });

  it('closes at a gap and reopens after it', () => {
    const schedule = kolkata([
      { days: ['wed'], from: '09:00', to: '12:00' },
      { days: ['wed'], from: '13:00', to: '18:00' },
    ]);
    expect(closesAt(schedule, at('2026-03-04T04:00:00Z'))).toEqual(at('2026-03-04T06:30:00Z'));
    expect(isOpen(schedule, at('2026-03-04T07:00:00Z'))).toBe(false); // 12:30 IST
    expect(nextOpening(schedule, at('2026-03-04T07:00:00Z'))).toEqual(at('2026-03-04T07:30:00Z'));
  });

  it('joins a window ending at 24:00 with one starting at 00:00 the next day', () => {
    const schedule = kolkata([
      { days: ['sun'], from: '18:00', to: '24:00' },
      { days: ['mon'], from: '00:00', to: '06:00' },
    ]);
    expect(isOpen(schedule, at('2026-03-08T18:29:59Z'))).toBe(true); // Sunday 23:59:59 IST
    expect(isOpen(schedule, at('2026-03-08T18:30:00Z'))).toBe(true); // Monday 00:00 IST
    expect(closesAt(schedule, at('2026-03-08T14:30:00Z'))).toEqual(at('2026-03-09T00:30:00Z'));
  });
});

describe('daylight saving time in America/New_York (spring forward on 2026-03-08)', () => {
  const newYork = (windows: CallingWindow[]): CampaignSchedule => ({
    startAt: at('2026-01-01T00:00:00Z'),
    timezone: 'America/New_York',
    windows,
  });

  it('follows the local clock across the switch', () => {
    const schedule = newYork([DEFAULT_WINDOW]);
    expect(isOpen(schedule, at('2026-03-07T14:00:00Z'))).toBe(true); // Saturday 09:00 EST
    expect(isOpen(schedule, at('2026-03-07T13:59:00Z'))).toBe(false);
    expect(nextOpening(schedule, at('2026-03-08T02:00:00Z'))).toEqual(at('2026-03-08T13:00:00Z'));
    expect(isOpen(schedule, at('2026-03-08T12:59:00Z'))).toBe(false);
    expect(isOpen(schedule, at('2026-03-08T13:00:00Z'))).toBe(true); // Sunday 09:00 EDT
    expect(closesAt(schedule, at('2026-03-08T13:00:00Z'))).toEqual(at('2026-03-09T01:00:00Z'));
  });

  it('handles a window around the skipped hour', () => {
    const schedule = newYork([{ days: ['sun'], from: '01:00', to: '03:00' }]);
    expect(nextOpening(schedule, at('2026-03-08T00:00:00Z'))).toEqual(at('2026-03-08T06:00:00Z'));
    expect(closesAt(schedule, at('2026-03-08T06:30:00Z'))).toEqual(at('2026-03-08T07:00:00Z'));
  });

  it('shifts skipped local times forward by an hour, as luxon does', () => {
    const schedule = newYork([{ days: ['sun'], from: '02:00', to: '02:30' }]);
    expect(isOpen(schedule, at('2026-03-08T06:59:00Z'))).toBe(false);
    expect(nextOpening(schedule, at('2026-03-08T00:00:00Z'))).toEqual(at('2026-03-08T07:00:00Z'));
    expect(closesAt(schedule, at('2026-03-08T07:00:00Z'))).toEqual(at('2026-03-08T07:30:00Z'));
  });

  it('skips a window that collapses to nothing in the skipped hour', () => {
    const schedule = newYork([{ days: ['sun'], from: '02:00', to: '03:00' }]);
    expect(isOpen(schedule, at('2026-03-08T07:00:00Z'))).toBe(false);
    // The next Sunday, 02:00 EDT.
    expect(nextOpening(schedule, at('2026-03-08T00:00:00Z'))).toEqual(at('2026-03-15T06:00:00Z'));
  });
});

describe('schedules that never open', () => {
  it('has no opening when no window has days', () => {
    const schedule = kolkata([{ days: [], from: '09:00', to: '21:00' }]);
    expect(isOpen(schedule, at('2026-03-04T06:00:00Z'))).toBe(false);
    expect(nextOpening(schedule, at('2026-03-04T06:00:00Z'))).toBeUndefined();
    expect(closesAt(schedule, at('2026-03-04T06:00:00Z'))).toBeUndefined();
    expect(nextOpening(kolkata([]), at('2026-03-04T06:00:00Z'))).toBeUndefined();
  });

  it('ignores malformed windows', () => {
    const schedule = kolkata([{ days: ['wed'], from: '21:00', to: '09:00' }]);
    expect(nextOpening(schedule, at('2026-03-04T00:00:00Z'))).toBeUndefined();
  });

  it('rejects an unknown time zone', () => {
    const schedule = kolkata([DEFAULT_WINDOW], { timezone: 'Mars/Base' });
    expect(() => isOpen(schedule, at('2026-03-04T06:00:00Z'))).toThrow(RangeError);
  });
});

describe('isValidTimezone', () => {
  it('accepts IANA zones and rejects the rest', () => {
    expect(isValidTimezone('Asia/Kolkata')).toBe(true);
    expect(isValidTimezone('America/New_York')).toBe(true);
    expect(isValidTimezone('UTC')).toBe(true);
    expect(isValidTimezone('Mars/Base')).toBe(false);
    expect(isValidTimezone('')).toBe(false);
    expect(isValidTimezone('UTC+5')).toBe(false);
  });
});

describe('parseClock', () => {
  it('reads HH:MM as minutes since midnight', () => {
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('09:30')).toBe(570);
    expect(parseClock('23:59')).toBe(1439);
    expect(parseClock('24:00')).toBe(1440);
  });

  it('rejects malformed times', () => {
    for (const value of ['', '9:00', '09:60', '24:01', '25:00', '09:00 ', 'ab:cd', '0900']) {
      expect(parseClock(value)).toBeUndefined();
    }
  });
});

describe('windowProblems', () => {
  it('finds nothing wrong with good windows, duplicate days included', () => {
    expect(windowProblems([DEFAULT_WINDOW])).toEqual([]);
    expect(
      windowProblems([
        { days: ['mon', 'mon'], from: '00:00', to: '24:00' },
        { days: ['mon'], from: '09:00', to: '10:00' },
      ]),
    ).toEqual([]);
  });

  it('reports each problem of each window', () => {
    expect(windowProblems([{ days: ['mon'], from: '10:00', to: '10:00' }])).toHaveLength(1);
    expect(windowProblems([{ days: ['mon'], from: '18:00', to: '09:00' }])).toHaveLength(1);
    expect(windowProblems([{ days: ['mon'], from: '9am', to: '25:00' }])).toHaveLength(2);
    expect(windowProblems([{ days: ['mon'], from: '24:00', to: '24:00' }])).toHaveLength(2);
    expect(windowProblems([{ days: [], from: '09:00', to: '10:00' }])).toEqual([
      'Window 1: has no days',
    ]);
    expect(
      windowProblems([DEFAULT_WINDOW, { days: ['mon'], from: '18:00', to: '09:00' }])[0],
    ).toMatch(/^Window 2:/);
  });
});

import { DateTime, IANAZone } from 'luxon';

/** Days of the week in ISO order (Monday first), as written in calling windows. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Local times ('HH:MM', 24 h; `to` may be '24:00') at which calls may be placed on the given days. */
export interface CallingWindow {
  days: Weekday[];
  from: string;
  to: string;
}

/** When a campaign may call: between `startAt` and `endAt`, inside its windows in `timezone`. */
export interface CampaignSchedule {
  startAt: Date;
  endAt?: Date;
  timezone: string;
  windows: CallingWindow[];
}

/** Every day, 09:00 to 21:00 local time. */
export const DEFAULT_WINDOW: CallingWindow = {
  days: [...WEEKDAYS],
  from: '09:00',
  to: '21:00',
};

const MINUTES_PER_DAY = 24 * 60;
/**
 * Local dates looked at from a starting instant. A week plus the starting day finds every
 * weekly window; the second week covers a window that a clock change empties once.
 */
const SCAN_DAYS = 15;

/** Whether `zone` is an IANA time zone name luxon accepts, such as 'Asia/Kolkata'. */
export function isValidTimezone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * Minutes since midnight of an 'HH:MM' time from '00:00' to '24:00'; undefined when malformed.
 * '24:00' (1440) is only meaningful as the end of a window.
 */
export function parseClock(value: string): number | undefined {
  const match = /^(\d{2}):(\d{2})$/.exec(value);
  if (!match) {
    return undefined;
  }
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (minutes > 59 || hours > 24 || (hours === 24 && minutes !== 0)) {
    return undefined;
  }
  return hours * 60 + minutes;
}

/** Human-readable problems of the windows; empty when all of them are usable. */
export function windowProblems(windows: CallingWindow[]): string[] {
  const problems: string[] = [];
  windows.forEach((window, index) => {
    const label = `Window ${index + 1}`;
    const from = parseClock(window.from);
    const to = parseClock(window.to);
    if (from === undefined || from === MINUTES_PER_DAY) {
      problems.push(`${label}: start time "${window.from}" is not a time from 00:00 to 23:59`);
    }
    if (to === undefined) {
      problems.push(`${label}: end time "${window.to}" is not a time from 00:00 to 24:00`);
    }
    if (from !== undefined && to !== undefined && from >= to) {
      problems.push(`${label}: starts at ${window.from}, not before its end at ${window.to}`);
    }
    if (window.days.length === 0) {
      problems.push(`${label}: has no days`);
    }
    const unknown = window.days.filter((day) => !(WEEKDAYS as readonly string[]).includes(day));
    if (unknown.length > 0) {
      problems.push(`${label}: unknown days ${unknown.join(', ')}`);
    }
  });
  return problems;
}

interface Span {
  start: number;
  end: number;
}

function localDay(schedule: CampaignSchedule, at: Date): DateTime {
  if (!isValidTimezone(schedule.timezone)) {
    throw new RangeError(`Unknown time zone "${schedule.timezone}"`);
  }
  return DateTime.fromJSDate(at, { zone: schedule.timezone }).startOf('day');
}

function instantOf(day: DateTime, minutes: number): number {
  const date = minutes === MINUTES_PER_DAY ? day.plus({ days: 1 }) : day;
  return DateTime.fromObject(
    {
      year: date.year,
      month: date.month,
      day: date.day,
      hour: Math.floor((minutes % MINUTES_PER_DAY) / 60),
      minute: minutes % 60,
    },
    { zone: day.zone },
  ).toMillis();
}

/** The open spans (epoch ms) of windows on `count` local dates from `first`, sorted by start. */
function spans(schedule: CampaignSchedule, first: DateTime, count: number): Span[] {
  const result: Span[] = [];
  for (let offset = 0; offset < count; offset++) {
    const day = first.plus({ days: offset });
    const weekday = WEEKDAYS[day.weekday - 1];
    for (const window of schedule.windows) {
      const from = parseClock(window.from);
      const to = parseClock(window.to);
      if (weekday === undefined || !window.days.includes(weekday)) {
        continue;
      }
      if (from === undefined || to === undefined || from >= to) {
        continue;
      }
      const span = { start: instantOf(day, from), end: instantOf(day, to) };
      if (span.start < span.end) {
        result.push(span);
      }
    }
  }
  return result.sort((a, b) => a.start - b.start);
}

function withinCampaign(schedule: CampaignSchedule, at: number): boolean {
  return (
    schedule.startAt.getTime() <= at &&
    (schedule.endAt === undefined || at < schedule.endAt.getTime())
  );
}

/**
 * True when `at` falls inside a window (from inclusive, to exclusive) in the schedule's zone,
 * and startAt <= at < endAt (when endAt set). Throws a RangeError for an unknown time zone.
 */
export function isOpen(schedule: CampaignSchedule, at: Date): boolean {
  const time = at.getTime();
  if (!withinCampaign(schedule, time)) {
    return false;
  }
  return spans(schedule, localDay(schedule, at), 1).some(
    (span) => span.start <= time && time < span.end,
  );
}

/**
 * The earliest instant >= `after` at which isOpen would be true; undefined if none before endAt
 * (or within 15 local days from the later of `after`/startAt, which means no window ever opens).
 */
export function nextOpening(schedule: CampaignSchedule, after: Date): Date | undefined {
  const from = Math.max(after.getTime(), schedule.startAt.getTime());
  const next = spans(schedule, localDay(schedule, new Date(from)), SCAN_DAYS).find(
    (span) => span.end > from,
  );
  if (next === undefined) {
    return undefined;
  }
  const opening = Math.max(next.start, from);
  return withinCampaign(schedule, opening) ? new Date(opening) : undefined;
}

/**
 * When the window containing `at` closes (or endAt if sooner); undefined when not open.
 * Overlapping or touching windows, also across midnight, count as one span; a span still open
 * 15 local days on is reported as closing there.
 */
export function closesAt(schedule: CampaignSchedule, at: Date): Date | undefined {
  if (!isOpen(schedule, at)) {
    return undefined;
  }
  let end = at.getTime();
  for (const span of spans(schedule, localDay(schedule, at), SCAN_DAYS)) {
    if (span.start > end) {
      break;
    }
    end = Math.max(end, span.end);
  }
  if (schedule.endAt !== undefined) {
    end = Math.min(end, schedule.endAt.getTime());
  }
  return new Date(end);
}

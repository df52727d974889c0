/**
 * Is a scheduled run allowed to start now? Pure functions of the schedule
 * and an instant; the time zone arithmetic is Intl's (the IANA database of
 * the Node runtime), so daylight-saving days come out right.
 *
 * A run is allowed when every minute from its start to the end of its fault
 * window (start + baseline + fault duration) falls on an allowed day, inside
 * the allowed hours, and on no blackout date — all read in the schedule's
 * time zone. Checking the whole span, not only the start, is what keeps a
 * 16:55 start of a 10-minute fault out of a 09:00–17:00 window.
 */
import {
  DEFAULT_ALLOWED_DAYS,
  DEFAULT_ALLOWED_HOURS,
  parseAllowedHours,
  parseBlackout,
  WEEKDAYS,
  type ScheduleSpec,
  type Weekday,
} from './schedule-schema.ts';

export interface LocalTime {
  /** `YYYY-MM-DD` in the zone. */
  date: string;
  weekday: Weekday;
  /** Minutes since local midnight. */
  minutes: number;
  /** `HH:MM`. */
  clock: string;
}

export type WindowVerdict = { allowed: true } | { allowed: false; reason: string };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function localTime(instant: number, timeZone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) parts[p.type] = p.value;
  const hour = Number(parts.hour) % 24;
  const minute = Number(parts.minute);
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: (parts.weekday ?? 'Sun').slice(0, 3).toLowerCase() as Weekday,
    minutes: hour * 60 + minute,
    clock: `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`,
  };
}

type WindowFields = Pick<ScheduleSpec, 'timezone'> & Partial<Pick<ScheduleSpec, 'allowedHours' | 'allowedDays' | 'blackout'>>;

/** Why one instant is not allowed, or that it is. */
export function instantVerdict(schedule: WindowFields, instant: number): WindowVerdict {
  const zone = schedule.timezone;
  const t = localTime(instant, zone);
  const day = Date.parse(`${t.date}T00:00:00Z`) / 86_400_000;
  for (const entry of schedule.blackout ?? []) {
    const range = parseBlackout(entry);
    if (range && day >= range[0] && day <= range[1]) {
      return { allowed: false, reason: `${t.date} is a blackout day (${entry}, ${zone})` };
    }
  }
  const days = schedule.allowedDays ?? DEFAULT_ALLOWED_DAYS;
  if (!days.includes(t.weekday)) {
    return { allowed: false, reason: `${t.date} is a ${t.weekday}, not an allowed day (${orderedDays(days)}, ${zone})` };
  }
  const hoursText = schedule.allowedHours ?? DEFAULT_ALLOWED_HOURS;
  const hours = parseAllowedHours(hoursText);
  if (!hours) return { allowed: false, reason: `allowedHours "${hoursText}" is not valid` };
  const inside = hours.from < hours.to ? t.minutes >= hours.from && t.minutes < hours.to : t.minutes >= hours.from || t.minutes < hours.to;
  if (!inside) return { allowed: false, reason: `${t.clock} on ${t.date} is outside the allowed hours ${hoursText} (${zone})` };
  return { allowed: true };
}

/**
 * Whether a run starting at `start` and holding a fault until `start +
 * spanMs` stays allowed throughout (checked each minute and at the end).
 */
export function runVerdict(schedule: WindowFields, start: number, spanMs: number): WindowVerdict {
  const first = instantVerdict(schedule, start);
  if (!first.allowed) return first;
  const end = start + Math.max(0, spanMs);
  for (let t = start + 60_000; t < end + 60_000; t += 60_000) {
    const at = Math.min(t, end);
    const v = instantVerdict(schedule, at);
    if (!v.allowed) {
      const until = localTime(end, schedule.timezone);
      return {
        allowed: false,
        reason: `the run would hold its fault until ${until.clock} on ${until.date} (${Math.round(spanMs / 1000)}s from the tick), past the allowed window: ${v.reason}`,
      };
    }
    if (at === end) break;
  }
  return { allowed: true };
}

function orderedDays(days: readonly Weekday[]): string {
  return WEEKDAYS.filter((d) => days.includes(d)).join(', ');
}

/**
 * `spec.schedule`: continuous verification on a cron, only when people are at
 * their desks.
 *
 *   schedule:
 *     cron: "*\/30 * * * *"          # 5 fields (minute hour day-of-month month day-of-week), node-cron syntax
 *     timezone: Europe/Berlin        # IANA; cron, hours, days and blackout dates are read in it (default UTC)
 *     allowedHours: "09:00-17:00"    # local [from, to); "22:00-02:00" crosses midnight; "00:00-24:00" = any time
 *     allowedDays: [mon, tue, wed, thu, fri]
 *     blackout: ["2026-12-24", "2026-12-27..2027-01-02"]   # local dates, ranges inclusive
 *     enabled: true
 *
 * Fail safe: without `allowedHours` and `allowedDays` a schedule runs only
 * 09:00–17:00, Monday to Friday, in its time zone. A run must also fit: its
 * baseline and fault window must end inside the allowed hours too
 * (schedule-window.ts).
 *
 * The parsed value keeps the text forms (no transforms), because specs are
 * stored as parsed and read back as they are.
 */
import { validate as validCron } from 'node-cron';
import { z } from 'zod';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const DEFAULT_ALLOWED_HOURS = '09:00-17:00';
export const DEFAULT_ALLOWED_DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

const HOURS_RE = /^([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Minutes since local midnight of both ends; `to` may be 1440 (24:00). */
export function parseAllowedHours(text: string): { from: number; to: number } | undefined {
  const m = HOURS_RE.exec(text.trim());
  if (!m) return undefined;
  const from = Number(m[1]) * 60 + Number(m[2]);
  const to = m[5] === '24' ? 1440 : Number(m[3]) * 60 + Number(m[4]);
  if (from === to) return undefined;
  return { from, to };
}

/** Days since 1970-01-01 of a valid `YYYY-MM-DD`, or undefined. */
export function dayNumber(text: string): number | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return t / 86_400_000;
}

/** `[first, last]` day numbers of a blackout entry (`YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD`). */
export function parseBlackout(text: string): [number, number] | undefined {
  const [a, b, ...rest] = text.trim().split('..');
  if (rest.length > 0 || a === undefined) return undefined;
  const first = dayNumber(a);
  const last = b === undefined ? first : dayNumber(b);
  if (first === undefined || last === undefined || last < first || last - first > 366) return undefined;
  return [first, last];
}

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const scheduleSchema = z.strictObject({
  cron: z
    .string()
    .trim()
    .refine((c) => c.split(/\s+/).length === 5, {
      message: 'must have 5 fields (minute hour day-of-month month day-of-week), e.g. "*/30 * * * 1-5"',
    })
    .refine((c) => validCron(c), { message: 'is not a valid cron expression' }),
  timezone: z
    .string()
    .default('UTC')
    .refine(isTimeZone, { message: 'is not an IANA time zone (e.g. Europe/Berlin, Asia/Tokyo, UTC)' }),
  allowedHours: z
    .string()
    .refine((h) => parseAllowedHours(h) !== undefined, {
      message: 'must be "HH:MM-HH:MM" in the schedule\'s time zone, e.g. "09:00-17:00" ("00:00-24:00" for any time)',
    })
    .default(DEFAULT_ALLOWED_HOURS),
  allowedDays: z
    .array(z.enum(WEEKDAYS, { message: `must be one of ${WEEKDAYS.join(', ')}` }))
    .min(1, 'at least one day')
    .refine((days) => new Set(days).size === days.length, { message: 'must not repeat a day' })
    .default(DEFAULT_ALLOWED_DAYS),
  blackout: z
    .array(
      z.string().refine((b) => parseBlackout(b) !== undefined, {
        message: 'must be a date "YYYY-MM-DD" or a range "YYYY-MM-DD..YYYY-MM-DD" (at most a year)',
      }),
    )
    .max(500)
    .default([]),
  enabled: z.boolean().default(true),
});

export type ScheduleSpec = z.output<typeof scheduleSchema>;

/**
 * Helpers shared by the repositories: values in (JSON parameters) and out
 * (timestamps to ISO strings).
 */
import { ValidationError } from '../lib/errors.ts';

/** A timestamptz as both adapters return it (Date), as an ISO string. */
export function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

export function isoOrNull(value: Date | string | null | undefined): string | null {
  return value === null || value === undefined ? null : iso(value);
}

/**
 * A value for a `$n::jsonb` parameter. JSON.stringify would quietly turn NaN
 * and ±Infinity into null — a number lost without a trace — so those are
 * refused instead, naming the field.
 */
export function jsonParam(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  return JSON.stringify(value, (key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new ValidationError([{ path: key ? `${field}.${key}` : field, message: `must be a finite number, got ${v}` }]);
    }
    return v;
  });
}

/** An ISO timestamp parameter, checked here so a bad one is a 400 and not a database error. */
export function timestampParam(value: string, field: string): string {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
    throw new ValidationError([{ path: field, message: `must be an ISO-8601 timestamp, got ${JSON.stringify(value)}` }]);
  }
  return value;
}

export function requireText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new ValidationError([{ path: field, message: `must be a non-empty string of at most ${max} characters` }]);
  }
  return value;
}

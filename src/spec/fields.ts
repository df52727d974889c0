/**
 * Field types shared by the spec schema and by adapter schemas: durations,
 * percentages and tolerances as users write them, parsed into numbers once.
 */
import { z } from 'zod';
import { parseDuration } from '../lib/duration.ts';
import { rawUrlProblem } from '../security/outbound-url.ts';

/** `30s`, `2m`, `1h30m` (or a number of milliseconds) → milliseconds. */
export const durationMs = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    if (typeof value === 'number') {
      if (!Number.isFinite(value) || value < 0) {
        ctx.addIssue({ code: 'custom', message: 'a duration must be a non-negative number of milliseconds' });
        return z.NEVER;
      }
      return value;
    }
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 500ms, 30s, 2m, 1h30m)` });
      return z.NEVER;
    }
    return ms;
  });

/** A fraction in [0, 1], written `0.1%` or `0.001`. */
export const fraction = z.union([z.string(), z.number()]).transform((value, ctx) => {
  let n: number;
  if (typeof value === 'number') n = value;
  else {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a percentage (e.g. 0.1%) or a fraction (e.g. 0.001)` });
      return z.NEVER;
    }
    // "99.9e-2" parses to the double nearest 0.999; dividing by 100 would not.
    n = Number(`${m[1]}e-2`);
  }
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    ctx.addIssue({ code: 'custom', message: 'must be between 0% and 100% (0 and 1)' });
    return z.NEVER;
  }
  return n;
});

/**
 * How far a steady-state metric may move before it counts as a change:
 * `5%` is relative to the control group's level (mean; median under mann-whitney), a bare number is absolute in
 * the metric's own unit.
 */
export type Tolerance = { kind: 'relative'; value: number } | { kind: 'absolute'; value: number };

export const tolerance = z.union([z.string(), z.number()]).transform((value, ctx): Tolerance => {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      ctx.addIssue({ code: 'custom', message: 'an absolute tolerance must be a non-negative number' });
      return z.NEVER;
    }
    return { kind: 'absolute', value };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a tolerance (e.g. 5% relative, or 0.2 absolute)` });
    return z.NEVER;
  }
  return { kind: 'relative', value: Number(`${m[1]}e-2`) };
});

/**
 * http(s) URL written plainly: what a person reads is what the WHATWG parser
 * (and so fetch and axios) will use. See src/security/outbound-url.ts.
 */
export const httpUrl = z.string().superRefine((s, ctx) => {
  const problem = rawUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem === 'must be an http:// or https:// URL' ? problem : `must be an http:// or https:// URL: ${problem}` });
});

/**
 * Reading `steadystate compare`'s input: flag values (tolerance, fractions)
 * and the JSON arrays of the two groups. Every mistake is a CompareDataError
 * (naming the flag or field) or a ValidationError.
 */
import { readFile } from 'node:fs/promises';
import { describeError, ValidationError } from '../lib/errors.ts';
import type { Tolerance } from '../spec/fields.ts';

/** Bad data for one comparison; `where` names the flag or field it came from. */
export class CompareDataError extends Error {
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(message);
  }
}

export function parseTolerance(s: string): Tolerance | null {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(s);
  if (pct) return { kind: 'relative', value: Number(pct[1]) / 100 };
  if (s.trim() === '') return null;
  const v = Number(s);
  return Number.isFinite(v) && v >= 0 ? { kind: 'absolute', value: v } : null;
}

export function parseFraction(s: string): number | null {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(s);
  if (pct) return Number(pct[1]) / 100;
  if (s.trim() === '') return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

export function relativeOnly(t: Tolerance, method: string): number {
  if (t.kind === 'relative' || t.value === 0) return t.value;
  throw new CompareDataError('--tolerance', `${method} needs a relative tolerance (e.g. 5%)`);
}

export function toleranceText(t: Tolerance): string {
  return t.kind === 'relative' ? `${Number((t.value * 100).toPrecision(6))}%` : String(t.value);
}

export async function readJsonFile(file: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ValidationError([{ path: flag, message: readError(file, err) }]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ValidationError([{ path: flag, message: `${file} is not JSON: ${describeError(err)}` }]);
  }
}

export function readError(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${file}: file not found`;
  if (code === 'EISDIR') return `${file}: is a directory`;
  return `${file}: cannot read: ${code ?? describeError(err)}`;
}

export function numbers(v: unknown, where: string): number[] {
  if (!Array.isArray(v)) throw new CompareDataError(where, 'must be a JSON array of numbers');
  return v.map((x: unknown, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new CompareDataError(where, `element ${i} is ${JSON.stringify(x)}, not a finite number`);
    return x;
  });
}

export function pairs(v: unknown, where: string): { errors: number; total: number }[] {
  if (!Array.isArray(v)) throw new CompareDataError(where, 'must be a JSON array of [errors, total] pairs');
  return v.map((x: unknown, i) => {
    if (!Array.isArray(x) || x.length !== 2 || typeof x[0] !== 'number' || typeof x[1] !== 'number') {
      throw new CompareDataError(where, `element ${i} is ${JSON.stringify(x)}, not an [errors, total] pair of numbers`);
    }
    const [errors, total] = x as [number, number];
    if (!(Number.isFinite(errors) && Number.isFinite(total) && errors >= 0 && total >= errors)) {
      throw new CompareDataError(where, `element ${i} is [${errors}, ${total}]: need 0 ≤ errors ≤ total`);
    }
    return { errors, total };
  });
}

export function samePairing(nc: number, ne: number, names: { control: string; experiment: string }): void {
  if (nc !== ne) {
    throw new CompareDataError(names.experiment, `has ${ne} looks and ${names.control} has ${nc}: sequential methods pair the two groups look by look`);
  }
}

/**
 * `steadystate compare`'s work: reading the samples, judging them with the
 * chosen method, printing the results (the command and its flags are in
 * compare-command.ts, which loads this module when the command runs).
 */
import { readFile } from 'node:fs/promises';
import { EXIT_BAD_INPUT, EXIT_CODES } from '../engine/types.ts';
import { describeError, ValidationError } from '../lib/errors.ts';
import { StatsInputError } from '../stats/errors.ts';
import { mannWhitney } from '../stats/mann-whitney.ts';
import { sequentialMean } from '../stats/sequential-mean.ts';
import { sequentialProportion, type ProportionObservation } from '../stats/sequential-proportion.ts';
import { sequentialRate } from '../stats/sequential-rate.ts';
import type { SequentialDirection, SequentialResult } from '../stats/sequential-types.ts';
import { CompareDataError, numbers, pairs, parseFraction, parseTolerance, readError, readJsonFile, relativeOnly, samePairing, toleranceText } from './compare-input.ts';
import { worstExitCode } from './exit-codes.ts';
import type { Tolerance } from '../spec/fields.ts';
import { judgeMetric, type MetricCheck, type MetricVerdict, type SpreadPolicy } from '../stats/verdict.ts';
import type { CompareMethod, RawOptions } from './compare-command.ts';

export interface CompareOptions {
  method: CompareMethod;
  alpha: number;
  direction: SequentialDirection;
  tolerance: Tolerance;
  /** Experiment share of the traffic (sequential-rate). */
  split: number;
  /** Fewest values per group before paired / mann-whitney judge. */
  minSamples: number;
  /** paired: consecutive values that share raw material (range window / step); null = unknown (batch means). */
  windowSteps: number | null;
  /** paired and mann-whitney: what a spread change does. */
  spread: SpreadPolicy;
}

export interface CompareResult {
  method: CompareMethod;
  n: number;
  nControl: number;
  nExperiment: number;
  pValue: number;
  estimate: number | null;
  ci: [number, number];
  verdict: 'pass' | 'fail' | 'inconclusive';
  stoppedAt?: number | null;
  safetyPValue?: number;
  relativeEffect: number | null;
  alpha: number;
  direction: SequentialDirection;
  tolerance: string;
  reason?: string;
  checks?: MetricCheck[];
  mde?: number | null;
  units?: MetricVerdict['units'];
}


export async function compareCommand(raw: RawOptions): Promise<number> {
  const opts = parseOptions(raw);
  if (raw.batch !== undefined) {
    if (raw.control !== undefined || raw.experiment !== undefined) {
      throw new ValidationError([{ path: '--batch', message: 'use either --batch or --control and --experiment, not both' }]);
    }
    return runBatch(raw.batch, opts);
  }
  if (raw.control === undefined) throw new ValidationError([{ path: '--control', message: 'required (or use --batch)' }]);
  if (raw.experiment === undefined) throw new ValidationError([{ path: '--experiment', message: 'required (or use --batch)' }]);
  const control = await readJsonFile(raw.control, '--control');
  const experiment = await readJsonFile(raw.experiment, '--experiment');
  let result: CompareResult;
  try {
    result = compare(control, experiment, opts, { control: '--control', experiment: '--experiment' });
  } catch (err) {
    if (err instanceof CompareDataError) throw new ValidationError([{ path: err.where, message: err.message }]);
    if (err instanceof StatsInputError) throw new ValidationError([{ path: '--method', message: err.message }]);
    throw err;
  }
  process.stdout.write(raw.json === true ? `${toJson(result)}\n` : `${humanLine(result)}\n`);
  return verdictExitCode(result.verdict);
}

/** A verdict's exit code, as `run` exits on the run's verdict. */
export function verdictExitCode(verdict: CompareResult['verdict']): number {
  return verdict === 'pass' ? EXIT_CODES.passed : verdict === 'fail' ? EXIT_CODES.failed : EXIT_CODES.inconclusive;
}

/** Judge one pair of samples; throws CompareDataError (bad data) or StatsInputError. */
export function compare(
  control: unknown,
  experiment: unknown,
  opts: CompareOptions,
  names: { control: string; experiment: string } = { control: 'control', experiment: 'experiment' },
): CompareResult {
  const common = { alpha: opts.alpha, direction: opts.direction, tolerance: toleranceText(opts.tolerance) };
  if (opts.method === 'proportion') {
    const c = pairs(control, names.control);
    const e = pairs(experiment, names.experiment);
    samePairing(c.length, e.length, names);
    const looks: ProportionObservation[] = c.map((cc, i) => ({ control: cc, experiment: e[i]! }));
    const r = sequentialProportion(looks, { alpha: opts.alpha, direction: opts.direction, tolerance: relativeOnly(opts.tolerance, 'proportion') });
    return fromSequential('proportion', r, c.length, e.length, common);
  }
  const c = numbers(control, names.control);
  const e = numbers(experiment, names.experiment);
  // The service's judge on the two samples; `paired` also knows how many steps share raw material.
  const judge = (method: 'paired' | 'mann-whitney'): MetricVerdict =>
    judgeMetric({
      name: 'compare',
      method,
      control: c,
      experiment: e,
      direction: opts.direction,
      tolerance: opts.tolerance,
      alpha: opts.alpha,
      minSamples: opts.minSamples,
      spread: opts.spread,
      ...(method === 'paired' ? { windowSteps: opts.windowSteps } : {}),
    });
  if (opts.method === 'paired') {
    samePairing(c.length, e.length, names);
    const v = judge('paired');
    return {
      method: 'paired',
      n: v.control.n,
      nControl: v.control.n,
      nExperiment: v.experiment.n,
      pValue: v.pValue ?? 1,
      estimate: v.effect,
      ci: v.ci ?? [-Infinity, Infinity],
      verdict: v.verdict,
      relativeEffect: v.relativeEffect,
      ...common,
      reason: v.reason.replace(/^compare: /, ''),
      ...(v.checks ? { checks: v.checks } : {}),
      mde: v.mde ?? null,
      ...(v.units ? { units: v.units } : {}),
    };
  }
  if (opts.method === 'mann-whitney') {
    if (c.length === 0) throw new CompareDataError(names.control, 'is empty: need at least one value');
    if (e.length === 0) throw new CompareDataError(names.experiment, 'is empty: need at least one value');
    const mw = mannWhitney(e, c, { alternative: 'two.sided', confLevel: 1 - opts.alpha });
    const v = judge('mann-whitney');
    return {
      method: 'mann-whitney',
      n: c.length + e.length,
      nControl: c.length,
      nExperiment: e.length,
      pValue: mw.pValue,
      estimate: mw.estimate,
      ci: mw.confInt,
      verdict: v.verdict,
      relativeEffect: v.control.median === null || v.control.median === 0 ? null : mw.estimate / Math.abs(v.control.median),
      ...common,
      reason: v.reason.replace(/^compare: /, ''),
      ...(v.checks ? { checks: v.checks } : {}),
      mde: v.mde ?? null,
    };
  }
  samePairing(c.length, e.length, names);
  const looks = c.map((cc, i) => ({ control: cc, experiment: e[i]! }));
  if (opts.method === 'sequential-rate') {
    const bad = looks.findIndex((o) => o.control < 0 || o.experiment < 0);
    if (bad >= 0) {
      const where = looks[bad]!.control < 0 ? names.control : names.experiment;
      throw new CompareDataError(where, `element ${bad} is negative; sequential-rate needs event counts ≥ 0`);
    }
    const r = sequentialRate(looks, { alpha: opts.alpha, direction: opts.direction, split: opts.split, tolerance: relativeOnly(opts.tolerance, 'sequential-rate') });
    return fromSequential('sequential-rate', r, c.length, e.length, common);
  }
  const r = sequentialMean(looks, { alpha: opts.alpha, direction: opts.direction, tolerance: opts.tolerance });
  return fromSequential('sequential-mean', r, c.length, e.length, common);
}

function fromSequential(
  method: CompareMethod,
  r: SequentialResult,
  nControl: number,
  nExperiment: number,
  common: { alpha: number; direction: SequentialDirection; tolerance: string },
): CompareResult {
  return {
    method,
    n: r.n,
    nControl,
    nExperiment,
    pValue: r.pValue,
    estimate: r.estimate,
    ci: r.ci,
    verdict: r.verdict,
    stoppedAt: r.stoppedAt,
    safetyPValue: r.safetyPValue,
    relativeEffect: r.relativeEffect,
    ...common,
  };
}

async function runBatch(file: string, opts: CompareOptions): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ValidationError([{ path: '--batch', message: readError(file, err) }]);
  }
  let bad = false;
  const codes: number[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const lineNo = index + 1;
    let id: unknown = null;
    try {
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (err) {
        throw new CompareDataError('(line)', `not JSON: ${describeError(err)}`);
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new CompareDataError('(line)', 'must be an object { "id", "control", "experiment" }');
      const obj = row as Record<string, unknown>;
      id = obj.id ?? null;
      if (!('id' in obj)) throw new CompareDataError('id', 'missing');
      if (!('control' in obj)) throw new CompareDataError('control', 'missing');
      if (!('experiment' in obj)) throw new CompareDataError('experiment', 'missing');
      const result = compare(obj.control, obj.experiment, opts);
      process.stdout.write(`${toJson({ id, ...result })}\n`);
      codes.push(verdictExitCode(result.verdict));
    } catch (err) {
      if (!(err instanceof CompareDataError || err instanceof StatsInputError)) throw err;
      bad = true;
      const where = err instanceof CompareDataError ? err.where : opts.method;
      const message = `${where}: ${err.message}`;
      process.stdout.write(`${JSON.stringify({ id, line: lineNo, error: message })}\n`);
      process.stderr.write(`steadystate: ${file}:${lineNo}: ${message}\n`);
    }
  }
  return bad ? EXIT_BAD_INPUT : worstExitCode(codes);
}

function parseOptions(raw: RawOptions): CompareOptions {
  const issues: { path: string; message: string }[] = [];
  const alpha = Number(raw.alpha);
  if (!(raw.alpha.trim() !== '' && alpha > 0 && alpha < 1)) issues.push({ path: '--alpha', message: `must be a number strictly between 0 and 1, got "${raw.alpha}"` });
  const tolerance = parseTolerance(raw.tolerance);
  if (tolerance === null) issues.push({ path: '--tolerance', message: `"${raw.tolerance}" is not a tolerance (e.g. 5% relative, or 0.2 absolute)` });
  const split = parseFraction(raw.split);
  if (split === null || !(split > 0 && split < 1)) issues.push({ path: '--split', message: `must be strictly between 0 and 1 (e.g. 0.5 or 50%), got "${raw.split}"` });
  const minSamples = Number(raw.minSamples);
  if (!(Number.isInteger(minSamples) && minSamples >= 1)) issues.push({ path: '--min-samples', message: `must be an integer ≥ 1, got "${raw.minSamples}"` });
  if (tolerance !== null && tolerance.kind === 'absolute' && tolerance.value !== 0 && (raw.method === 'sequential-rate' || raw.method === 'proportion')) {
    issues.push({ path: '--tolerance', message: `${raw.method} compares a ratio between the groups, so the tolerance must be relative (e.g. 5%), got "${raw.tolerance}"` });
  }
  if (tolerance !== null && tolerance.kind === 'relative' && tolerance.value >= 1 && raw.direction !== 'increase' && raw.method !== 'mann-whitney' && raw.method !== 'sequential-mean') {
    issues.push({ path: '--tolerance', message: `a relative tolerance must be below 100% when a drop is harmful, got "${raw.tolerance}"` });
  }
  if (issues.length > 0) throw new ValidationError(issues);
  const windowText = raw.windowSteps ?? '1';
  const windowSteps = windowText === 'unknown' ? null : Number(windowText);
  if (windowSteps !== null && !(Number.isInteger(windowSteps) && windowSteps >= 1)) {
    issues.push({ path: '--window-steps', message: `must be an integer ≥ 1 or "unknown", got "${windowText}"` });
  }
  return { method: raw.method, alpha, direction: raw.direction, tolerance: tolerance!, split: split!, minSamples, windowSteps, spread: raw.spread ?? 'report' };
}

/** JSON with ±Infinity (open interval ends, an infinite ratio) as null. */
function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x));
}

function humanLine(r: CompareResult): string {
  const n = (v: number | null): string => (v === null ? '—' : Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v));
  const stop = r.stoppedAt === undefined ? '' : `, stopped at look ${r.stoppedAt ?? '—'}`;
  return `${r.method}: ${r.verdict} — estimate ${n(r.estimate)}, ${Math.round((1 - r.alpha) * 100)}% CI ${n(r.ci[0])} to ${n(r.ci[1])}, p=${n(r.pValue)}, n=${r.n}${stop}`;
}

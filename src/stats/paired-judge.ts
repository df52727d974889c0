/**
 * The default judge: control and experiment paired step by step, compared on
 * independent units (paired-units.ts), against the metric's tolerance
 * boundary. Valid on the series the engine really collects — overlapping
 * rate windows, percentiles over windows, ratios of rates, shared load swings,
 * overdispersed counts — because it never counts a step as more evidence than
 * the events behind it (ADR 013).
 *
 * Level (always judged). With a relative tolerance δ and a positive control
 * mean, the effect is the ratio of means R = μe/μc:
 *   `decrease`: harm ⇔ R < 1 − δ;  `increase`: harm ⇔ R > 1 + δ;  `either`: both.
 * The test is a one-sided t-test of the contrast ē − c̄ against no change (its
 * variance from the units, t on units − 1 df), in the bad direction. `fail`
 * needs both a significant change (p < alpha after Holm) and an estimate
 * beyond the band — significant and material, Kayenta's rule (ADR 025). The
 * interval is Fieller's (1 − alpha) set for R, which inverts the contrast
 * ē − r·c̄ at every r; `pass` needs its bad-side bound inside the band (an
 * equivalence-style pass, ADR 002). An absolute tolerance (or a control
 * mean ≤ 0) uses the difference ē − c̄ the same way.
 *
 * Spread (a separate finding). Paired mean absolute deviations from each
 * group's median, one-sided "experiment more spread out" (harmful when the
 * ratio of deviations is beyond the band), on the same units. `spread:
 * report` (default) reports it beside the verdict without touching it;
 * `spread: fail` makes it a judged check; `ignore` skips it.
 *
 * Rare events (count metrics: `counts: true`, or non-negative integers, at
 * least half zero): the exact conditional Poisson test on the totals, with
 * the counts first divided by a Pearson dispersion estimated from the split
 * of events between the arms in each unit (quasi-Poisson; at least 1), so
 * bursts of errors weigh as bursts, not as independent events.
 *
 * Power. `mde` is the smallest change in the metric's unit the level test
 * would detect with probability `power` at the units collected; a band
 * smaller than it turns a would-be `pass` into `inconclusive`.
 */
import type { Tolerance } from '../spec/fields.ts';
import { summarize } from './describe.ts';
import { StatsInputError } from './errors.ts';
import { combinedVariance, pairedMoments, unitLayout, type PairedMoments, type UnitLayout } from './paired-units.ts';
import { poissonRateTest } from './poisson-rate.ts';
import { studentTQuantileUpper, studentTSf } from './special.ts';
import { noiseFromHistory, type NoiseModel } from './sequential-windowed.ts';
import { checkJudgeInput, type Direction, type JudgeInputBase, type MetricCheck, type MetricVerdict } from './verdict-types.ts';

/** control[i] and experiment[i] are the same step; a non-finite value drops its pair. */
export interface PairedJudgeInput extends JudgeInputBase {
  /** Steps sharing raw material (⌈range window / step⌉); null when unknown (a gauge): batch means. */
  windowSteps: number | null;
  /**
   * Both groups before the window, aligned by step like the window's values,
   * and how their noise behaves (`counts` for counter rates, `gauss` else).
   * The noise learned there is pooled with the window's own (weighted by
   * degrees of freedom), so a short window is not judged on three windows'
   * worth of variance alone. Assumes the fault leaves the metric's noise
   * alone; the spread check reports when it does not.
   */
  history?: { control: readonly number[]; experiment: readonly number[]; model: NoiseModel };
}

/** Fewest independent units per group for a verdict other than inconclusive. */
export const MIN_UNITS = 3;

export function judgePaired(input: PairedJudgeInput): MetricVerdict {
  const { name, direction, tolerance, alpha, minSamples } = input;
  const power = checkJudgeInput(input);
  const spreadPolicy = input.spread ?? 'report';
  if (input.windowSteps !== null && !(input.windowSteps >= 1)) throw new StatsInputError(`${name}: windowSteps must be ≥ 1, got ${input.windowSteps}`);

  // Aligned by step (position i is step i); pairs with a non-finite value are left out where they stand.
  const n0 = Math.min(input.control.length, input.experiment.length);
  const cAll = input.control.slice(0, n0);
  const eAll = input.experiment.slice(0, n0);
  const c: number[] = [];
  const e: number[] = [];
  for (let i = 0; i < n0; i++) {
    if (Number.isFinite(cAll[i]) && Number.isFinite(eAll[i])) {
      c.push(cAll[i]!);
      e.push(eAll[i]!);
    }
  }
  const unpaired = input.control.filter(Number.isFinite).length + input.experiment.filter(Number.isFinite).length - 2 * c.length;
  const layout = unitLayout(input.windowSteps, c.length);
  const m = withHistory(pairedMoments(eAll, cAll, layout), input.history, layout, c.length);
  const controlMean = m.meanB;
  const relative = tolerance.kind === 'relative' && controlMean > 0;
  const allowed = tolerance.kind === 'absolute' ? tolerance.value : Number.isFinite(controlMean) ? tolerance.value * Math.abs(controlMean) : 0;
  const base: MetricVerdict = {
    name,
    verdict: 'inconclusive',
    reason: '',
    method: 'paired',
    control: summarize(c),
    experiment: summarize(e),
    effect: null,
    relativeEffect: null,
    ci: null,
    pValue: null,
    alpha,
    tolerance,
    allowed,
    direction,
    power,
    units: unitsOf(m, layout),
    ...(unpaired > 0 ? { unpaired } : {}),
  };

  const needed = Math.max(minSamples, 1);
  // With noise learned from history, two windows of the fault can already be judged.
  const minUnits = m.historyDf !== undefined ? 2 : MIN_UNITS;
  if (c.length < needed || m.units < minUnits) {
    base.insufficient =
      c.length < needed
        ? `${c.length} paired ${c.length === 1 ? 'step' : 'steps'}, at least ${needed} needed`
        : `${m.units} independent ${layout.kind === 'windows' ? 'windows' : 'batches'} per group, at least ${minUnits} needed`;
    return base;
  }

  const tq = studentTQuantileUpper(alpha / 2, m.df);
  const level = relative ? ratioLevel(m, tolerance.value, direction, tq) : differenceLevel(m, allowed, direction, tq);
  const seDiff = Math.sqrt(combinedVariance(m, 1, -1));
  const mde = (tq + studentTQuantileUpper(1 - power, m.df)) * seDiff;
  const checks: MetricCheck[] = [level.check];
  let rateSafe = true;
  if (input.counts ?? looksLikeSparseCounts(c, e)) {
    const rare = rareEventCheck(cAll, eAll, layout, direction, tolerance, alpha);
    checks.push(rare.check);
    rateSafe = rare.safe;
  }
  if (spreadPolicy !== 'ignore') checks.push(spreadCheck(cAll, eAll, layout, tolerance, spreadPolicy === 'fail'));

  return {
    ...base,
    effect: m.meanA - m.meanB,
    relativeEffect: controlMean !== 0 ? (m.meanA - m.meanB) / Math.abs(controlMean) : null,
    ci: level.ci,
    ...(level.relativeCi ? { relativeCi: level.relativeCi } : {}),
    pValue: level.check.pValue,
    checks,
    mde,
    mdeRelative: controlMean !== 0 ? mde / Math.abs(controlMean) : null,
    safe: level.safe && rateSafe,
    powerTooLow: allowed > 0 && mde > allowed,
  };
}

/**
 * Pool the window's unit variances with the noise learned from history: for
 * counts Var(mean e) = φ·ē/m (the split of each window's events, conditional
 * on its total, so the shared load drops out), for gauss the history's
 * (co)variances / m, m the independent units per phase; weighted by degrees
 * of freedom (the history's: its steps / stride − 1).
 */
function withHistory(m: PairedMoments, history: PairedJudgeInput['history'], layout: UnitLayout, paired: number): PairedMoments {
  if (!history || m.units < 2) return m;
  const noise = noiseFromHistory(history.control, history.experiment, history.model);
  if (!noise) return m;
  const stride = layout.kind === 'windows' ? layout.stride : layout.size;
  const historySteps = Math.min(history.control.length, history.experiment.length);
  const dfH = Math.floor(historySteps / stride) - 1;
  if (dfH < 2) return m;
  const units = paired / stride;
  const h =
    noise.model === 'counts'
      ? { vaa: (noise.phi * Math.max(0, m.meanA)) / units, vbb: (noise.phi * Math.max(0, m.meanB)) / units, vab: 0 }
      : { vaa: noise.vee / units, vbb: noise.vcc / units, vab: noise.vec / units };
  const df = dfH + m.df;
  const pool = (hv: number, uv: number): number => (dfH * hv + m.df * uv) / df;
  return { ...m, vaa: pool(h.vaa, m.vaa), vbb: pool(h.vbb, m.vbb), vab: pool(h.vab, m.vab), df, historyDf: dfH };
}

function unitsOf(m: PairedMoments, layout: UnitLayout): NonNullable<MetricVerdict['units']> {
  const history = m.historyDf !== undefined ? { historyDf: m.historyDf } : {};
  return layout.kind === 'windows'
    ? { layout: 'windows', count: m.units, df: m.df, stride: layout.stride, ...history }
    : { layout: 'batches', count: m.units, df: m.df, stride: layout.size, ...history };
}

/** P(T ≤ t) and P(T ≥ t) for Student's t, with the degenerate t = ±∞ / NaN (no variance) handled. */
function tails(t: number, df: number): { below: number; above: number } {
  if (Number.isNaN(t)) return { below: 1, above: 1 };
  return { below: studentTSf(-t, df), above: studentTSf(t, df) };
}

/** The null hypothesis of no change, in the direction tested: "not above", "not below", "not different from". */
function notBeyond(direction: Direction): string {
  return direction === 'increase' ? 'not above' : direction === 'decrease' ? 'not below' : 'not different from';
}

function sidedP(direction: Direction, pUp: number, pDown: number): number {
  return direction === 'increase' ? pUp : direction === 'decrease' ? pDown : Math.min(1, 2 * Math.min(pUp, pDown));
}

interface Level {
  check: MetricCheck;
  ci: [number, number];
  relativeCi?: [number, number];
  safe: boolean;
}

/** Ratio of means against 1 ± δ, Fieller interval. */
function ratioLevel(m: PairedMoments, delta: number, direction: Direction, tq: number): Level {
  const e = m.meanA;
  const c = m.meanB;
  const contrastT = (r0: number): number => {
    const se = Math.sqrt(combinedVariance(m, 1, -r0));
    const d = e - r0 * c;
    return se > 0 ? d / se : d === 0 ? NaN : d > 0 ? Infinity : -Infinity;
  };
  const noChange = tails(contrastT(1), m.df);
  const [lo, hi] = fieller(m, tq);
  const ratio = e / c;
  const harmful = (direction !== 'decrease' && ratio > 1 + delta) || (direction !== 'increase' && ratio < 1 - delta);
  const safe = (direction === 'decrease' || hi <= 1 + delta) && (direction === 'increase' || lo >= 1 - delta);
  return {
    check: {
      test: 'paired-ratio',
      hypothesis: `the ratio of means experiment/control is ${notBeyond(direction)} 1 (harmful when beyond the ${Number((delta * 100).toPrecision(3))}% band)`,
      pValue: sidedP(direction, noChange.above, noChange.below),
      adjustedPValue: sidedP(direction, noChange.above, noChange.below),
      estimate: ratio,
      ci: [lo, hi],
      harmful,
      rejected: false,
      judged: true,
    },
    ci: [(lo - 1) * c, (hi - 1) * c],
    relativeCi: [lo - 1, hi - 1],
    safe,
  };
}

/**
 * Fieller's interval for R = μe/μc: every r whose contrast ē − r·c̄ is within
 * tq standard errors of 0. Unbounded ([−∞, ∞]) when the control mean itself is
 * not distinguishable from 0.
 */
function fieller(m: PairedMoments, tq: number): [number, number] {
  const t2 = tq * tq;
  const a = m.meanB * m.meanB - t2 * m.vbb;
  const b = m.meanA * m.meanB - t2 * m.vab;
  const c = m.meanA * m.meanA - t2 * m.vaa;
  const disc = b * b - a * c;
  if (!(a > 0) || !(disc >= 0)) return [-Infinity, Infinity];
  const root = Math.sqrt(disc);
  return [(b - root) / a, (b + root) / a];
}

/** Difference of means against ±band. */
function differenceLevel(m: PairedMoments, allowed: number, direction: Direction, tq: number): Level {
  const diff = m.meanA - m.meanB;
  const se = Math.sqrt(combinedVariance(m, 1, -1));
  const t = (d: number): number => (se > 0 ? d / se : d === 0 ? NaN : d > 0 ? Infinity : -Infinity);
  const noChange = tails(t(diff), m.df);
  const ci: [number, number] = [diff - tq * se, diff + tq * se];
  const harmful = (direction !== 'decrease' && diff > allowed) || (direction !== 'increase' && diff < -allowed);
  const safe = (direction === 'decrease' || ci[1] <= allowed) && (direction === 'increase' || ci[0] >= -allowed);
  return {
    check: {
      test: 'paired-difference',
      hypothesis: `the mean difference experiment − control is ${notBeyond(direction)} 0 (harmful when beyond ±${Number(allowed.toPrecision(4))})`,
      pValue: sidedP(direction, noChange.above, noChange.below),
      adjustedPValue: sidedP(direction, noChange.above, noChange.below),
      estimate: diff,
      ci,
      harmful,
      rejected: false,
      judged: true,
    },
    ci,
    safe,
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Paired spread: mean absolute deviation from each group's median, experiment vs (1 + δ)× control's. */
function spreadCheck(c: readonly number[], e: readonly number[], layout: UnitLayout, tolerance: Tolerance, judged: boolean): MetricCheck {
  const both = c.map((v, i) => Number.isFinite(v) && Number.isFinite(e[i]));
  const mc = median(c.filter((_, i) => both[i]));
  const me = median(e.filter((_, i) => both[i]));
  const dc = c.map((v, i) => (both[i] ? Math.abs(v - mc) : NaN));
  const de = e.map((v, i) => (both[i] ? Math.abs(v - me) : NaN));
  const m = pairedMoments(de, dc, layout);
  const w = tolerance.kind === 'relative' ? 1 + tolerance.value : 1;
  const shift = tolerance.kind === 'relative' ? 0 : tolerance.value;
  // Tested against equal spread; harmful when the ratio (or difference) is beyond the band.
  const d = m.meanA - m.meanB;
  const se = Math.sqrt(combinedVariance(m, 1, -1));
  const t = se > 0 ? d / se : d > 0 ? Infinity : d < 0 ? -Infinity : NaN;
  const pValue = m.df >= 1 ? tails(t, m.df).above : 1;
  const ratio = m.meanB > 0 ? m.meanA / m.meanB : m.meanA > 0 ? Infinity : null;
  const harmful = tolerance.kind === 'relative' ? ratio !== null && ratio > w : m.meanA - m.meanB > shift;
  return {
    test: 'paired-spread',
    hypothesis: 'the experiment is not more spread out than the control beyond the band (paired mean absolute deviations)',
    pValue,
    adjustedPValue: pValue,
    estimate: ratio,
    ci: null,
    harmful,
    rejected: false,
    judged,
  };
}

/** Non-negative integers, at least half of them 0: per-step counts of rare events. */
export function looksLikeSparseCounts(control: readonly number[], experiment: readonly number[]): boolean {
  const all = [...control, ...experiment];
  if (all.length === 0) return false;
  let zeros = 0;
  for (const v of all) {
    if (!(Number.isInteger(v) && v >= 0)) return false;
    if (v === 0) zeros++;
  }
  return zeros * 2 >= all.length;
}

/**
 * Pearson dispersion of the split of events between the arms, per unit, at
 * least 1: variance of the experiment's share beyond what independent events
 * (binomial) would give. Averaged over phases.
 */
export function splitDispersion(c: readonly number[], e: readonly number[], layout: UnitLayout): number {
  const step = layout.kind === 'windows' ? layout.stride : 1;
  const phases = layout.kind === 'windows' ? layout.stride : 1;
  const size = layout.kind === 'batches' ? layout.size : 1;
  const estimates: number[] = [];
  for (let p = 0; p < Math.min(phases, c.length); p++) {
    const units: [number, number][] = [];
    for (let i = p; i + size <= c.length; i += step * size) {
      let uc = 0;
      let ue = 0;
      for (let j = i; j < i + size; j++) {
        if (!(Number.isFinite(c[j]) && Number.isFinite(e[j]))) continue;
        uc += c[j]!;
        ue += e[j]!;
      }
      units.push([uc, ue]);
    }
    const total = units.reduce((s, [uc, ue]) => s + uc + ue, 0);
    const share = total > 0 ? units.reduce((s, [, ue]) => s + ue, 0) / total : 0;
    if (share <= 0 || share >= 1) continue;
    let x2 = 0;
    let k = 0;
    for (const [uc, ue] of units) {
      const nj = uc + ue;
      if (nj <= 0) continue;
      x2 += (ue - share * nj) ** 2 / (nj * share * (1 - share));
      k += 1;
    }
    if (k >= 2) estimates.push(x2 / (k - 1));
  }
  if (estimates.length === 0) return 1;
  return Math.max(1, estimates.reduce((a, b) => a + b, 0) / estimates.length);
}

function rareEventCheck(
  c: readonly number[],
  e: readonly number[],
  layout: UnitLayout,
  direction: Direction,
  tolerance: Tolerance,
  alpha: number,
): { check: MetricCheck; safe: boolean } {
  // Overlapping windows count each event `stride` times.
  const overlap = layout.kind === 'windows' ? layout.stride : 1;
  const phi = splitDispersion(c, e, layout);
  const both = (i: number): boolean => Number.isFinite(c[i]) && Number.isFinite(e[i]);
  const sum = (v: readonly number[]): number => v.reduce((a, b, i) => (both(i) ? a + b : a), 0);
  const x = Math.round(sum(e) / overlap / phi);
  const y = Math.round(sum(c) / overlap / phi);
  const rel = tolerance.kind === 'relative' ? tolerance.value : 0;
  // Tested against equal rates; harmful when the ratio (or difference) is beyond the band.
  const pUp = poissonRateTest(x, y, 1, 1, { ratio: 1, alternative: 'greater', confLevel: 1 - alpha }).pValue;
  const pDown = poissonRateTest(x, y, 1, 1, { ratio: 1, alternative: 'less', confLevel: 1 - alpha }).pValue;
  const two = poissonRateTest(x, y, 1, 1, { alternative: 'two.sided', confLevel: 1 - alpha });
  const ratio = two.estimate;
  const diff = (sum(e) - sum(c)) / Math.max(1, c.filter((_, i) => both(i)).length);
  const up = tolerance.kind === 'relative' ? ratio !== null && ratio > 1 + rel : diff > tolerance.value;
  const down = tolerance.kind === 'relative' ? ratio !== null && ratio < 1 - rel : diff < -tolerance.value;
  const [lo, hi] = two.confInt;
  const safe = tolerance.kind !== 'relative' || ((direction === 'decrease' || hi <= 1 + rel) && (direction === 'increase' || lo >= 1 - rel));
  const pValue = sidedP(direction, pUp, pDown);
  return {
    check: {
      test: 'overdispersed-poisson',
      hypothesis:
        `the experiment's event rate is ${notBeyond(direction)} the control's ` +
        `(${x} vs ${y} events after dividing by the dispersion ${Number(phi.toPrecision(3))})`,
      pValue,
      adjustedPValue: pValue,
      estimate: ratio,
      ci: [lo, hi],
      harmful: (direction !== 'decrease' && up) || (direction !== 'increase' && down),
      rejected: false,
      judged: true,
    },
    safe,
  };
}

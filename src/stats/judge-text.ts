/**
 * The sentence behind a metric's verdict, written from the verdict's own
 * numbers after Holm (so the text, the table and the headline quote the same
 * adjusted p-values), in the metric's words: which change is bad (direction),
 * by how much, with what interval; a spread change is named as its own
 * finding and never dressed up as a level verdict.
 */
import { isNearZeroBase } from '../lib/format-units.ts';
import type { Tolerance } from '../spec/fields.ts';
import type { MetricCheck, MetricVerdict } from './verdict-types.ts';

export function reasonOf(m: MetricVerdict, familySize: number): string {
  const { name } = m;
  const change = m.direction === 'increase' ? 'rise' : m.direction === 'decrease' ? 'drop' : 'change';
  const notes = [m.dropped ? `${m.dropped} non-finite ${m.dropped === 1 ? 'sample' : 'samples'} ignored` : '', m.unpaired ? `${m.unpaired} unpaired ${m.unpaired === 1 ? 'step' : 'steps'} ignored` : '']
    .filter(Boolean)
    .map((t) => ` (${t})`)
    .join('');
  const mdeNote = m.mde === null || m.mde === undefined ? '' : ` At these sizes the smallest shift detectable with ${percent(m.power ?? 0.8)} power is ±${num(m.mde)}.`;
  if (m.insufficient !== undefined || !m.checks || m.effect === null) {
    return `${name}: too few samples to judge: ${m.insufficient ?? 'no test'}${notes}.${mdeNote}`;
  }
  const band = bandText(m.tolerance, m.allowed, m.method === 'paired' ? m.control.mean : m.control.median, m.method === 'paired' ? 'mean' : 'median');
  const level = m.checks[0] as MetricCheck;
  const shift = `experiment − control ${signed(m.effect)}${relativeText(m)}`;
  const interval = m.relativeCi
    ? `${percent(1 - m.alpha)} CI ${signedPercent(m.relativeCi[0])} to ${signedPercent(m.relativeCi[1])}`
    : m.ci
      ? `${percent(1 - m.alpha)} CI ${signed(m.ci[0])} to ${signed(m.ci[1])}`
      : '';
  const pLabel = m.method === 'paired' ? `p(${change})` : 'p';
  const evidence = `${interval}, ${pLabel}=${pText(level.pValue)}${adjusted(level)}${level.rejected ? ` < alpha ${num(m.alpha)}` : ''}`;
  const unitsText = m.units
    ? `; ${m.units.count} independent ${m.units.layout} per group${m.units.historyDf !== undefined ? `, noise pooled with ${m.units.historyDf + 1} windows before the fault` : ''}`
    : '';
  const others = m.checks
    .slice(1)
    .map((c) => `; ${checkText(c, m.alpha)}`)
    .join('');
  const note = m.note ? `; ${m.note}` : '';
  const holm = familySize > 1 ? ` (Holm over ${familySize} tests)` : '';
  const tail = `${note}${unitsText}${others}${notes}`;
  const failing = m.checks.filter((c) => c.rejected && c.harmful);
  if (m.verdict === 'fail' && failing.includes(level)) {
    return `${name}: significant ${change}, estimated beyond the allowed ${band}: ${shift}, ${evidence}${holm}${tail}.`;
  }
  if (m.verdict === 'fail') {
    const what = failing.map((c) => (c.test === 'brown-forsythe' || c.test === 'paired-spread' ? 'spread' : 'event rate')).join(' and ');
    return `${name}: significant rise in ${what}, estimated beyond the allowed ${band}${holm}; level: ${shift}, ${evidence}${tail}.`;
  }
  if (m.verdict === 'pass') return `${name}: a ${change} beyond the allowed ${band} is ruled out: ${shift}, ${evidence}${holm}${tail}.`;
  if (m.safe && m.powerTooLow) {
    return (
      `${name}: too little power to rule out a ${change} beyond the allowed ${band}: the smallest shift detectable ` +
      `with ${percent(m.power ?? 0.8)} power at these sizes is ±${num(m.mde ?? 0)}; ${shift}, ${evidence}${holm}${tail}.`
    );
  }
  const demoted = level.harmful && level.pValue < m.alpha && !level.rejected ? ` (not significant once corrected for ${familySize} tests)` : '';
  // A significant change whose estimate is inside the band: real, but not shown to matter.
  const small = !level.harmful && level.rejected ? ` (a significant ${change}, estimated inside the band)` : '';
  return `${name}: cannot rule out a ${change} beyond the allowed ${band}${demoted}${small}: ${shift}, ${evidence}${holm}${tail}.`;
}

function adjusted(c: MetricCheck): string {
  return c.adjustedPValue !== c.pValue ? ` (Holm ${pText(c.adjustedPValue)})` : '';
}

export function checkText(c: MetricCheck, alpha: number): string {
  const judged = c.judged === false ? ' — reported, does not judge the metric' : '';
  const p = `p=${pText(c.pValue)}${adjusted(c)}${c.rejected ? ` < alpha ${num(alpha)}` : ''}`;
  if (c.test === 'brown-forsythe' || c.test === 'paired-spread') {
    const ratio =
      c.estimate === null
        ? 'no spread in either group'
        : c.estimate === Infinity
          ? 'experiment spread out, control constant'
          : `experiment ${num(c.estimate)}× the control's`;
    return `spread (${c.test === 'brown-forsythe' ? 'Brown–Forsythe' : 'paired deviations'}): ${ratio}, ${p}${judged}`;
  }
  const ratio = c.estimate === null ? 'no events in either group' : `rate ratio ${c.estimate === Infinity ? 'Infinity' : num(c.estimate)}`;
  const ci = c.ci === null ? '' : `, CI ${num(c.ci[0])} to ${c.ci[1] === Infinity ? 'Infinity' : num(c.ci[1])}`;
  const label = c.test === 'overdispersed-poisson' ? 'event rate (Poisson, dispersion-adjusted)' : 'event rate (exact Poisson)';
  return `${label}: ${ratio}${ci}, ${p}${judged}`;
}

/**
 * The change relative to the control: "(+12.3%)"; near a zero base (ADR 020:
 * zero, a change over 10× the base, or a base inside an absolute tolerance)
 * the two levels instead, since "+41500%" only says that the base was tiny.
 */
function relativeText(m: MetricVerdict): string {
  if (m.relativeEffect === null || m.effect === null) return '';
  const base = m.method === 'paired' ? m.control.mean : m.control.median;
  if (typeof base === 'number' && Number.isFinite(base) && nearZero(m)) return ` (control ${num(base)} → experiment ${num(base + m.effect)})`;
  return ` (${signedPercent(m.relativeEffect)})`;
}

function nearZero(m: MetricVerdict): boolean {
  const base = m.method === 'paired' ? m.control.mean : m.control.median;
  return isNearZeroBase(base, m.effect, m.tolerance.kind === 'absolute' ? { absoluteTolerance: m.tolerance.value } : {});
}

/** "−12.3%" or "+4.1 ms"-style short effect for a headline. */
export function shortEffect(m: MetricVerdict): string {
  if (m.relativeEffect !== null && !nearZero(m)) return signedPercent(m.relativeEffect);
  if (m.effect !== null) return signed(m.effect);
  return 'no data';
}

function bandText(tolerance: Tolerance, allowed: number, centre: number | null, what: string): string {
  if (tolerance.kind === 'absolute') return num(allowed);
  if (centre === 0) return `0 (${percent(tolerance.value)} of a control ${what} of 0, so any change counts)`;
  return `${num(allowed)} (${percent(tolerance.value)} of the control ${what} ${num(centre ?? 0)})`;
}

/** Four significant digits, more for large values so that 123457 does not print as 1.235e+5. */
export function num(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e15) return v.toPrecision(3);
  return String(Number(v.toPrecision(Math.max(4, Math.ceil(Math.log10(a))))));
}

function signed(v: number): string {
  return v > 0 ? `+${num(v)}` : num(v);
}

export function percent(fraction: number): string {
  if (!Number.isFinite(fraction)) return fraction > 0 ? '∞' : '−∞';
  return `${Number((fraction * 100).toPrecision(3))}%`;
}

function signedPercent(fraction: number): string {
  return fraction > 0 ? `+${percent(fraction)}` : percent(fraction);
}

export function pText(p: number): string {
  return p < 1e-3 ? p.toExponential(1) : String(Number(p.toPrecision(2)));
}

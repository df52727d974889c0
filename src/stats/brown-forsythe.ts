/**
 * Brown–Forsythe test for a difference in spread between two samples (Brown &
 * Forsythe 1974, "Robust tests for the equality of variances", JASA 69:364–367):
 * Levene's test with deviations taken from each group's median. This is the
 * check Mann-Whitney cannot make: two groups with the same median and very
 * different variability have the same ranks on average (kayenta#780).
 *
 * Hypothesis. With z = |v − median of v's group|, H0: E[z] is the same in both
 * groups (equal spread) against E[z_x] ≠ E[z_y] (`two.sided`), E[z_x] > E[z_y]
 * (`greater`: x more spread out) or < (`less`). The statistic is the one-way
 * ANOVA F of the z's, which for two groups is t² of the pooled two-sample
 * t-test on them; one-sided p-values come from that t. It matches R's
 * `oneway.test(z ~ g, var.equal = TRUE)` / `t.test(zx, zy, var.equal = TRUE)`,
 * `car::leveneTest(center = median)` and SciPy's `levene(center = "median")`.
 *
 * Assumptions. Observations independent (autocorrelation inflates
 * significance, as for Mann-Whitney). Using medians makes the test robust to
 * skewed, heavy-tailed data (latencies) where the classic F-test on variances
 * is not.
 *
 * Degenerate cases: when every deviation in both groups is equal (e.g. two
 * constant groups) the pooled variance is 0; the test then reports p = 1 if
 * the mean deviations are equal, and otherwise p = 0 on the side they differ
 * (t = ±Infinity), as the formula's limit.
 */
import { median } from 'simple-statistics';
import { StatsInputError } from './errors.ts';
import type { Alternative } from './mann-whitney.ts';
import { fSf, studentTSf } from './special.ts';

export interface BrownForsytheResult {
  /** One-way ANOVA F on the absolute deviations, with (1, nX + nY − 2) degrees of freedom. */
  statistic: number;
  /** The pooled t on the absolute deviations (x − y), whose square is `statistic`. */
  t: number;
  df: number;
  pValue: number;
  alternative: Alternative;
  /** Mean absolute deviation from the median, per group. */
  spreadX: number;
  spreadY: number;
  /** spreadX / spreadY; Infinity when only y has no spread; null when neither has. */
  spreadRatio: number | null;
}

export function brownForsythe(
  x: readonly number[],
  y: readonly number[],
  opts: { alternative?: Alternative } = {},
): BrownForsytheResult {
  const alternative = opts.alternative ?? 'two.sided';
  const zx = deviations(x, 'x');
  const zy = deviations(y, 'y');
  const m = zx.length;
  const n = zy.length;
  const meanX = mean(zx);
  const meanY = mean(zy);
  const ss = sumSq(zx, meanX) + sumSq(zy, meanY);
  const df = m + n - 2;
  const diff = meanX - meanY;
  const se = Math.sqrt((ss / df) * (1 / m + 1 / n));
  const t = se === 0 ? (diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity) : diff / se;
  const statistic = t * t;
  let pValue: number;
  if (se === 0 && diff === 0) pValue = 1;
  else if (alternative === 'greater') pValue = studentTSf(t, df);
  else if (alternative === 'less') pValue = studentTSf(-t, df);
  else pValue = fSf(statistic, 1, df);
  const spreadRatio = meanY === 0 ? (meanX === 0 ? null : Infinity) : meanX / meanY;
  return { statistic, t, df, pValue, alternative, spreadX: meanX, spreadY: meanY, spreadRatio };
}

function deviations(values: readonly number[], name: string): number[] {
  if (values.length < 2) throw new StatsInputError(`${name} needs at least 2 observations for a spread test, got ${values.length}`);
  for (const [i, v] of values.entries()) {
    if (!Number.isFinite(v)) throw new StatsInputError(`${name}[${i}] is ${v}: only finite values can be tested`);
  }
  const med = median([...values]);
  return values.map((v) => Math.abs(v - med));
}

function mean(v: readonly number[]): number {
  let s = 0;
  for (const x of v) s += x;
  return s / v.length;
}

function sumSq(v: readonly number[], m: number): number {
  let s = 0;
  for (const x of v) s += (x - m) * (x - m);
  return s;
}

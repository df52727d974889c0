/**
 * Holm's step-down adjustment (Holm 1979, "A simple sequentially rejective
 * multiple test procedure", Scand. J. Statist. 6:65–70), as R's
 * `p.adjust(p, method = "holm")`.
 *
 * Rejecting every hypothesis whose adjusted p-value is below alpha controls
 * the family-wise error rate (the chance of at least one false rejection) at
 * alpha, under any dependence between the tests. It is uniformly more
 * powerful than Bonferroni and needs no assumption beyond valid p-values.
 */
import { StatsInputError } from './errors.ts';

export function holmAdjust(pValues: readonly number[]): number[] {
  for (const [i, p] of pValues.entries()) {
    if (!(p >= 0 && p <= 1)) throw new StatsInputError(`holmAdjust: p[${i}] must be in [0, 1], got ${p}`);
  }
  const k = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p || a.i - b.i);
  const adjusted = new Array<number>(k);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (k - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}

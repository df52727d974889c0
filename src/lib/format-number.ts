/**
 * Numbers as people read them in reasons, reports and Slack: a few significant
 * digits, exponent notation only for the very small or very large, and an
 * em dash for missing or non-finite values (never "NaN").
 */
export function formatNumber(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  if (Number.isInteger(v) && abs < 1e6) return String(v);
  if (abs < 1e-3 || abs >= 1e6) return v.toExponential(digits - 1);
  return String(Number(v.toPrecision(digits)));
}

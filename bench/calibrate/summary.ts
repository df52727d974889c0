/**
 * Tables of the calibration bench: what each run ended as, counted per kind,
 * with the check behind every false alarm, and the done-when targets of
 * issue #13 (point 6) scaled to the number of runs.
 */

export type Kind = 'aa' | 'drop50' | 'drop15';

export interface Setup {
  aa: number;
  effect: number;
  windowMs: number;
  seed: number;
  rate: number;
  quick: boolean;
  /** `analysis.noDataGrace` written into the specs, when set (default: the spec's, 2 intervals). */
  noDataGrace: string | undefined;
  outDir: string;
  command: string;
}

export interface Outcome {
  kind: Kind;
  exp: string;
  name: string;
  id: string;
  state: string;
  verdict: string | null;
  reason: string;
  startedAt?: string;
  endedAt?: string | null;
  openedAt?: string | undefined;
  /** When the exporter received the webhook's POST /fault. */
  faultAppliedAt?: string | undefined;
  halt?: { guardrail: string; kind?: string | undefined; reason: string; at: string } | undefined;
  metrics: { name: string; verdict: string; reason: string; relativeEffect: number | null; pValue: number | null }[];
}

export interface Costs {
  createSec: number;
  startSec: number;
  startLatencyP95Ms: number;
  wallSec: number;
  serviceCpuSec: number;
  prometheusCpuSec: number;
  benchCpuSec: number;
  serviceRssMb: number;
  /** From the service's own /metrics at the end: source query latency and errors, guardrail evaluation lag. */
  sourceQueryP50Ms: number;
  sourceQueryP95Ms: number;
  sourceQueries: number;
  sourceErrors: number;
  evaluationLagP95Ms: number;
  exporterTicks: { ticks: number; maxLateMs: number; p99LateMs: number };
  cores: number;
  loadAvg1m: number;
  totalSec: number;
}

export interface Spread {
  n: number;
  median: number | null;
  min: number | null;
  max: number | null;
}

export interface KindSummary {
  kind: Kind;
  runs: number;
  states: Record<string, number>;
  passed: number;
  failed: number;
  halted: number;
  /** Halts by the no-data fail-safe (a source too slow or failing), not by a guardrail's verdict. */
  haltedNoData: number;
  inconclusive: number;
  /** errored, aborted, halt_failed, or still active at the deadline. */
  other: number;
  /** failed or halted. */
  detected: number;
  haltedByCompare: number;
  /** Seconds from window open to the halt decision, halts by any guardrail. */
  haltDelaySec: Spread;
  /** Same, halts by the compare guardrail only. */
  compareHaltDelaySec: Spread;
  runDurationSec: Spread;
  /** Which check made each failed or halted run, e.g. `fail: checkout-sps` or `halt: sps-drop (compare)`, with counts. */
  causes: Record<string, number>;
  /** Metric verdicts over all runs, e.g. `checkout-sps: pass 80, inconclusive 20`. */
  metricVerdicts: Record<string, Record<string, number>>;
}

export interface Target {
  what: string;
  goal: string;
  measured: string;
  met: boolean | null;
}

export interface Summary {
  setup: Setup;
  at: string;
  kinds: KindSummary[];
  targets: Target[];
  costs: Costs;
  /** Up to 10 example reasons per cause, for reading why. */
  examples: Record<string, string[]>;
}

function spread(xs: number[]): Spread {
  if (xs.length === 0) return { n: 0, median: null, min: null, max: null };
  const s = [...xs].sort((a, b) => a - b);
  const mid = (s.length - 1) / 2;
  const median = (s[Math.floor(mid)]! + s[Math.ceil(mid)]!) / 2;
  return { n: s.length, median: round(median), min: round(s[0]!), max: round(s[s.length - 1]!) };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function seconds(from: string | undefined, to: string | null | undefined): number | undefined {
  if (!from || !to) return undefined;
  const d = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(d) ? d : undefined;
}

function causesOf(o: Outcome): string[] {
  if (o.state === 'halted' && o.halt) return [`halt: ${o.halt.guardrail}${o.halt.kind ? ` (${o.halt.kind})` : ''}`];
  if (o.state === 'failed') {
    const failing = o.metrics.filter((m) => m.verdict === 'fail').map((m) => `fail: ${m.name}`);
    return failing.length > 0 ? failing : ['fail: (no failing metric named)'];
  }
  if (!['passed', 'inconclusive'].includes(o.state)) return [`${o.state}`];
  return [];
}

export function summarize(setup: Setup, outcomes: Outcome[], costs: Costs): Summary {
  const examples: Record<string, string[]> = {};
  const kinds: KindSummary[] = (['aa', 'drop50', 'drop15'] as const)
    .map((kind) => {
      const runs = outcomes.filter((o) => o.kind === kind);
      const states: Record<string, number> = {};
      const causes: Record<string, number> = {};
      const metricVerdicts: Record<string, Record<string, number>> = {};
      const haltDelays: number[] = [];
      const compareDelays: number[] = [];
      const durations: number[] = [];
      for (const o of runs) {
        states[o.state] = (states[o.state] ?? 0) + 1;
        for (const c of causesOf(o)) {
          causes[c] = (causes[c] ?? 0) + 1;
          const key = `${kind} ${c}`;
          const list = (examples[key] ??= []);
          if (list.length < 10) {
            const failing = c.startsWith('fail: ') ? o.metrics.find((m) => m.verdict === 'fail' && `fail: ${m.name}` === c) : undefined;
            const detail = o.state === 'halted' ? (o.halt?.reason ?? o.reason) : (failing?.reason ?? o.reason);
            list.push(`${o.exp}: ${detail}`);
          }
        }
        for (const m of o.metrics) {
          const v = (metricVerdicts[m.name] ??= {});
          v[m.verdict] = (v[m.verdict] ?? 0) + 1;
        }
        const delay = o.state === 'halted' ? seconds(o.openedAt, o.halt?.at) : undefined;
        if (delay !== undefined) {
          haltDelays.push(delay);
          if (o.halt?.kind === 'compare') compareDelays.push(delay);
        }
        const d = seconds(o.startedAt, o.endedAt);
        if (d !== undefined) durations.push(d);
      }
      const count = (s: string): number => states[s] ?? 0;
      return {
        kind,
        runs: runs.length,
        states,
        passed: count('passed'),
        failed: count('failed'),
        halted: count('halted'),
        haltedNoData: runs.filter((o) => o.state === 'halted' && o.halt?.kind === 'no-data').length,
        inconclusive: count('inconclusive'),
        other: runs.length - count('passed') - count('failed') - count('halted') - count('inconclusive'),
        detected: count('failed') + count('halted'),
        haltedByCompare: runs.filter((o) => o.state === 'halted' && o.halt?.kind === 'compare').length,
        haltDelaySec: spread(haltDelays),
        compareHaltDelaySec: spread(compareDelays),
        runDurationSec: spread(durations),
        causes,
        metricVerdicts,
      };
    })
    .filter((k) => k.runs > 0);
  return { setup, at: new Date().toISOString(), kinds, targets: targets(kinds), costs, examples };
}

/** Issue #13's done-when figures, scaled from "of 100" and "of 10" to the runs made. */
function targets(kinds: KindSummary[]): Target[] {
  const out: Target[] = [];
  const aa = kinds.find((k) => k.kind === 'aa');
  if (aa) {
    const falseAlarms = aa.failed + aa.halted;
    const limit = Math.floor((6 * aa.runs) / 100);
    out.push({
      what: 'A/A false fails + false halts',
      goal: `≤ 6 of 100 (≤ ${limit} of ${aa.runs})`,
      measured: `${falseAlarms} of ${aa.runs} (${aa.failed} failed, ${aa.halted} halted${aa.haltedNoData ? `, of which ${aa.haltedNoData} by the no-data fail-safe` : ''})`,
      met: falseAlarms <= limit,
    });
    const need = Math.ceil((60 * aa.runs) / 100);
    out.push({ what: 'A/A passes (10% checkouts/s, 20% p95)', goal: `≥ 60 of 100 (≥ ${need} of ${aa.runs})`, measured: `${aa.passed} of ${aa.runs}`, met: aa.passed >= need });
  }
  const d50 = kinds.find((k) => k.kind === 'drop50');
  if (d50) {
    out.push({ what: '50% drop halted by its compare guardrail', goal: `every run (${d50.runs} of ${d50.runs})`, measured: `${d50.haltedByCompare} of ${d50.runs}`, met: d50.haltedByCompare === d50.runs });
    const med = d50.compareHaltDelaySec.median;
    out.push({ what: '50% drop: median halt after window open', goal: '≤ 10 s', measured: med === null ? 'no compare halts' : `${med} s (min ${d50.compareHaltDelaySec.min}, max ${d50.compareHaltDelaySec.max})`, met: med === null ? false : med <= 10 });
  }
  const d15 = kinds.find((k) => k.kind === 'drop15');
  if (d15) {
    const need = Math.ceil((8 * d15.runs) / 10);
    out.push({ what: '15% drop failed or halted', goal: `≥ 8 of 10 (≥ ${need} of ${d15.runs})`, measured: `${d15.detected} of ${d15.runs} (${d15.failed} failed, ${d15.halted} halted)`, met: d15.detected >= need });
  }
  return out;
}

const LABEL: Record<Kind, string> = { aa: 'A/A (no effect)', drop50: '50% drop', drop15: '15% drop' };

function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? `${Math.round(ms)} ms` : 'n/a';
}

function fmtSpread(s: Spread): string {
  return s.n === 0 ? '–' : `${s.median} (${s.min}–${s.max}, n=${s.n})`;
}

export function renderMarkdown(s: Summary): string {
  const { setup, costs } = s;
  const lines: string[] = [
    `# bench:calibrate — ${s.at}`,
    '',
    `Command: \`${setup.command}\``,
    '',
    `Parameters: ${setup.aa} A/A runs, ${setup.effect} runs per drop (50%, 15% of the experiment group's checkouts), ` +
      `all started at once; window ${setup.windowMs / 1000} s; ${setup.rate} checkouts/s per group (requests ×10), ` +
      'dispersion 2.5 (sticky sessions), shared AR(1) log-load sd 0.1 τ 30 s, lognormal latency median 50 ms σ 0.5; ' +
      `seed ${setup.seed}. Prometheus scrape 1 s; spec: step 1 s, analysis interval 1 s, checkout-sps \`sum(rate(…[15s]))\` ` +
      'decrease 10%, p95-latency `histogram_quantile(0.95, …[15s])` increase 20%, guardrails `compare: checkout-sps` and error ratio ≤ 2%, alpha 0.05' +
      `${setup.noDataGrace ? `, noDataGrace ${setup.noDataGrace}` : ', noDataGrace default (2 intervals)'}.`,
    '',
    '## Targets (issue #13, point 6)',
    '',
    '| what | goal | measured | |',
    '|---|---|---|---|',
    ...s.targets.map((t) => `| ${t.what} | ${t.goal} | ${t.measured} | ${t.met === null ? '' : t.met ? '✓' : '✗'} |`),
    '',
    '## Outcomes',
    '',
    '| runs | n | passed | failed | halted (of which no data) | inconclusive | errored/other | failed or halted | halted by compare | halt after open, s: median (min–max, n) | run duration, s |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...s.kinds.map(
      (k) =>
        `| ${LABEL[k.kind]} | ${k.runs} | ${k.passed} | ${k.failed} | ${k.halted} (${k.haltedNoData}) | ${k.inconclusive} | ${k.other} | ${k.detected} | ${k.haltedByCompare} | ${fmtSpread(k.haltDelaySec)} | ${fmtSpread(k.runDurationSec)} |`,
    ),
    '',
    '## Why runs failed or halted',
    '',
    '| runs | cause | count |',
    '|---|---|---|',
    ...s.kinds.flatMap((k) =>
      Object.entries(k.causes)
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `| ${LABEL[k.kind]} | ${c} | ${n} |`),
    ),
    '',
    '## Per-metric verdicts',
    '',
    '| runs | metric | verdicts |',
    '|---|---|---|',
    ...s.kinds.flatMap((k) =>
      Object.entries(k.metricVerdicts).map(
        ([m, v]) =>
          `| ${LABEL[k.kind]} | ${m} | ${Object.entries(v)
            .sort()
            .map(([verdict, n]) => `${verdict} ${n}`)
            .join(', ')} |`,
      ),
    ),
    '',
    '## Cost',
    '',
    `Setup: experiments created in ${costs.createSec.toFixed(1)} s; ${s.kinds.reduce((a, k) => a + k.runs, 0)} runs started in ${costs.startSec.toFixed(1)} s ` +
      `(POST p95 ${Math.round(costs.startLatencyP95Ms)} ms). From the first start to the last run's end: ${costs.wallSec.toFixed(0)} s; ` +
      `CPU over that time: service ${costs.serviceCpuSec.toFixed(1)} s, Prometheus ${costs.prometheusCpuSec.toFixed(1)} s, bench + exporter ` +
      `${costs.benchCpuSec.toFixed(1)} s on ${costs.cores} cores (load average ${costs.loadAvg1m.toFixed(2)} at the end, shared machine); service RSS ${Math.round(costs.serviceRssMb)} MB. ` +
      `Source queries (service's /metrics): ${costs.sourceQueries}, p50 ${fmtMs(costs.sourceQueryP50Ms)}, p95 ${fmtMs(costs.sourceQueryP95Ms)}, ${costs.sourceErrors} errors; ` +
      `guardrail evaluation lag p95 ${fmtMs(costs.evaluationLagP95Ms)}. ` +
      `Exporter ticks: ${costs.exporterTicks.ticks}, late by p99 ${costs.exporterTicks.p99LateMs} ms, max ${costs.exporterTicks.maxLateMs} ms. Total ${costs.totalSec.toFixed(0)} s.`,
    '',
    '## Example reasons',
    '',
    ...Object.entries(s.examples).flatMap(([cause, list]) => [`**${cause}**`, '', ...list.map((r) => `- ${r.replace(/\s+/g, ' ').slice(0, 400)}`), '']),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * `npm run bench:stats` — calibration of the sequential tests on simulated
 * telemetry (families.ts), against a Kayenta-style Mann-Whitney judge checked
 * at every look and once at the end, and Wald's SPRT floor (sprt-floor.ts).
 *
 * For every family: A/A (effect 0) and A/B at 2, 5, 10 and 20% in the harmful
 * direction, `steps` looks each, a look every step (continuous monitoring).
 * Then the dependent per-step series the engine really collects (overlapping
 * rate windows, histogram quantiles, clustered counts under a shared load;
 * dependent-families.ts), judged by the old judge and guardrail and the new
 * ones side by side (dependent-report.ts), in the same worker pool.
 * Prints and writes reports/bench/stats.md and reports/bench/stats.json.
 *
 *   BENCH_SCALE=0.25 npm run bench:stats    # a quicker, noisier run
 *
 * Seeded (prng.ts): the same numbers on every run and machine, whatever the
 * number of workers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DEPENDENT_FAMILIES } from './dependent-families.ts';
import { dependentMarkdown, dependentPlan, dependentRows, dependentTargets } from './dependent-report.ts';
import type { DependentResult, DependentSpec } from './dependent-scenario.ts';
import { FAMILIES } from './families.ts';
import type { ScenarioResult, ScenarioSpec } from './scenario.ts';
import { klPerStep, waldExpectedSamples } from './sprt-floor.ts';

const ALPHA = 0.05;
const EFFECTS = [0, 0.02, 0.05, 0.1, 0.2];
const STEPS = 600;
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const REPS_NULL = Math.max(50, Math.round(2000 * SCALE));
const REPS_ALT = Math.max(50, Math.round(1000 * SCALE));
/** The peeking Mann-Whitney is checked from the same look the sequential tests may first reject (their burn-in). */
const FIRST_PEEK = 20;

interface Row {
  family: string;
  method: string;
  variant: string | null;
  effect: number;
  reps: number;
  sequential: { alarmRate: number; se: number; medianLooks: number | null; meanLooksWhenDetected: number | null };
  kayentaPeeking: { alarmRate: number; medianLooks: number | null };
  kayentaOnce: { alarmRate: number };
  sprtFloor: { beta02: number | null; betaMatched: number | null; beta: number | null };
  ratioToFloor: number | null;
  millis: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  const specs: ScenarioSpec[] = [];
  FAMILIES.forEach((family, f) => {
    EFFECTS.forEach((effect, e) => {
      const reps = effect === 0 ? REPS_NULL : REPS_ALT;
      specs.push({ family: f, effectIndex: e, effect, reps, steps: STEPS, alpha: ALPHA, firstPeek: FIRST_PEEK });
      // The rate test trusting the Poisson model (no dispersion estimate, no burn-in): exact on
      // Poisson counts, and what estimating the dispersion buys on overdispersed ones.
      if (family.id === 'poisson' || (family.id === 'negative-binomial' && effect === 0)) {
        specs.push({ family: f, effectIndex: e, effect, reps, steps: STEPS, alpha: ALPHA, firstPeek: FIRST_PEEK, variant: 'poisson-dispersion' });
      }
    });
  });
  // Longest first, so the two workers finish together; the dependent scenarios come in chunks after them.
  specs.sort((a, b) => b.reps - a.reps);
  const plan = dependentPlan(SCALE, ALPHA);
  const workers = Math.max(1, Math.min(2, availableParallelism()));
  process.stdout.write(
    `bench:stats — ${specs.length} scenarios, ${STEPS} looks each, ${REPS_NULL} A/A and ${REPS_ALT} A/B runs per scenario; ` +
      `${DEPENDENT_FAMILIES.length} dependent-series families (${plan.specs.length} chunks, ${plan.repsNull} null and ${plan.repsAlt} A/B runs each); ${workers} workers\n`,
  );
  const all = await runAll([...specs, ...plan.specs], workers);
  const results = all.filter((r): r is ScenarioResult => !isDependent(r));
  const dependent = dependentRows(all.filter(isDependent), ALPHA);
  const dependentGoals = dependentTargets(dependent, ALPHA);

  const floors = new Map<string, number>();
  for (const family of FAMILIES) for (const effect of EFFECTS.slice(1)) floors.set(`${family.id}|${effect}`, klPerStep(family, effect));

  const rows: Row[] = results
    .sort((a, b) => a.family - b.family || a.effectIndex - b.effectIndex || (a.variant ?? '').localeCompare(b.variant ?? ''))
    .map((r) => toRow(r, floors));
  const runtimeSeconds = (Date.now() - started) / 1000;
  const goals = checkGoals(rows);
  const report = {
    alpha: ALPHA,
    steps: STEPS,
    effects: EFFECTS,
    repsNull: REPS_NULL,
    repsAlt: REPS_ALT,
    firstPeek: FIRST_PEEK,
    runtimeSeconds,
    goals,
    rows,
    dependent: { families: DEPENDENT_FAMILIES, repsNull: plan.repsNull, repsAlt: plan.repsAlt, targets: dependentGoals, rows: dependent },
  };
  const markdown = toMarkdown(report) + '\n' + dependentMarkdown(dependent, dependentGoals, { alpha: ALPHA, repsNull: plan.repsNull, repsAlt: plan.repsAlt });
  mkdirSync('reports/bench', { recursive: true });
  writeFileSync('reports/bench/stats.json', `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync('reports/bench/stats.md', markdown);
  process.stdout.write(markdown);
  process.stdout.write(`\nwrote reports/bench/stats.md and reports/bench/stats.json in ${runtimeSeconds.toFixed(1)} s\n`);
}

/**
 * The worker runs TypeScript too, so it registers the tsx loader in its own
 * thread before importing worker.ts (Node 20 does not hand `--import` hooks to
 * workers).
 */
const WORKER_BOOTSTRAP = `
import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); });
`;

type Job = ScenarioSpec | DependentSpec;
type JobResult = ScenarioResult | DependentResult;

function isDependent(r: JobResult): r is DependentResult {
  return 'kind' in r && r.kind === 'dependent';
}

function runAll(specs: Job[], count: number): Promise<JobResult[]> {
  const queue = [...specs];
  const results: JobResult[] = [];
  return new Promise((resolve, reject) => {
    let live = count;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER_BOOTSTRAP, { eval: true });
      const feed = (): void => {
        const next = queue.shift();
        worker.postMessage(next ?? null);
      };
      worker.on('message', (r: JobResult) => {
        results.push(r);
        if (isDependent(r)) {
          const f = DEPENDENT_FAMILIES[r.family]!;
          process.stdout.write(`  ${f.id} effect ${(r.effect * 100).toFixed(0)}% runs ${r.repFrom}–${r.repFrom + r.reps - 1}: ${(r.millis / 1000).toFixed(1)} s\n`);
        } else {
          const f = FAMILIES[r.family]!;
          process.stdout.write(`  ${f.id} effect ${(r.effect * 100).toFixed(0)}%${r.variant ? ` (${r.variant})` : ''}: ${(r.millis / 1000).toFixed(1)} s\n`);
        }
        feed();
      });
      worker.on('error', reject);
      worker.on('exit', () => {
        live--;
        if (live === 0) resolve(results);
      });
      feed();
    }
  });
}

function median(values: (number | null)[]): number | null {
  const v = values.map((x) => x ?? Infinity).sort((a, b) => a - b);
  const n = v.length;
  const m = n % 2 === 1 ? v[(n - 1) / 2]! : (v[n / 2 - 1]! + v[n / 2]!) / 2;
  return Number.isFinite(m) ? m : null;
}

function toRow(r: ScenarioResult, floors: Map<string, number>): Row {
  const family = FAMILIES[r.family]!;
  const detected = r.sequential.filter((x): x is number => x !== null);
  const rate = detected.length / r.reps;
  const kl = floors.get(`${family.id}|${r.effect}`);
  // Wald's floor for an SPRT with the same α and the same miss rate as the sequential test (β ≥ 0.001), and at β = 0.2.
  // Only meaningful when the test detects in most runs (β ≤ ½); otherwise reported as —.
  const beta = r.effect === 0 || rate < 0.5 ? null : Math.max(0.001, 1 - rate);
  const floorMatched = kl === undefined || beta === null ? null : waldExpectedSamples(kl, ALPHA, beta);
  const floor02 = kl === undefined ? null : waldExpectedSamples(kl, ALPHA, 0.2);
  const med = median(r.sequential);
  return {
    family: family.id,
    method: family.method,
    variant: r.variant ?? null,
    effect: r.effect,
    reps: r.reps,
    sequential: {
      alarmRate: rate,
      se: Math.sqrt((rate * (1 - rate)) / r.reps),
      medianLooks: med,
      meanLooksWhenDetected: detected.length === 0 ? null : detected.reduce((a, b) => a + b, 0) / detected.length,
    },
    kayentaPeeking: { alarmRate: r.peeking.filter((x) => x !== null).length / r.reps, medianLooks: median(r.peeking) },
    kayentaOnce: { alarmRate: r.once.filter(Boolean).length / r.reps },
    sprtFloor: { beta02: floor02, betaMatched: floorMatched, beta },
    ratioToFloor: med === null || floorMatched === null ? null : med / floorMatched,
    millis: r.millis,
  };
}

interface Goals {
  falseAlarm: { family: string; variant: string | null; rate: number; limit: number; met: boolean; kayentaPeeking: number; kayentaExceeds: boolean }[];
  detection: {
    family: string;
    effect: number;
    medianLooks: number | null;
    floor: number | null;
    floorBeta02: number | null;
    ratio: number | null;
    ratioBeta02: number | null;
    met: boolean;
    /** The same with dispersion: 'poisson' (no burn-in). */
    poissonVariant: { medianLooks: number | null; ratio: number | null; ratioBeta02: number | null };
  };
}

function checkGoals(rows: Row[]): Goals {
  const limit = ALPHA + 1.96 * Math.sqrt((ALPHA * (1 - ALPHA)) / REPS_NULL);
  const falseAlarm = rows
    .filter((r) => r.effect === 0)
    .map((r) => ({
      family: r.family,
      variant: r.variant,
      rate: r.sequential.alarmRate,
      limit,
      met: r.sequential.alarmRate <= limit,
      kayentaPeeking: r.kayentaPeeking.alarmRate,
      kayentaExceeds: r.kayentaPeeking.alarmRate > ALPHA,
    }));
  const d = rows.find((r) => r.family === 'poisson' && r.effect === 0.1 && r.variant === null)!;
  const v = rows.find((r) => r.family === 'poisson' && r.effect === 0.1 && r.variant === 'poisson-dispersion');
  const over02 = (row: Row | undefined): number | null =>
    row?.sequential.medianLooks == null || row.sprtFloor.beta02 === null ? null : row.sequential.medianLooks / row.sprtFloor.beta02;
  return {
    falseAlarm,
    detection: {
      family: 'poisson',
      effect: 0.1,
      medianLooks: d.sequential.medianLooks,
      floor: d.sprtFloor.betaMatched,
      floorBeta02: d.sprtFloor.beta02,
      ratio: d.ratioToFloor,
      ratioBeta02: over02(d),
      met: d.ratioToFloor !== null && d.ratioToFloor <= 2,
      poissonVariant: { medianLooks: v?.sequential.medianLooks ?? null, ratio: v?.ratioToFloor ?? null, ratioBeta02: over02(v) },
    },
  };
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
const num = (v: number | null, digits = 0): string => (v === null ? '—' : v.toFixed(digits));

function toMarkdown(report: { alpha: number; steps: number; repsNull: number; repsAlt: number; firstPeek: number; runtimeSeconds: number; goals: Goals; rows: Row[] }): string {
  const lines: string[] = [];
  lines.push('# Sequential statistics: calibration bench', '');
  lines.push(
    `α = ${report.alpha}; ${report.steps} looks per run, one look per step (continuous monitoring); ` +
      `${report.repsNull} A/A runs and ${report.repsAlt} A/B runs per row. "Alarms" is the false-alarm rate for A/A rows ` +
      `and the power for A/B rows; ± is the Monte-Carlo standard error. Looks to detect: median over all runs (— when ` +
      `fewer than half detect). Kayenta peeking: R's wilcox.test p < α with the shift on the harmful side, checked at ` +
      `every look from look ${report.firstPeek}; once: the same test at the last look only. SPRT floor: Wald's expected ` +
      `looks for an SPRT that knows the effect and every nuisance, with the same α and the sequential test's miss rate ` +
      `(β clamped to ≥ 0.001; — when the test detects in fewer than half of the runs), and, in brackets, at β = 0.2. Runtime ${report.runtimeSeconds.toFixed(1)} s.`,
    '',
  );
  lines.push('## Goals', '');
  lines.push('| family | false alarms (sequential) | limit α + 1.96·SE | met | Kayenta peeking false alarms | Kayenta > α |');
  lines.push('|---|---|---|---|---|---|');
  for (const g of report.goals.falseAlarm) {
    lines.push(`| ${g.family}${g.variant ? ` (${g.variant})` : ''} | ${pct(g.rate)} | ${pct(g.limit)} | ${g.met ? 'yes' : '**no**'} | ${pct(g.kayentaPeeking)} | ${g.kayentaExceeds ? 'yes' : 'no'} |`);
  }
  const d = report.goals.detection;
  lines.push(
    '',
    `10% drop in a 100 events/s metric (poisson family, one look per second): median ${num(d.medianLooks)} looks to ` +
      `detect; SPRT floor ${num(d.floor, 1)} looks with the test's own miss rate (ratio ${num(d.ratio, 2)}) → ` +
      `${d.met ? 'within 2× (met)' : '**not within 2×**'}; against the floor at β = 0.2 (${num(d.floorBeta02, 1)} looks) ` +
      `the ratio is ${num(d.ratioBeta02, 2)}. The median sits on the 20-look burn-in of the dispersion estimate; the ` +
      `same test trusting the Poisson model (no burn-in) takes ${num(d.poissonVariant.medianLooks)} looks ` +
      `(ratios ${num(d.poissonVariant.ratio, 2)} and ${num(d.poissonVariant.ratioBeta02, 2)}).`,
    '',
  );
  for (const family of FAMILIES) {
    lines.push(`## ${family.id} — ${family.method}`, '', `${family.description}. Harmful direction: ${family.direction}.`, '');
    lines.push('| effect | alarms | looks to detect | SPRT floor, β matched (β = 0.2) | looks / floor | Kayenta peeking | peeking looks | Kayenta once |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const r of report.rows.filter((x) => x.family === family.id)) {
      const label = `${r.effect === 0 ? 'A/A' : `${(r.effect * 100).toFixed(0)}%`}${r.variant ? ` (${r.variant})` : ''}`;
      lines.push(
        `| ${label} | ${pct(r.sequential.alarmRate)} ± ${pct(r.sequential.se)} | ${num(r.sequential.medianLooks)} | ` +
          `${r.effect === 0 ? '—' : `${num(r.sprtFloor.betaMatched, 1)} (${num(r.sprtFloor.beta02, 1)})`} | ${num(r.ratioToFloor, 2)} | ` +
          `${pct(r.kayentaPeeking.alarmRate)} | ${num(r.kayentaPeeking.medianLooks)} | ${pct(r.kayentaOnce.alarmRate)} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

await main();

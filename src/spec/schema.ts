/**
 * The experiment spec: one zod schema gives validation, the parsed TypeScript
 * types and (later) the HTTP API's JSON schema. The shape follows
 * shared/BRIEF.md; durations, percentages and tolerances are parsed here, once,
 * into numbers. Adapter-specific parts (`spec.source`, `spec.fault.params`) are
 * validated by the adapter's own schema, looked up in its registry.
 */
import { z } from 'zod';
import { injectorRegistry, knownInjectorKinds, ladderInjectorKinds } from '../injectors/registry.ts';
import { MAX_LADDER_STEPS, parseLadder, rawStepSchema, STOP_AT, type FaultStep, type StopAt } from './fault-ladder.ts';
import { metricSourceRegistry, knownSourceKinds } from '../metric-sources/registry.ts';
import { guaranteedSamples } from '../metric-sources/types.ts';
import { notifySchema } from '../notifiers/notify-schema.ts';
import { annotateQueryBackend, templatedQuery } from '../queries/spec-query.ts';
import { scheduleSchema } from '../triggers/schedule-schema.ts';
import { durationMs, fraction, tolerance } from './fields.ts';
import { validateScrapeQuery } from '../metric-sources/scrape/promql-parse.ts';
import { templateVariableIssues } from './template.ts';
import { rawUrlProblem, urlStrings } from '../security/outbound-url.ts';
import { expectSchema } from '../alerts/alert-spec.ts';

export const API_VERSION = 'steadystate.dev/v1alpha1';

/** Hard caps that keep a typo from becoming a day-long fault. */
export const LIMITS = {
  maxFaultDurationMs: 6 * 3_600_000,
  minIntervalMs: 1_000,
  maxMetrics: 50,
  maxGuardrails: 50,
} as const;

// Names end up in URLs, file names are derived from run ids instead, and every
// rendering escapes them; so names may hold any printable text, but not control
// characters or slashes (which would break the `/experiments/{name}` routes).
const name = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  .refine((s) => !/[\u0000-\u001f\u007f/]/.test(s), 'must not contain control characters or "/"');

const labelMap = z.record(z.string(), z.string());

const metadata = z.strictObject({
  name,
  service: z.string().min(1).max(128).optional(),
  environment: z.string().min(1).max(128).optional(),
  labels: labelMap.optional(),
});

/** Adapter-validated `spec.source`: every source has a kind and a step. */
export type SourceConfig = { kind: string; step: number } & Record<string, unknown>;

const source = z
  .looseObject({ kind: z.string() })
  .transform((value, ctx): SourceConfig => {
    const factory = metricSourceRegistry.get(value.kind);
    if (!factory) {
      ctx.addIssue({
        code: 'custom',
        path: ['kind'],
        message: `unknown source kind "${value.kind}"; known: ${knownSourceKinds().join(', ')}`,
      });
      return z.NEVER;
    }
    const parsed = factory.configSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      }
      return z.NEVER;
    }
    return parsed.data as SourceConfig;
  });

const groups = z
  .strictObject({
    control: z.string().min(1).default('control'),
    experiment: z.string().min(1).default('experiment'),
  })
  .refine((g) => g.control !== g.experiment, { message: 'control and experiment must differ', path: ['experiment'] });

const direction = z.enum(['increase', 'decrease', 'either']);

/** A query template: only known `$variables`. */
const queryTemplate = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((query, ctx) => {
    for (const message of templateVariableIssues(query)) ctx.addIssue({ code: 'custom', message });
  });

const steadyStateMetric = z.strictObject({
  name,
  // A string, or `{ template, vars }` from the query library rendered for spec.source.kind.
  query: templatedQuery(
    queryTemplate.refine((q) => /\$\{?group\b/.test(q), {
      message: 'must use $group, so control and experiment are queried separately',
    }),
  ),
  /** Which change is bad: `increase` (latency), `decrease` (checkouts/s) or `either`. */
  direction: direction.default('either'),
  tolerance: tolerance.prefault('10%'),
  /** Override of `analysis.minSamples` for this metric. */
  minSamples: z.int().min(3).optional(),
  /** A rise in spread: `report` it beside the verdict (default), `fail` the metric on it, or `ignore` it. */
  spread: z.enum(['ignore', 'report', 'fail']).default('report'),
});

export const thresholdGuardrail = z
  .strictObject({
    name,
    query: templatedQuery(queryTemplate),
    max: z.number().optional(),
    min: z.number().optional(),
    /** Consecutive breaching evaluations needed to halt. */
    for: z.int().min(1).max(100).default(1),
  })
  .refine((g) => g.max !== undefined || g.min !== undefined, { message: 'a threshold guardrail needs max and/or min' })
  .refine((g) => g.max === undefined || g.min === undefined || g.min < g.max, { message: 'min must be below max', path: ['min'] });

/** SLI queries of an SLO guardrail: the usual variables plus `$window`, the burn-rate window. */
const sliQuery = z
  .string()
  .min(1, 'must not be empty')
  .superRefine((query, ctx) => {
    if (!/\$\{?window\b/.test(query)) {
      ctx.addIssue({ code: 'custom', message: 'must use $window (e.g. sum(rate(requests_total{code!~"5.."}[$window]))) so both burn-rate windows can be evaluated' });
    }
    for (const message of templateVariableIssues(query.replace(/\$\{?window\}?/g, ''))) ctx.addIssue({ code: 'custom', message });
  });

/**
 * SLO burn rate, multiwindow as in the Google SRE workbook: halt when the
 * error budget burns at `burnRate`× or faster over BOTH a long and a short
 * window. Windows default to the experiment's scale (see burnRateWindows).
 */
export const sloGuardrail = z.strictObject({
  name,
  slo: z.strictObject({
    good: sliQuery,
    total: sliQuery,
    objective: fraction.refine((f) => f > 0 && f < 1, 'must be between 0% and 100%, exclusive'),
    period: durationMs.default(30 * 86_400_000),
  }),
  burnRate: z.number().positive().max(10_000),
  windows: z.strictObject({ long: durationMs, short: durationMs }).optional(),
  for: z.int().min(1).max(100).default(1),
});

/**
 * KPI comparison: halt as soon as the anytime-valid sequential test says the
 * experiment group is worse than control beyond the metric's tolerance.
 */
export const compareGuardrail = z.strictObject({
  name,
  compare: z.string().min(1),
  /** Level of the sequential test; default: analysis.alpha. */
  alpha: z.number().gt(0).max(0.5).optional(),
});

export type ThresholdGuardrail = z.output<typeof thresholdGuardrail> & { kind: 'threshold' };
export type SloGuardrail = z.output<typeof sloGuardrail> & { kind: 'slo' };
export type CompareGuardrail = z.output<typeof compareGuardrail> & { kind: 'compare' };
export type Guardrail = ThresholdGuardrail | SloGuardrail | CompareGuardrail;

// One object per guardrail; its keys say which kind it is. Dispatching by hand
// keeps the errors about the kind the user meant (a union would report all three).
const guardrail = z.unknown().transform((value, ctx): Guardrail => {
  const obj = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const kind = obj && ('slo' in obj || 'burnRate' in obj) ? 'slo' : obj && 'compare' in obj ? 'compare' : 'threshold';
  const schema = kind === 'slo' ? sloGuardrail : kind === 'compare' ? compareGuardrail : thresholdGuardrail;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  }
  return { ...parsed.data, kind } as Guardrail;
});

const faultDuration = durationMs.refine((ms) => ms > 0 && ms <= LIMITS.maxFaultDurationMs, {
  message: `must be more than 0 and at most ${LIMITS.maxFaultDurationMs / 3_600_000}h`,
});

/** The validated fault. With `steps` (a ladder, ADR 022), `params` are the first step's and `duration` is the ladder's. */
export interface FaultSpec {
  injector: string;
  params: unknown;
  duration: number;
  steps?: FaultStep[];
  stopAt?: StopAt;
}

const fault = z
  .strictObject({
    injector: z.string(),
    params: z.unknown().default({}),
    /** Hard deadline. With steps: the sum of the steps' durations (may be left out). */
    duration: faultDuration.optional(),
    /** A ladder: the fields each step changes over `params`, and its own `duration`. */
    steps: z.array(rawStepSchema).min(1, 'a ladder needs at least one step').max(MAX_LADDER_STEPS).optional(),
    /** How long each step without its own `duration` is held. */
    stepDuration: faultDuration.optional(),
    /** Stop climbing at the first step whose KPI verdict fails (`fail`), only on a guardrail halt (`halt`, `never`). */
    stopAt: z.enum(STOP_AT).optional(),
  })
  .transform((value, ctx): FaultSpec => {
    const issue = (path: (string | number)[], message: string): void => void ctx.addIssue({ code: 'custom', path, message });
    const factory = injectorRegistry.get(value.injector);
    if (!factory) {
      issue(['injector'], `unknown injector "${value.injector}"; known: ${knownInjectorKinds().join(', ')}`);
      return z.NEVER;
    }
    if (!value.steps) {
      if (value.stepDuration !== undefined) issue(['stepDuration'], 'needs steps');
      if (value.stopAt !== undefined) issue(['stopAt'], 'needs steps');
      if (value.duration === undefined) issue(['duration'], 'is required');
      const parsed = factory.paramsSchema.safeParse(value.params);
      if (!parsed.success) {
        for (const i of parsed.error.issues) issue(['params', ...(i.path as (string | number)[])], i.message);
      }
      if (!parsed.success || value.duration === undefined || value.stepDuration !== undefined || value.stopAt !== undefined) return z.NEVER;
      return { injector: value.injector, params: parsed.data, duration: value.duration };
    }
    const { steps, issues } = parseLadder(factory, value.params, value.steps, value.stepDuration, ladderInjectorKinds());
    for (const i of issues) issue(i.path, i.message);
    if (issues.length > 0) return z.NEVER;
    const total = steps.reduce((sum, s) => sum + s.duration, 0);
    if (total > LIMITS.maxFaultDurationMs) issue(['steps'], `the steps last ${total / 1000}s together, more than ${LIMITS.maxFaultDurationMs / 3_600_000}h`);
    if (value.duration !== undefined && value.duration !== total) {
      issue(['duration'], `must equal the steps' total (${total / 1000}s), or be left out: the deadline covers the whole ladder`);
    }
    if (total > LIMITS.maxFaultDurationMs || (value.duration !== undefined && value.duration !== total)) return z.NEVER;
    return { injector: value.injector, params: steps[0]?.params, duration: total, steps, stopAt: value.stopAt ?? 'fail' };
  });

const analysis = z.strictObject({
  /** How often guardrails are evaluated while the window is open. */
  interval: durationMs.refine((ms) => ms >= LIMITS.minIntervalMs, { message: 'must be at least 1s' }).default(5_000),
  /** Significance level; confidence intervals are (1 − alpha). */
  alpha: z.number().gt(0).max(0.5).default(0.05),
  /** Fewer samples than this in either group → inconclusive. */
  minSamples: z.int().min(3).default(30),
  /** Watch both groups this long before opening the fault (A/A sanity, guardrails armed). */
  baseline: durationMs.default(0),
  /** Wait this long after closing before the final queries, so the last scrapes land. Default: 2 × step. */
  settle: durationMs.optional(),
  /** Missing data is tolerated this long before it halts (onNoData: halt). Default: 2 × interval. */
  noDataGrace: durationMs.optional(),
  /** `paired` (default): dependence-aware (ADR 013). `mann-whitney`: Kayenta parity, assumes independent samples. */
  method: z.enum(['paired', 'mann-whitney']).default('paired'),
  /** How far back `compare:` guardrails learn the metric's noise before the window. Default: 40 range windows, 10 min to 1 h. */
  history: durationMs.optional(),
});

// Continuous verification and notifications: defined with their features (issue 9).
const schedule = scheduleSchema;

const notify = notifySchema;

export const experimentSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION, { message: `must be "${API_VERSION}"` }),
    kind: z.literal('Experiment', { message: 'must be "Experiment"' }),
    metadata,
    // Tags templated queries with spec.source.kind, so they render for that backend.
    spec: z.preprocess(annotateQueryBackend, z.strictObject({
      source,
      groups: groups.default({ control: 'control', experiment: 'experiment' }),
      steadyState: z.array(steadyStateMetric).min(1, 'at least one steady-state metric is needed').max(LIMITS.maxMetrics),
      fault,
      guardrails: z.array(guardrail).max(LIMITS.maxGuardrails).default([]),
      onNoData: z.enum(['halt', 'ignore']).default('halt'),
      analysis: analysis.default({ interval: 5_000, alpha: 0.05, minSamples: 30, baseline: 0, method: 'paired' }),
      schedule: schedule.optional(),
      notify: notify.optional(),
      /** Alert expectations, judged beside the metrics (src/alerts, docs/alerts.md). */
      expect: expectSchema.optional(),
    })),
  })
  .check((ctx) => {
    // Semantic checks need a structurally valid spec; zod keeps going after
    // non-fatal issues, so skip them until the structure is right.
    if (ctx.issues.length > 0) return;
    const exp = ctx.value;
    const spec = exp.spec;
    const issue = (path: (string | number)[], message: string): void => {
      ctx.issues.push({ code: 'custom', input: exp, path, message });
    };
    // Any string the URL parser would read as http(s), in any field: the raw form must be plain.
    for (const [key, part] of [['source', spec.source], ['fault', spec.fault], ['notify', spec.notify], ['expect', spec.expect]] as const) {
      for (const { path, raw } of urlStrings(part, '')) {
        const problem = rawUrlProblem(raw);
        if (problem) issue(['spec', key, ...pathSegments(path)], `not a plainly written URL: ${problem}`);
      }
    }
    unique(spec.steadyState.map((m) => m.name), ['spec', 'steadyState'], issue);
    unique(spec.guardrails.map((g) => g.name), ['spec', 'guardrails'], issue);
    if (spec.source.kind === 'scrape') {
      // The embedded scrape source evaluates a PromQL subset: reject the rest here, not mid-run.
      spec.steadyState.forEach((m, i) => {
        const problem = validateScrapeQuery(m.query);
        if (problem) issue(['spec', 'steadyState', i, 'query'], problem);
      });
      spec.guardrails.forEach((g, i) => {
        const queries: [string, (string | number)[]][] =
          g.kind === 'threshold' ? [[g.query, ['query']]] : g.kind === 'slo' ? [[g.slo.good, ['slo', 'good']], [g.slo.total, ['slo', 'total']]] : [];
        for (const [query, path] of queries) {
          const problem = validateScrapeQuery(query.replace(/\$\{?window\}?/g, '1m'));
          if (problem) issue(['spec', 'guardrails', i, ...path], problem);
        }
      });
    }
    spec.guardrails.forEach((g, i) => {
      if (g.kind === 'compare' && !spec.steadyState.some((m) => m.name === g.compare)) {
        issue(['spec', 'guardrails', i, 'compare'], `unknown steady-state metric "${g.compare}"; known: ${spec.steadyState.map((m) => m.name).join(', ')}`);
      }
    });
    spec.steadyState.forEach((m) => {
      const minSamples = m.minSamples ?? spec.analysis.minSamples;
      const endExclusive = metricSourceRegistry.get(spec.source.kind)?.endExclusive === true;
      const possible = guaranteedSamples(spec.fault.duration, spec.source.step, endExclusive);
      if (possible < minSamples) {
        issue(['spec', 'fault', 'duration'], `guarantees ${possible} samples per group at step ${spec.source.step}ms${endExclusive ? ` (${spec.source.kind} leaves out the point at the window's end)` : ''}, below minSamples ${minSamples} for metric "${m.name}"`);
      }
    });
    for (const step of spec.fault.steps ?? []) {
      const possible = guaranteedSamples(step.duration, spec.source.step, metricSourceRegistry.get(spec.source.kind)?.endExclusive === true);
      const least = Math.min(...spec.steadyState.map((m) => m.minSamples ?? spec.analysis.minSamples));
      if (possible < least) {
        issue(['spec', 'fault', 'steps', step.index], `is held ${step.duration / 1000}s: ${possible} samples per group at step ${spec.source.step}ms, below minSamples ${least}; each step is judged on its own samples`);
      }
    }
    const ladderSteps = spec.fault.steps?.length ?? 1;
    spec.expect?.alerts.forEach((a, i) => {
      (a.steps ?? []).forEach((n, j) => {
        if (n > ladderSteps) issue(['spec', 'expect', 'alerts', i, 'steps', j], `step ${n}, but the fault has ${ladderSteps} step${ladderSteps === 1 ? '' : 's'}`);
      });
    });
    if (spec.expect && !spec.expect.prometheus && spec.source.kind !== 'prometheus') {
      issue(['spec', 'expect', 'prometheus'], `needed: the alerting rules are read from a Prometheus, and spec.source is ${spec.source.kind}`);
    }
    if (spec.analysis.interval >= spec.fault.duration) {
      issue(['spec', 'analysis', 'interval'], 'must be shorter than fault.duration');
    }
  });

/** `.a[2].b` → ['a', 2, 'b']. */
function pathSegments(path: string): (string | number)[] {
  return [...path.matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] ?? '')));
}

function unique(names: string[], path: (string | number)[], issue: (path: (string | number)[], message: string) => void): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (seen.has(n)) issue([...path, i, 'name'], `duplicate name "${n}"`);
    else seen.set(n, i);
  });
}

export type Experiment = z.output<typeof experimentSchema>;
export type ExperimentInput = z.input<typeof experimentSchema>;
export type SteadyStateMetric = Experiment['spec']['steadyState'][number];

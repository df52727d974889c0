/**
 * The spec as the HTML report reads it: the spec section (YAML in the order
 * people write it) and, read structurally, what the charts need from it —
 * each metric's query and direction, each guardrail's kind and threshold.
 */
import { stringify } from 'yaml';
import { escapeHtml } from '../escape.ts';
import { formatValue } from '../../lib/format-units.ts';
import { NO_UNIT, resolveUnit, type Unit } from '../../lib/units.ts';

// ─── the spec ───────────────────────────────────────────────────────────────

export function specSection(spec: unknown, experiment: string, version: number | undefined): string {
  const out = ['<section aria-labelledby="h-spec">', `<h2 id="h-spec">The spec that ran</h2>`];
  if (spec === undefined || spec === null) {
    out.push(`<p class="note">The spec of <code>${escapeHtml(experiment)}</code> is not available for this run.</p>`);
  } else {
    let text: string;
    try {
      text = stringify(inSpecOrder(spec), { lineWidth: 0 });
    } catch {
      text = JSON.stringify(spec, null, 2);
    }
    out.push(
      `<details open><summary>${escapeHtml(experiment)}${version === undefined ? '' : ` · version ${version}`} (as parsed: durations in ms, tolerances as fractions; secrets redacted)</summary>`,
      `<pre class="spec">${escapeHtml(text)}</pre>`,
      '</details>',
    );
  }
  out.push('</section>');
  return out.join('\n');
}

/**
 * Keys in the order people write a spec (a jsonb column returns them sorted
 * by length and name): known keys first, in the brief's order, then the rest
 * by name — so a spec read back from the store prints as the file did, and
 * the service's report of a run is the CLI's.
 */
const SPEC_KEY_ORDER = [
  'apiVersion', 'name', 'kind', 'metadata', 'spec', 'service', 'environment', 'labels',
  'source', 'groups', 'steadyState', 'query', 'direction', 'tolerance', 'fault', 'injector', 'params', 'duration',
  'guardrails', 'onNoData', 'analysis', 'schedule', 'notify',
];

function inSpecOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(inSpecOrder);
  const o = record(value);
  if (!o) return value;
  const rank = (k: string): number => {
    const i = SPEC_KEY_ORDER.indexOf(k);
    return i === -1 ? SPEC_KEY_ORDER.length : i;
  };
  const keys = Object.keys(o).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, inSpecOrder(o[k])]));
}

// ─── reading the spec without depending on its exact type ──────────────────

export interface MetricSpecView {
  name: string;
  query?: string;
  direction?: string;
  /** A declared unit (`unit:`), when the spec carries one; else the query's is inferred. */
  unit?: string;
  tolerance?: { kind: 'relative' | 'absolute'; value: number };
}

export interface GuardrailSpecView {
  name: string;
  kind: string;
  max?: number;
  min?: number;
  summary: string;
  /** A threshold guardrail's query. */
  query?: string;
  /** A compare guardrail's metric, and its test's level. */
  compare?: string;
  alpha?: number;
  /** An SLO guardrail's burn-rate limit. */
  burnRate?: number;
}

export interface SpecView {
  metrics: MetricSpecView[];
  guardrails: GuardrailSpecView[];
  /** The fault as the spec gives it (injector and params), for the A/A label. */
  fault?: { injector?: unknown; params?: unknown };
  /** The run's alpha (`analysis.alpha`), the default level of compare guardrails. */
  alpha?: number;
}

/**
 * What the report needs from the spec, read structurally: the spec schema
 * grows (SLO and comparison guardrails, query templates), and a report must
 * still render a run recorded under an older or newer shape.
 */
export function specView(spec: unknown): SpecView {
  const body = record(record(spec)?.spec);
  const metrics = list(body?.steadyState).flatMap((m): MetricSpecView[] => {
    const o = record(m);
    if (!o || typeof o.name !== 'string') return [];
    const tol = record(o.tolerance);
    const tolKind = tol?.kind;
    const tolerance: MetricSpecView['tolerance'] = (tolKind === 'relative' || tolKind === 'absolute') && typeof tol?.value === 'number' ? { kind: tolKind, value: tol.value } : undefined;
    return [
      {
        name: o.name,
        ...(typeof o.query === 'string' ? { query: o.query } : {}),
        ...(typeof o.direction === 'string' ? { direction: o.direction } : {}),
        ...(typeof o.unit === 'string' ? { unit: o.unit } : {}),
        ...(tolerance ? { tolerance } : {}),
      },
    ];
  });
  const guardrails = list(body?.guardrails).flatMap((g): GuardrailSpecView[] => {
    const o = record(g);
    if (!o || typeof o.name !== 'string') return [];
    const max = typeof o.max === 'number' ? o.max : undefined;
    const min = typeof o.min === 'number' ? o.min : undefined;
    const kind = typeof o.kind === 'string' ? o.kind : 'compare' in o ? 'compare' : 'slo' in o ? 'slo' : 'threshold';
    let summary: string;
    if (kind === 'compare') summary = `sequential test: halts when ${String(o.compare)} is worse in the experiment beyond its tolerance`;
    else if (kind === 'slo') {
      const slo = record(o.slo);
      const objective = typeof slo?.objective === 'number' ? `${Number((slo.objective * 100).toPrecision(6))}%` : '?';
      summary = `error budget burn ≥ ${String(o.burnRate)}× of a ${objective} SLO`;
    } else {
      const query = typeof o.query === 'string' ? o.query : '';
      summary = `${query} ${thresholdText({ ...(max !== undefined ? { max } : {}), ...(min !== undefined ? { min } : {}) }, resolveUnit({ query })) ?? ''}`.trim();
    }
    return [
      {
        name: o.name,
        kind,
        ...(max !== undefined ? { max } : {}),
        ...(min !== undefined ? { min } : {}),
        summary,
        ...(typeof o.query === 'string' ? { query: o.query } : {}),
        ...(typeof o.compare === 'string' ? { compare: o.compare } : {}),
        ...(typeof o.alpha === 'number' ? { alpha: o.alpha } : {}),
        ...(typeof o.burnRate === 'number' ? { burnRate: o.burnRate } : {}),
      },
    ];
  });
  const fault = record(body?.fault);
  const alpha = record(body?.analysis)?.alpha;
  return { metrics, guardrails, ...(fault ? { fault } : {}), ...(typeof alpha === 'number' ? { alpha } : {}) };
}

export function record(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}


/** "≥ 10/s and ≤ 2%": a threshold guardrail's allowed range, in its query's unit. */
export function thresholdText(t: { max?: number; min?: number } | undefined, unit: Unit = NO_UNIT): string | undefined {
  if (!t) return undefined;
  return [t.min !== undefined ? `≥ ${formatValue(t.min, unit, { digits: 4 })}` : '', t.max !== undefined ? `≤ ${formatValue(t.max, unit, { digits: 4 })}` : ''].filter(Boolean).join(' and ');
}

/**
 * A time-series chart as a self-contained SVG string, rendered on the server:
 * lines per group, shaded spans (the fault window), horizontal rules
 * (tolerance limits, guardrail thresholds), vertical markers (the halt) and
 * highlighted points (breaches).
 *
 * Hand-written rather than a charting library: the report needs only lines
 * and rectangles, must render without a browser or a DOM, and must stay one
 * offline file under a `default-src 'none'` policy; the libraries that render
 * server-side (vega, echarts' SSR) are megabytes and bring their own fonts and
 * escaping rules. Here every user string goes through one `escapeHtml`, and
 * every coordinate through one `coord`, which refuses NaN.
 *
 * Test hooks are classes, not ids: `series series-<key>` (a path with
 * `data-points`), `series-point` (a lone point), `fault-window`,
 * `planned-window`, `rule rule-<kind>`, `halt-marker`, `breach`, `empty`,
 * `series-dot` (a point of a sparse line).
 */
import type { Sample } from '../../metric-sources/types.ts';
import { escapeHtml } from '../escape.ts';
import { axisTicks, axisTitle } from '../../lib/axis-ticks.ts';
import { NO_UNIT, type Unit } from '../../lib/units.ts';
import { decimate, domainOf, segmentsOf, widen, yDomainOf } from './chart-data.ts';

export interface ChartLine {
  /** Short machine key, used in class names: `control`, `experiment`, `value`. */
  key: string;
  label: string;
  color: string;
  samples: readonly Sample[];
}

export interface ChartSpan {
  from: number;
  to: number;
  kind: 'window' | 'planned';
  label: string;
}

export interface ChartRule {
  y: number;
  /** median: the control's; limit: a tolerance; threshold: where a guardrail halts; reference: "no difference". */
  kind: 'median' | 'limit' | 'threshold' | 'reference';
  label: string;
}

export interface ChartMarker {
  t: number;
  kind: 'halt';
  label: string;
}

export interface TimeChartInput {
  /** Unique within the page; made safe for use in ids. */
  id: string;
  title: string;
  desc: string;
  /** What the y axis plots, without its unit: the axis title adds the unit its ticks are in ("p95 (ms)"). */
  yLabel: string;
  /** The unit of the plotted values (raw, as the query returns them); default: a plain number. */
  yUnit?: Unit;
  /** Time zero of the x axis (ms): ticks show the offset from it. */
  origin: number;
  /** What time zero is, for the axis label: "the fault window opened". */
  originLabel: string;
  lines: readonly ChartLine[];
  spans?: readonly ChartSpan[];
  rules?: readonly ChartRule[];
  markers?: readonly ChartMarker[];
  /** Points to highlight (guardrail breaches). */
  breaches?: readonly Sample[];
  /** Shared x range so that the charts of a run line up; default: the data's. */
  xDomain?: readonly [number, number];
  width?: number;
  height?: number;
}

export const COLORS = {
  // Okabe–Ito blue and vermillion: distinct for the common colour-vision deficiencies.
  control: '#0072B2',
  experiment: '#D55E00',
  value: '#5e3c99',
  window: '#f2c94c',
  windowEdge: '#a07d00',
  planned: '#d0d7de',
  limit: '#444c56',
  threshold: '#b3261e',
  halt: '#b3261e',
  grid: '#e6e8eb',
  axis: '#57606a',
  text: '#1f2328',
} as const;

/** Lines with at most this many points get a dot per point. */
const SPARSE_POINTS = 40;

/** Above this many points per line, keep each pixel column's first, min, max and last. */
export const MAX_POINTS_PER_LINE = 1_600;

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const MARGIN = { left: 70, right: 20, bottom: 46 };
const LEGEND_ROW = 22;

export function renderTimeChart(input: TimeChartInput): string {
  const width = input.width ?? 760;
  const height = input.height ?? 300;
  const id = safeId(input.id);
  const spans = input.spans ?? [];
  const rules = (input.rules ?? []).filter((r) => Number.isFinite(r.y));
  const markers = (input.markers ?? []).filter((m) => Number.isFinite(m.t));
  const breaches = (input.breaches ?? []).filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v));

  const legend = legendItems(input.lines, spans, rules, markers, breaches.length > 0);
  const legendRows = layoutLegend(legend, width - MARGIN.left - MARGIN.right);
  const top = 12 + legendRows.length * LEGEND_ROW + 6;
  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: top, y1: height - MARGIN.bottom };

  const finiteSamples = input.lines.flatMap((l) => l.samples.filter((s) => Number.isFinite(s.t) && Number.isFinite(s.v)));
  const xDomain = input.xDomain ?? domainOf([...finiteSamples.map((s) => s.t), ...spans.flatMap((s) => [s.from, s.to]), ...markers.map((m) => m.t)]);
  const [xMin, xMax] = widen(xDomain[0], xDomain[1], 1_000);
  const yValues = [...finiteSamples.map((s) => s.v), ...rules.map((r) => r.y), ...breaches.map((b) => b.v)];
  const [yMin, yMax] = yDomainOf(yValues);

  const sx = (t: number): number => plot.x0 + ((t - xMin) / (xMax - xMin)) * (plot.x1 - plot.x0);
  const sy = (v: number): number => plot.y1 - ((v - yMin) / (yMax - yMin)) * (plot.y1 - plot.y0);
  const clampX = (x: number): number => Math.min(plot.x1, Math.max(plot.x0, x));

  const out: string[] = [];
  out.push(
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" ` +
      `aria-labelledby="${id}-title ${id}-desc" font-family='${FONT}' font-size="12">`,
  );
  out.push(`<title id="${id}-title">${escapeHtml(input.title)}</title>`);
  out.push(`<desc id="${id}-desc">${escapeHtml(input.desc)}</desc>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);

  // Spans under everything else.
  for (const span of spans) {
    const a = clampX(sx(span.from));
    const b = clampX(sx(span.to));
    if (!(b > a)) continue;
    const isWindow = span.kind === 'window';
    out.push(
      `<rect class="${isWindow ? 'fault-window' : 'planned-window'}" x="${coord(a)}" y="${coord(plot.y0)}" width="${coord(b - a)}" ` +
        `height="${coord(plot.y1 - plot.y0)}" fill="${isWindow ? COLORS.window : COLORS.planned}" fill-opacity="${isWindow ? 0.24 : 0.35}"` +
        `${isWindow ? '' : ` stroke="${COLORS.planned}" stroke-dasharray="4 3"`}><title>${escapeHtml(span.label)}</title></rect>`,
    );
    if (isWindow) {
      for (const x of [a, b]) {
        out.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(plot.y0)}" y2="${coord(plot.y1)}" stroke="${COLORS.windowEdge}" stroke-width="1" stroke-opacity="0.6"/>`);
      }
    }
    // The window's name at its top left; the planned rest's at its bottom, clear of the halt label.
    if (b - a > 6.2 * span.label.length + 10) {
      out.push(text(a + 5, isWindow ? plot.y0 + 14 : plot.y1 - 7, span.label, { fill: isWindow ? '#6b5300' : COLORS.axis, size: 11, halo: true }));
    }
  }

  // Grid and axes.
  const yAxis = axisTicks(yMin, yMax, input.yUnit ?? NO_UNIT, 5);
  yAxis.ticks.forEach((v, i) => {
    const y = sy(v);
    if (y < plot.y0 - 0.5 || y > plot.y1 + 0.5) return;
    out.push(`<line x1="${coord(plot.x0)}" x2="${coord(plot.x1)}" y1="${coord(y)}" y2="${coord(y)}" stroke="${COLORS.grid}"/>`);
    out.push(text(plot.x0 - 8, y + 4, yAxis.labels[i] as string, { anchor: 'end', fill: COLORS.axis, cls: 'y-tick' }));
  });
  const xAxis = timeAxis(xMin - input.origin, xMax - input.origin);
  for (const offset of xAxis.ticks) {
    const x = sx(input.origin + offset);
    out.push(`<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(plot.y1)}" y2="${coord(plot.y1 + 5)}" stroke="${COLORS.axis}"/>`);
    out.push(text(x, plot.y1 + 18, xAxis.label(offset), { anchor: 'middle', fill: COLORS.axis }));
  }
  out.push(`<line x1="${coord(plot.x0)}" x2="${coord(plot.x1)}" y1="${coord(plot.y1)}" y2="${coord(plot.y1)}" stroke="${COLORS.axis}"/>`);
  out.push(`<line x1="${coord(plot.x0)}" x2="${coord(plot.x0)}" y1="${coord(plot.y0)}" y2="${coord(plot.y1)}" stroke="${COLORS.axis}"/>`);
  out.push(text((plot.x0 + plot.x1) / 2, height - 8, `${xAxis.unitLabel} since ${input.originLabel}`, { anchor: 'middle', fill: COLORS.text }));
  const yMid = (plot.y0 + plot.y1) / 2;
  out.push(
    `<text class="y-title" x="16" y="${coord(yMid)}" text-anchor="middle" fill="${COLORS.text}" transform="rotate(-90 16 ${coord(yMid)})">${escapeHtml(axisTitle(truncate(input.yLabel, 40), yAxis.symbol))}</text>`,
  );

  // Rules: medians, tolerance limits, thresholds. Their values are in the
  // legend, not on the plot, where labels would sit on top of the data.
  for (const rule of rules) {
    const y = sy(rule.y);
    const style =
      rule.kind === 'threshold'
        ? `stroke="${COLORS.threshold}" stroke-width="1.5" stroke-dasharray="7 4"`
        : rule.kind === 'limit'
          ? `stroke="${COLORS.limit}" stroke-width="1.5" stroke-dasharray="6 4"`
          : rule.kind === 'reference'
            ? `stroke="${COLORS.axis}" stroke-width="1" stroke-dasharray="1 3"`
            : `stroke="${COLORS.control}" stroke-width="1.2" stroke-dasharray="2 3"`;
    out.push(
      `<line class="rule rule-${rule.kind}" x1="${coord(plot.x0)}" x2="${coord(plot.x1)}" y1="${coord(y)}" y2="${coord(y)}" ${style}><title>${escapeHtml(rule.label)}</title></line>`,
    );
  }

  // The data.
  if (finiteSamples.length === 0) {
    out.push(text((plot.x0 + plot.x1) / 2, (plot.y0 + plot.y1) / 2, 'no samples were collected', { anchor: 'middle', fill: COLORS.axis, size: 14, cls: 'empty' }));
  }
  for (const line of input.lines) {
    const key = safeClass(line.key);
    const segments = segmentsOf(line.samples).map((seg) => decimate(seg, Math.ceil((plot.x1 - plot.x0) * 2), MAX_POINTS_PER_LINE));
    const drawn = segments.reduce((n, s) => n + s.length, 0);
    const d = segments
      .filter((s) => s.length > 1)
      .map((s) => s.map((p, i) => `${i === 0 ? 'M' : 'L'}${coord(sx(p.t))} ${coord(sy(p.v))}`).join(''))
      .join('');
    if (d) {
      out.push(
        `<path class="series series-${key}" data-points="${drawn}" d="${d}" fill="none" stroke="${line.color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"><title>${escapeHtml(line.label)}</title></path>`,
      );
    }
    // Few points: mark each, so a reader sees where the measurements are and does not read the line as data.
    if (drawn <= SPARSE_POINTS) {
      for (const p of segments.filter((seg) => seg.length > 1).flat()) {
        out.push(`<circle class="series-dot series-${key}" cx="${coord(sx(p.t))}" cy="${coord(sy(p.v))}" r="2.5" fill="${line.color}"/>`);
      }
    }
    for (const lone of segments.filter((s) => s.length === 1)) {
      const p = lone[0] as Sample;
      out.push(`<circle class="series-point series-${key}" cx="${coord(sx(p.t))}" cy="${coord(sy(p.v))}" r="3.5" fill="${line.color}"><title>${escapeHtml(line.label)}</title></circle>`);
    }
  }
  for (const p of breaches) {
    out.push(`<circle class="breach" cx="${coord(sx(p.t))}" cy="${coord(sy(p.v))}" r="4.5" fill="#ffffff" stroke="${COLORS.threshold}" stroke-width="2"/>`);
  }

  // Markers on top.
  for (const marker of markers) {
    const x = clampX(sx(marker.t));
    const labelRight = x < plot.x1 - 120;
    out.push(
      `<g class="halt-marker" data-x="${coord(x)}"><title>${escapeHtml(marker.label)}</title>` +
        `<line x1="${coord(x)}" x2="${coord(x)}" y1="${coord(plot.y0)}" y2="${coord(plot.y1)}" stroke="${COLORS.halt}" stroke-width="2.5"/>` +
        `<path d="M${coord(x - 7)} ${coord(plot.y0)}L${coord(x + 7)} ${coord(plot.y0)}L${coord(x)} ${coord(plot.y0 + 10)}Z" fill="${COLORS.halt}"/>` +
        text(labelRight ? x + 6 : x - 6, plot.y0 + 24, marker.label, { anchor: labelRight ? 'start' : 'end', fill: COLORS.halt, weight: 'bold', halo: true }) +
        `</g>`,
    );
  }

  // Legend.
  legendRows.forEach((row, r) => {
    const y = 12 + r * LEGEND_ROW + 9;
    for (const item of row) {
      const x = plot.x0 + item.x;
      out.push(`<g class="legend-item">${legendSwatch(item, x, y)}${text(x + 24, y + 4, truncate(item.label, 60), { fill: COLORS.text })}</g>`);
    }
  });

  out.push('</svg>');
  return out.join('');
}

// ─── pieces ─────────────────────────────────────────────────────────────────

interface LegendItem {
  label: string;
  kind: 'line' | 'window' | 'planned' | 'median' | 'limit' | 'threshold' | 'reference' | 'halt' | 'breach';
  color: string;
}

function legendItems(lines: readonly ChartLine[], spans: readonly ChartSpan[], rules: readonly ChartRule[], markers: readonly ChartMarker[], breaches: boolean): LegendItem[] {
  const items: LegendItem[] = lines.map((l) => ({ label: l.label, kind: 'line', color: l.color }));
  if (spans.some((s) => s.kind === 'window')) items.push({ label: 'fault window', kind: 'window', color: COLORS.window });
  if (spans.some((s) => s.kind === 'planned')) items.push({ label: 'planned, not reached', kind: 'planned', color: COLORS.planned });
  // One legend entry per kind of rule, carrying the values: "tolerance −5% (39.72)".
  const ruleColor = { median: COLORS.control, limit: COLORS.limit, threshold: COLORS.threshold, reference: COLORS.axis } as const;
  for (const kind of ['median', 'reference', 'limit', 'threshold'] as const) {
    const labels = rules.filter((r) => r.kind === kind).map((r) => r.label);
    if (labels.length > 0) items.push({ label: labels.join(', '), kind, color: ruleColor[kind] });
  }
  if (breaches) items.push({ label: 'breach', kind: 'breach', color: COLORS.threshold });
  if (markers.length > 0) items.push({ label: 'halt', kind: 'halt', color: COLORS.halt });
  return items;
}

function layoutLegend(items: readonly LegendItem[], width: number): (LegendItem & { x: number })[][] {
  const rows: (LegendItem & { x: number })[][] = [[]];
  let x = 0;
  for (const item of items) {
    const w = 24 + approxTextWidth(truncate(item.label, 60)) + 18;
    if (x > 0 && x + w > width) {
      rows.push([]);
      x = 0;
    }
    (rows[rows.length - 1] as (LegendItem & { x: number })[]).push({ ...item, x });
    x += w;
  }
  return rows;
}

function legendSwatch(item: LegendItem, x: number, y: number): string {
  switch (item.kind) {
    case 'line':
      return `<line x1="${coord(x)}" x2="${coord(x + 18)}" y1="${coord(y)}" y2="${coord(y)}" stroke="${item.color}" stroke-width="3" stroke-linecap="round"/>`;
    case 'window':
      return `<rect x="${coord(x)}" y="${coord(y - 6)}" width="18" height="12" fill="${COLORS.window}" fill-opacity="0.45" stroke="${COLORS.windowEdge}" stroke-opacity="0.6"/>`;
    case 'planned':
      return `<rect x="${coord(x)}" y="${coord(y - 6)}" width="18" height="12" fill="${COLORS.planned}" fill-opacity="0.5" stroke="${COLORS.planned}" stroke-dasharray="4 3"/>`;
    case 'reference':
      return `<line x1="${coord(x)}" x2="${coord(x + 18)}" y1="${coord(y)}" y2="${coord(y)}" stroke="${item.color}" stroke-width="1.5" stroke-dasharray="1 3"/>`;
    case 'median':
      return `<line x1="${coord(x)}" x2="${coord(x + 18)}" y1="${coord(y)}" y2="${coord(y)}" stroke="${item.color}" stroke-width="1.5" stroke-dasharray="2 3"/>`;
    case 'limit':
    case 'threshold':
      return `<line x1="${coord(x)}" x2="${coord(x + 18)}" y1="${coord(y)}" y2="${coord(y)}" stroke="${item.color}" stroke-width="1.5" stroke-dasharray="6 3"/>`;
    case 'breach':
      return `<circle cx="${coord(x + 9)}" cy="${coord(y)}" r="4.5" fill="#ffffff" stroke="${item.color}" stroke-width="2"/>`;
    case 'halt':
      return `<line x1="${coord(x + 9)}" x2="${coord(x + 9)}" y1="${coord(y - 7)}" y2="${coord(y + 7)}" stroke="${item.color}" stroke-width="2.5"/><path d="M${coord(x + 4)} ${coord(y - 7)}L${coord(x + 14)} ${coord(y - 7)}L${coord(x + 9)} ${coord(y)}Z" fill="${item.color}"/>`;
  }
}

interface TextOptions {
  anchor?: 'start' | 'middle' | 'end';
  fill?: string;
  size?: number;
  weight?: 'bold';
  /** A white outline so a label stays readable over lines. */
  halo?: boolean;
  cls?: string;
}

function text(x: number, y: number, content: string, o: TextOptions = {}): string {
  const attrs = [
    o.cls ? `class="${o.cls}"` : '',
    `x="${coord(x)}"`,
    `y="${coord(y)}"`,
    o.anchor && o.anchor !== 'start' ? `text-anchor="${o.anchor}"` : '',
    `fill="${o.fill ?? COLORS.text}"`,
    o.size ? `font-size="${o.size}"` : '',
    o.weight ? `font-weight="${o.weight}"` : '',
    o.halo ? 'stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"' : '',
  ].filter(Boolean);
  return `<text ${attrs.join(' ')}>${escapeHtml(content)}</text>`;
}

/**
 * Offsets in ms → ticks and labels in seconds, minutes or hours, whichever
 * keeps the labels short for this span.
 */
function timeAxis(fromMs: number, toMs: number): { ticks: number[]; label: (ms: number) => string; unitLabel: string } {
  const span = toMs - fromMs;
  const unit = span <= 5 * 60_000 ? { ms: 1_000, name: 'seconds', short: 's' } : span <= 5 * 3_600_000 ? { ms: 60_000, name: 'minutes', short: 'min' } : { ms: 3_600_000, name: 'hours', short: 'h' };
  const axis = axisTicks(fromMs / unit.ms, toMs / unit.ms, NO_UNIT, 8);
  const labels = new Map(axis.ticks.map((t, i) => [t * unit.ms, axis.labels[i] as string]));
  return {
    ticks: axis.ticks.map((t) => t * unit.ms),
    label: (ms) => labels.get(ms) ?? '',
    unitLabel: unit.name,
  };
}

/** One decimal is sub-pixel at any size the report is read; a NaN here is a bug, not data. */
function coord(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`chart coordinate is not finite: ${v}`);
  const r = Math.round(v * 10) / 10;
  return String(Object.is(r, -0) ? 0 : r);
}

function approxTextWidth(s: string): number {
  return s.length * 6.6;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function safeId(id: string): string {
  return `c-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

function safeClass(key: string): string {
  return key.replace(/[^A-Za-z0-9_-]/g, '_');
}

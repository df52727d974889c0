/**
 * The report's guardrails: a table of every guardrail with its condition, its
 * evaluations and its outcome, and a chart of each one's evaluations over the
 * run (threshold, breaches and the halt drawn in). A stored run has every
 * evaluation (thinned past a cap, breaches kept); an older one only the few
 * its halt kept as evidence.
 */
import type { GuardrailObservation, HaltInfo, RunRecord } from '../../engine/types.ts';
import { escapeHtml } from '../escape.ts';
import { guardrailPlot } from '../guardrail-plot.ts';
import type { TimeFrame } from './time-frame.ts';
import { pill } from './layout.ts';
import { thresholdText, type GuardrailSpecView, type SpecView } from './spec-view.ts';
import { COLORS, renderTimeChart } from './svg-chart.ts';

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

// ─── guardrails ─────────────────────────────────────────────────────────────

export function guardrailsSection(run: RunRecord, spec: SpecView, time: TimeFrame): string {
  const names = unique([...spec.guardrails.map((g) => g.name), ...run.guardrails.map((g) => g.guardrail), ...(run.halt ? [run.halt.guardrail] : [])]);
  const out = ['<section aria-labelledby="h-guardrails">', '<h2 id="h-guardrails">Guardrails</h2>'];
  if (names.length === 0) {
    out.push('<p class="note">This experiment has no guardrails.</p>', '</section>');
    return out.join('\n');
  }
  const rows: string[] = [];
  const figures: string[] = [];
  names.forEach((name, i) => {
    const g = spec.guardrails.find((x) => x.name === name);
    const halted = run.halt?.guardrail === name;
    const threshold = thresholdOf(g, halted ? run.halt?.threshold : undefined);
    const plot = guardrailPlot(g, halted ? run.halt : undefined, threshold, spec);
    const { observations, partial } = observationsOf(run, name, threshold);
    const breachedCount = observations.filter((o) => o.breached).length;
    const status = halted
      ? pill(run.state === 'halt_failed' ? 'halt failed' : 'halted the run', 'stop')
      : breachedCount > 0
        ? pill('breached', 'bad')
        : observations.length > 0
          ? pill('held', 'good')
          : pill('no observations', 'neutral');
    rows.push(
      `<tr><td class="wrap">${escapeHtml(name)}</td><td>${escapeHtml(g?.kind ?? run.halt?.kind ?? '—')}</td>` +
        `<td class="wrap">${escapeHtml(g?.summary ?? thresholdText(threshold, plot.unit) ?? '—')}</td>` +
        `<td class="num">${partial ? `last ${observations.length}` : observations.length}</td><td>${status}</td></tr>`,
    );
    if (observations.length === 0) return;
    const samples = observations.filter(hasValue).map((o) => ({ t: o.at, v: o.value }));
    const missing = observations.length - samples.length;
    const notes = [
      plot.note,
      partial ? `Only the last ${observations.length} evaluations before the halt are kept with a stored run.` : '',
      missing ? `${missing} evaluation${missing === 1 ? '' : 's'} returned no data.` : '',
    ].filter(Boolean);
    figures.push(
      `<figure class="figure" aria-labelledby="guardrail-${i}-name">`,
      `<div class="figure-head"><h3 id="guardrail-${i}-name">${escapeHtml(name)}</h3>${status}</div>`,
      renderTimeChart({
        id: `guardrail-${i}`,
        title: `guardrail ${name} over time`,
        desc: `${name}: ${plot.line} over time, ${observations.length} evaluations, ${breachedCount} breached${missing ? `, ${missing} without data` : ''}${threshold ? `; allowed ${thresholdText(threshold, plot.unit) ?? ''}` : ''}.`,
        yLabel: plot.axis,
        yUnit: plot.unit,
        origin: time.origin,
        originLabel: time.originLabel,
        xDomain: time.domain,
        lines: [{ key: 'value', label: plot.line, color: COLORS.value, samples }],
        spans: time.spans,
        rules: plot.rules,
        markers: halted ? time.markers : [],
        breaches: observations.filter((o): o is GuardrailObservation & { value: number } => o.breached && hasValue(o)).map((o) => ({ t: o.at, v: o.value })),
        height: 230,
      }),
      notes.length > 0 ? `<figcaption class="caption">${escapeHtml(notes.join(' '))}</figcaption>` : '',
      '</figure>',
    );
  });
  out.push(
    '<div class="table-scroll"><table class="guardrails"><thead><tr><th>Guardrail</th><th>Kind</th><th>Condition</th><th class="num">Evaluations</th><th>Outcome</th></tr></thead><tbody>',
    ...rows,
    '</tbody></table></div>',
    ...figures,
  );
  if (figures.length === 0) {
    out.push(`<p class="note">No guardrail evaluations are recorded for this run, so none is charted${run.halt ? '; the halt is marked on the charts above' : ''}.</p>`);
  }
  out.push('</section>');
  return out.join('\n');
}

function hasValue(o: GuardrailObservation): o is GuardrailObservation & { value: number } {
  return o.value !== null && Number.isFinite(o.value);
}

/**
 * The guardrail's evaluations: all of them when the run record has them (a
 * fresh run), else the few the halt keeps as evidence (a run read back from
 * the store, which does not store every evaluation).
 */
function observationsOf(run: RunRecord, name: string, threshold: { max?: number; min?: number } | undefined): { observations: GuardrailObservation[]; partial: boolean } {
  const all = run.guardrails.filter((o) => o.guardrail === name);
  if (all.length > 0 || run.halt?.guardrail !== name) return { observations: all, partial: false };
  const h = run.halt;
  const breaches = (v: number | null): boolean =>
    v !== null && ((threshold?.max !== undefined && v > threshold.max) || (threshold?.min !== undefined && v < threshold.min));
  const recent: GuardrailObservation[] = (h.recent ?? []).map((r) => ({ guardrail: name, at: r.at, value: r.value, breached: breaches(r.value) }));
  if (h.observedAt !== undefined && h.value !== undefined && !recent.some((r) => r.at === h.observedAt)) {
    recent.push({ guardrail: name, at: h.observedAt, value: h.value, breached: true });
  }
  return { observations: recent.sort((a, b) => a.at - b.at), partial: recent.length > 0 };
}

function thresholdOf(g: GuardrailSpecView | undefined, fromHalt: HaltInfo['threshold']): { max?: number; min?: number } | undefined {
  const t: { max?: number; min?: number } = {};
  // An SLO guardrail's value is its burn rate: the burn-rate limit is its max.
  const max = g?.max ?? fromHalt?.max ?? fromHalt?.burnRate;
  const min = g?.min ?? fromHalt?.min;
  if (max !== undefined && Number.isFinite(max)) t.max = max;
  if (min !== undefined && Number.isFinite(min)) t.min = min;
  return t.max === undefined && t.min === undefined ? undefined : t;
}

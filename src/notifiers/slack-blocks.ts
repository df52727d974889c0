/**
 * Slack messages for a run, as Block Kit: pure functions from a snapshot of
 * the run to `{ text, blocks }`.
 *
 * Limits (Slack's, enforced here and checked by `blockKitViolations`): at most
 * 50 blocks; a header's plain_text ≤ 150 characters; a section's text ≤ 3000;
 * at most 10 fields of ≤ 2000; at most 10 context elements. Long texts are cut
 * with "…", never mid-entity; metrics beyond what fits are counted in a
 * context line that points at the report.
 *
 * Every string that comes from a spec or a run (names, reasons, queries,
 * params) is user text: `&`, `<` and `>` are escaped in mrkdwn, so it can
 * neither form a link nor a mention (`<!channel>`). Fault params are shown
 * only after `redact()`, and never a credential of the notifier itself.
 */
import type { HaltInfo, LadderRecord, RunState } from '../engine/types.ts';
import { ladderHeadline, stepEffectText } from '../reports/ladder-text.ts';
import { formatNumber as formatShared } from '../lib/format-number.ts';
import { formatValue } from '../lib/format-units.ts';
import { redact } from '../lib/redact.ts';
import { NO_UNIT, type Unit } from '../lib/units.ts';
import { haltFigures } from '../reports/guardrail-plot.ts';
import { isNoFault, metricTexts } from '../reports/metric-text.ts';
import type { MetricVerdict, Verdict } from '../stats/verdict.ts';
import type { AlertsResult } from '../alerts/types.ts';
import { alertsCombination, delayText, expectationText } from '../reports/alerts-text.ts';

export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  /** Slack truncates the notification text beyond 40k; ours stays short. */
  fallbackText: 3000,
} as const;

export type PlainText = { type: 'plain_text'; text: string; emoji?: boolean };
export type Mrkdwn = { type: 'mrkdwn'; text: string };
export type TextObject = PlainText | Mrkdwn;

export type Block =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text?: TextObject; fields?: TextObject[] }
  | { type: 'divider' }
  | { type: 'context'; elements: TextObject[] };

export interface SlackMessage {
  text: string;
  blocks: Block[];
}

/** What the messages need, copied from the run and the spec when the event happened. */
export interface RunView {
  id: string;
  experiment: string;
  service?: string;
  environment?: string;
  state: RunState;
  verdict: Verdict | null;
  reason: string;
  startedAt: string;
  endedAt: string | null;
  actor?: string;
  fault: { injector: string; durationMs: number; params: unknown };
  halt?: HaltInfo;
  metrics: MetricVerdict[];
  /** A fault ladder's steps and dose–response. */
  ladder?: LadderRecord;
  /** The alert expectations' verdict (spec.expect), beside the metrics'. */
  alerts?: AlertsResult;
  /** `${publicUrl}/api/v1/runs/{id}/report.html`, when the service has a public URL. */
  reportUrl?: string;
  /** Each metric's unit by name (src/lib/units.ts); a plain number when absent. */
  metricUnits?: Record<string, Unit>;
  /** The unit of the halting guardrail's values. */
  haltUnit?: Unit;
}

/** `&`, `<`, `>` → entities: what Slack asks of user text in mrkdwn. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Cut `text` (already escaped, if it is mrkdwn) to at most `max` characters,
 * ending in "…", without splitting an entity (`&amp;`) or a surrogate pair.
 */
export function fitText(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  const amp = text.lastIndexOf('&', cut);
  if (amp >= 0 && amp > cut - 6) {
    const semi = text.indexOf(';', amp);
    if (semi === -1 || semi >= cut) cut = amp;
  }
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

const md = (text: string, max: number = SLACK_LIMITS.sectionText): Mrkdwn => ({ type: 'mrkdwn', text: fitText(text, max) });
const field = (label: string, value: string): Mrkdwn => md(`*${label}*\n${value}`, SLACK_LIMITS.fieldText);
const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: fitText(text.replace(/\s+/g, ' '), SLACK_LIMITS.headerText), emoji: true } });

const STATE_LOOK: Record<string, { emoji: string; label: string }> = {
  passed: { emoji: '✅', label: 'Passed' },
  failed: { emoji: '❌', label: 'Failed' },
  inconclusive: { emoji: '❔', label: 'Inconclusive' },
  halted: { emoji: '🛑', label: 'Halted' },
  halt_failed: { emoji: '🚨', label: 'Halt failed: fault may still be active' },
  aborted: { emoji: '⚠️', label: 'Aborted' },
  errored: { emoji: '⚠️', label: 'Errored' },
};

/** A number for people: 3 significant digits, no exponent for everyday magnitudes. */
/** Three significant digits: Slack fields are narrow. */
export function formatNumber(v: number | null | undefined): string {
  return formatShared(v, 3);
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 100) / 10}s`;
}

function faultText(view: RunView): string {
  let params: string;
  try {
    params = JSON.stringify(redact(view.fault.params)) ?? '';
  } catch {
    params = '';
  }
  // Backticks cannot be escaped inside a code span; a look-alike keeps the span intact.
  params = fitText(escapeSlack(params.replace(/`/g, 'ʹ')), 400);
  const head = `${escapeSlack(view.fault.injector)} · ${formatDuration(view.fault.durationMs)}`;
  return params && params !== '{}' ? `${head}\n\`${params}\`` : head;
}

function target(view: RunView): string {
  const parts = [view.service, view.environment].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.length > 0 ? escapeSlack(parts.join(' / ')) : '—';
}

function commonFields(view: RunView): Mrkdwn[] {
  return [
    field('Experiment', escapeSlack(view.experiment)),
    field('Service / environment', target(view)),
    field('Fault', faultText(view)),
    field('Run', `\`${escapeSlack(view.id)}\`${view.actor ? ` · started by ${escapeSlack(view.actor)}` : ''}`),
  ];
}

function linkContext(view: RunView, extra: string[] = []): Block | undefined {
  const elements: Mrkdwn[] = extra.map((e) => md(e, 2000));
  if (view.reportUrl) elements.push(md(`<${escapeSlack(view.reportUrl)}|HTML report>`, 2000));
  if (elements.length === 0) return undefined;
  return { type: 'context', elements: elements.slice(0, SLACK_LIMITS.contextElements) };
}

function haltText(halt: HaltInfo, unit: Unit = NO_UNIT): string {
  const figures = haltFigures(halt, unit);
  const value = figures.value !== undefined ? ` — value ${figures.value}${figures.limits ? ` (${figures.limits})` : ''}` : '';
  return `*Halted by guardrail* \`${escapeSlack(halt.guardrail)}\`${escapeSlack(value)}\n${escapeSlack(halt.reason)}`;
}

/** The message posted when a run starts. */
export function startMessage(view: RunView): SlackMessage {
  const blocks: Block[] = [
    header(`🧪 Chaos experiment started · ${view.experiment}`),
    {
      type: 'section',
      text: md(
        isNoFault(view.fault)
          ? 'An A/A run: *no fault* is injected; both groups are treated alike, so they should not differ. Guardrails still halt it on a breach.'
          : 'A fault will be injected into the *experiment* group only; guardrails halt it on a breach.',
      ),
      fields: commonFields(view),
    },
  ];
  const ctx = linkContext(view);
  if (ctx) blocks.push(ctx);
  return { text: fitText(`Chaos experiment started: ${escapeSlack(view.experiment)} (${view.id})`, SLACK_LIMITS.fallbackText), blocks };
}

/** The halt, as a reply (thread), a follow-up (webhook) or the updated start message. */
export function haltMessage(view: RunView): SlackMessage {
  const halt = view.halt;
  const blocks: Block[] = [
    header(`🛑 Halted · ${view.experiment}`),
    { type: 'section', text: md(halt ? haltText(halt, view.haltUnit) : `*Halted*\n${escapeSlack(view.reason)}`), fields: commonFields(view) },
  ];
  const ctx = linkContext(view, ['The fault window is closed; the verdict follows.']);
  if (ctx) blocks.push(ctx);
  return { text: fitText(`Halted: ${escapeSlack(view.experiment)} — ${escapeSlack(halt?.reason ?? view.reason)}`, SLACK_LIMITS.fallbackText), blocks };
}

/** A metric's numbers in its unit (src/reports/metric-text.ts), as the reports show them. */
function metricBlock(m: MetricVerdict, unit: Unit = NO_UNIT): Block {
  const emoji = m.verdict === 'pass' ? '✅' : m.verdict === 'fail' ? '❌' : '❔';
  const level = Number.isFinite(m.alpha) ? `${formatNumber((1 - m.alpha) * 100)}%` : '';
  const t = metricTexts(m, unit);
  const p = m.pValue === null ? '' : ` · p=${formatNumber(m.pValue)}`;
  const group = (s: MetricVerdict['control']) => `median ${formatValue(s.median, unit)} · mean ${formatValue(s.mean, unit)} · n=${s.n}`;
  return {
    type: 'section',
    text: md(`${emoji} *${escapeSlack(m.name)}* — ${m.verdict}\n${escapeSlack(m.reason)}`, 1000),
    fields: [
      field('Control', escapeSlack(group(m.control))),
      field('Experiment', escapeSlack(group(m.experiment))),
      field('Effect (experiment − control)', escapeSlack(t.effect)),
      field(`Interval${level ? ` (${level})` : ''}`, `${escapeSlack(t.ci)}${p}`),
      field('Allowed', escapeSlack(t.tolerance)),
    ],
  };
}

/** A fault ladder: the highest level tolerated, the first that harmed, and one line per step. */
function ladderBlock(ladder: LadderRecord): Block {
  const lines = ladder.steps.map((s) => {
    const emoji = s.verdict === 'pass' ? '✅' : s.verdict === 'fail' ? '❌' : s.startedAt ? '❔' : '▫️';
    const effects = (s.metrics ?? []).map((m) => `${escapeSlack(m.name)} ${escapeSlack(stepEffectText(m))}`).join(' · ');
    return `${emoji} ${s.index + 1}. \`${escapeSlack(s.label.replace(/`/g, 'ʹ'))}\`${effects ? ` — ${effects}` : s.startedAt ? '' : ' — not reached'}`;
  });
  return { type: 'section', text: md(`*Dose–response:* ${escapeSlack(ladderHeadline(ladder))}\n${lines.join('\n')}`) };
}

/** The verdict: the final state, why, the halt if any, and per metric control vs experiment, effect and interval. */
export function verdictMessage(view: RunView): SlackMessage {
  const look = STATE_LOOK[view.state] ?? { emoji: 'ℹ️', label: view.state };
  const head: Block[] = [
    header(`${look.emoji} ${look.label} · ${view.experiment}`),
    {
      type: 'section',
      text: md(`*Verdict:* ${view.verdict ?? 'none'} — ${escapeSlack(view.reason || look.label)}`),
      fields: [...commonFields(view), field('Duration', durationBetween(view.startedAt, view.endedAt))],
    },
  ];
  if (view.halt) head.push({ type: 'section', text: md(haltText(view.halt, view.haltUnit)) });
  if (view.alerts) head.push({ type: 'section', text: md(alertsText(view.alerts)) });
  if (view.ladder) head.push(ladderBlock(view.ladder));
  if (view.metrics.length > 0) head.push({ type: 'divider' });

  // Room for metrics: what is left after the head and the closing context block (link, "N more").
  const room = SLACK_LIMITS.blocks - head.length - 1;
  const shown = view.metrics.slice(0, Math.max(0, room));
  const hidden = view.metrics.length - shown.length;
  const blocks: Block[] = [...head, ...shown.map((m) => metricBlock(m, view.metricUnits?.[m.name]))];
  const ctx = linkContext(view, hidden > 0 ? [`…and ${hidden} more metric${hidden === 1 ? '' : 's'}; the report has them all.`] : []);
  if (ctx) blocks.push(ctx);
  return {
    text: fitText(`${look.label}: ${escapeSlack(view.experiment)} — ${escapeSlack(view.reason)}`, SLACK_LIMITS.fallbackText),
    blocks,
  };
}

function alertsText(alerts: AlertsResult): string {
  const emoji = alerts.verdict === 'pass' ? '✅' : alerts.verdict === 'fail' ? '❌' : '❔';
  const lines = [`${emoji} *Alerts: ${alerts.verdict}* — ${escapeSlack(alertsCombination(alerts))}`];
  for (const a of alerts.alerts) {
    const happened = a.expect === 'never' ? (a.firedAt ? `fired at ${a.firedAt}` : 'stayed quiet') : a.firedAt ? `fired after ${delayText(a.delayMs)}${a.resolvedAt ? `, resolved ${delayText(a.resolveDelayMs)} after the window` : ''}` : 'did not fire';
    lines.push(`• \`${escapeSlack(a.name.replace(/`/g, 'ʹ'))}\` (${expectationText(a)}): *${a.verdict}* — ${happened}`);
  }
  return lines.join('\n');
}

function durationBetween(start: string, end: string | null): string {
  if (!end) return '—';
  const ms = Date.parse(end) - Date.parse(start);
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}

/** Every Block Kit limit a message breaks (empty when it is within them all). */
export function blockKitViolations(message: SlackMessage): string[] {
  const problems: string[] = [];
  if (message.blocks.length > SLACK_LIMITS.blocks) problems.push(`${message.blocks.length} blocks > ${SLACK_LIMITS.blocks}`);
  if (message.text.length > SLACK_LIMITS.fallbackText) problems.push(`text ${message.text.length} > ${SLACK_LIMITS.fallbackText}`);
  message.blocks.forEach((b, i) => {
    if (b.type === 'header' && b.text.text.length > SLACK_LIMITS.headerText) problems.push(`blocks[${i}] header ${b.text.text.length} > ${SLACK_LIMITS.headerText}`);
    if (b.type === 'header' && b.text.type !== 'plain_text') problems.push(`blocks[${i}] header must be plain_text`);
    if (b.type === 'section') {
      if (!b.text && !b.fields) problems.push(`blocks[${i}] section needs text or fields`);
      if (b.text && b.text.text.length > SLACK_LIMITS.sectionText) problems.push(`blocks[${i}] section text ${b.text.text.length} > ${SLACK_LIMITS.sectionText}`);
      if (b.fields && b.fields.length > SLACK_LIMITS.fields) problems.push(`blocks[${i}] ${b.fields.length} fields > ${SLACK_LIMITS.fields}`);
      b.fields?.forEach((f, j) => {
        if (f.text.length > SLACK_LIMITS.fieldText) problems.push(`blocks[${i}].fields[${j}] ${f.text.length} > ${SLACK_LIMITS.fieldText}`);
      });
    }
    if (b.type === 'context' && b.elements.length > SLACK_LIMITS.contextElements) problems.push(`blocks[${i}] ${b.elements.length} context elements > ${SLACK_LIMITS.contextElements}`);
    if (b.type === 'context' && b.elements.length === 0) problems.push(`blocks[${i}] context without elements`);
  });
  return problems;
}

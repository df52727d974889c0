/**
 * The page of one run in the service (`GET /runs/:id`): the run report, plus —
 * while the run is active — its state and the time left in the fault window,
 * refreshed by the same-origin script (src/http/live-script.ts), and the
 * Abort / Halt-all forms for those whose role may use them. Everything the
 * server renders is escaped here or in the report; the script only swaps in
 * what the server rendered.
 */
import { ACTIVE_STATES, type RunRecord } from '../../engine/types.ts';
import { escapeHtml } from '../escape.ts';
import { renderReportMain, reportTitle, type HtmlReportOptions } from './html-report.ts';
import { htmlPage, pill, STATE_TONE } from './layout.ts';

export interface LiveRunOptions extends HtmlReportOptions {
  now: Date;
  /** Show the Abort form (the viewer's role may abort). */
  canAbort: boolean;
  /** Show the Halt-all form (the viewer's role may press it). */
  canHaltAll: boolean;
}

/** What the page's script refreshes, as `GET /api/v1/runs/:id/live` answers it. */
export interface LiveRunView {
  id: string;
  state: string;
  tone: string;
  active: boolean;
  title: string;
  /** Time left in an open fault window, at `now`; null when none is open. */
  timeLeftMs: number | null;
  reason: string;
  report: string;
}

const isActive = (state: string): boolean => (ACTIVE_STATES as readonly string[]).includes(state);

export function liveRunView(run: RunRecord, opts: HtmlReportOptions & { now: Date }): LiveRunView {
  const w = run.window;
  const open = w && !w.closedAt && isActive(run.state);
  return {
    id: run.id,
    state: run.state,
    tone: STATE_TONE[run.state] ?? 'neutral',
    active: isActive(run.state),
    title: reportTitle(run),
    timeLeftMs: open ? Math.max(0, Date.parse(w.deadline) - opts.now.getTime()) : null,
    reason: run.reason,
    report: renderReportMain(run, { ...opts, generatedAt: opts.now }),
  };
}

export function renderLiveRunPage(run: RunRecord, opts: LiveRunOptions): string {
  const view = liveRunView(run, opts);
  const controls: string[] = [];
  if (view.active && opts.canAbort) {
    controls.push(
      '<form data-action="abort" aria-label="Abort this run">' +
        '<label>Reason <input name="reason" required maxlength="500" autocomplete="off" placeholder="why abort?"></label>' +
        '<button type="submit" class="danger">Abort run</button></form>',
    );
  }
  if (view.active && opts.canHaltAll) {
    controls.push(
      '<form data-action="halt-all" aria-label="Halt all runs">' +
        '<label>Reason <input name="reason" required maxlength="500" autocomplete="off" placeholder="why halt everything?"></label>' +
        '<button type="submit" class="danger">Halt all runs</button></form>',
    );
  }
  const body = [
    `<div id="live-run" data-run="${escapeHtml(run.id)}" data-state="${escapeHtml(run.state)}" data-active="${String(view.active)}" data-time-left-ms="${view.timeLeftMs ?? ''}">`,
    '<nav class="topbar"><a href="/">← All runs</a><button type="button" data-logout>Log out</button></nav>',
    `<div class="live-bar" aria-live="polite">${pill(run.state, view.tone).replace('<span', '<span id="live-state"')}` +
      `<span id="live-time-left" class="note"></span><span id="live-updated" class="note">${view.active ? 'updates by itself while the run is active' : ''}</span></div>`,
    controls.length > 0 ? `<div id="live-controls" class="live-controls">${controls.join('')}</div><p id="live-message" class="live-message" role="status"></p>` : '',
    `<div id="live-report">${view.report}</div>`,
    '</div>',
  ].join('\n');
  return htmlPage(view.title, body, { live: true });
}

/**
 * The run index page: the most recent runs, newest first, with their state,
 * verdict, experiment, start and duration, and links to each run's page and
 * reports. Every string escaped. Served by the service, it loads only our
 * same-origin script, for its Log out button (`live: true`).
 */
import { escapeHtml } from '../escape.ts';
import { durationText, timeText } from './format.ts';
import { htmlPage, pill, STATE_TONE, VERDICT_TONE } from './layout.ts';

export interface RunIndexRow {
  id: string;
  experiment: string;
  version: number;
  state: string;
  verdict: string | null;
  reason: string;
  startedAt: string;
  endedAt: string | null;
  actor: string;
}

export interface RunIndexOptions {
  /** For the duration of runs still going. */
  now: Date;
  /** Link to the next (older) page: the id to pass as `before`. */
  olderThan?: string;
  /** Shown when the list is filtered. */
  experiment?: string;
  limit: number;
}

/** The reports of a run, relative to the service root. */
export function reportLinks(id: string): { page: string; html: string; markdown: string; json: string } {
  const base = `/api/v1/runs/${encodeURIComponent(id)}`;
  return { page: `/runs/${encodeURIComponent(id)}`, html: `${base}/report.html`, markdown: `${base}/report.md`, json: `${base}/report.json` };
}

export function renderRunIndex(rows: readonly RunIndexRow[], opts: RunIndexOptions): string {
  const out: string[] = ['<nav class="topbar"><span class="kicker">steadystate</span><button type="button" data-logout>Log out</button></nav>', '<main>'];
  out.push(`<h1>Recent runs${opts.experiment ? ` of <code>${escapeHtml(opts.experiment)}</code>` : ''}</h1>`);
  out.push(`<p class="note">Newest first, at most ${opts.limit}. Rendered ${escapeHtml(timeText(opts.now.toISOString()))}; reload for news.</p>`);
  if (rows.length === 0) {
    out.push('<p>No runs yet. Start one with <code>POST /api/v1/experiments/{name}/runs</code> or <code>steadystate run</code>.</p>');
  } else {
    out.push(
      '<div class="table-scroll"><table class="runs">',
      '<thead><tr><th>State</th><th>Verdict</th><th>Experiment</th><th>Started (UTC)</th><th class="num">Duration</th><th>Reason</th><th>Reports</th></tr></thead>',
      '<tbody>',
    );
    for (const r of rows) {
      const ended = r.endedAt ? Date.parse(r.endedAt) : NaN;
      const started = Date.parse(r.startedAt);
      const duration = Number.isFinite(ended) ? durationText(ended - started) : `${durationText(opts.now.getTime() - started)} so far`;
      const links = reportLinks(r.id);
      out.push(
        `<tr data-run="${escapeHtml(r.id)}">` +
          `<td>${pill(r.state, STATE_TONE[r.state] ?? 'neutral')}</td>` +
          `<td>${r.verdict ? pill(r.verdict, VERDICT_TONE[r.verdict] ?? 'neutral') : '<span class="note">—</span>'}</td>` +
          `<td class="wrap"><a href="${escapeHtml(links.page)}"><strong>${escapeHtml(r.experiment)}</strong></a> <span class="note">v${r.version}</span></td>` +
          `<td class="mono">${escapeHtml(timeText(r.startedAt).replace(' UTC', ''))}</td>` +
          `<td class="num">${escapeHtml(duration)}</td>` +
          `<td class="wrap">${escapeHtml(truncate(r.reason || '—', 160))}</td>` +
          `<td class="links"><a href="${escapeHtml(links.html)}">HTML</a><a href="${escapeHtml(links.markdown)}">Markdown</a><a href="${escapeHtml(links.json)}">JSON</a></td>` +
          '</tr>',
      );
    }
    out.push('</tbody></table></div>');
  }
  if (opts.olderThan) {
    const params = new URLSearchParams({ before: opts.olderThan, limit: String(opts.limit) });
    if (opts.experiment) params.set('experiment', opts.experiment);
    out.push(`<p><a href="/?${escapeHtml(params.toString())}">Older runs →</a></p>`);
  }
  out.push('</main>');
  return htmlPage('steadystate · recent runs', out.join('\n'), { live: true });
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * The page shell shared by the run report and the run index: one HTML
 * document with its CSS inline, so a report saved to disk works offline and
 * under a Content-Security-Policy that allows nothing but inline styles.
 */
import { escapeHtml } from '../escape.ts';

/**
 * What the pages may load: nothing. Inline styles are the only exception
 * (SVG charts are inline markup, not images). Served as a header by the HTTP
 * routes and repeated as a meta tag in files, which meta allows minus
 * `frame-ancestors`. The empty data: icon keeps browsers from asking the
 * service for /favicon.ico.
 */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
export const PAGE_CSP_HEADER = `${PAGE_CSP}; frame-ancestors 'none'`;

/**
 * The service's own pages (the run index, a live run) load one script, and only
 * from this origin (`/assets/live-run.js`), which talks only to this origin.
 * Still no inline script, no eval, nothing from elsewhere.
 */
export const LIVE_PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";
export const LIVE_PAGE_CSP_HEADER = `${LIVE_PAGE_CSP}; frame-ancestors 'none'`;
/** The one script the live pages load (src/http/live-script.ts). */
export const LIVE_SCRIPT_PATH = '/assets/live-run.js';

export function htmlPage(title: string, body: string, opts: { live?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${opts.live ? LIVE_PAGE_CSP : PAGE_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
${opts.live ? `<script src="${LIVE_SCRIPT_PATH}" defer></script>
` : ''}</head>
<body>
${body}
</body>
</html>
`;
}

export const STATE_TONE: Record<string, 'good' | 'bad' | 'stop' | 'critical' | 'unsure' | 'neutral' | 'active'> = {
  passed: 'good',
  failed: 'bad',
  halted: 'stop',
  // The fault could not be closed: worse than any verdict.
  halt_failed: 'critical',
  inconclusive: 'unsure',
  aborted: 'neutral',
  errored: 'neutral',
  pending: 'active',
  preflight: 'active',
  baseline: 'active',
  injecting: 'active',
  recovering: 'active',
  analyzing: 'active',
};

export const VERDICT_TONE: Record<string, 'good' | 'bad' | 'unsure'> = { pass: 'good', fail: 'bad', inconclusive: 'unsure' };

/** A state or verdict as a coloured pill; the word itself carries the meaning, colour only repeats it. */
export function pill(word: string, tone: string): string {
  return `<span class="pill tone-${escapeHtml(tone)}">${escapeHtml(word)}</span>`;
}

const CSS = `
:root { --text:#1f2328; --muted:#57606a; --line:#d0d7de; --soft:#f6f8fa;
  --good:#1a7f37; --good-bg:#dafbe1; --bad:#b3261e; --bad-bg:#ffebe9; --stop:#8c1d18; --stop-bg:#ffe2dc;
  --unsure:#7d4e00; --unsure-bg:#fff3c4; --neutral:#424a53; --neutral-bg:#eaeef2; --active:#0b57a4; --active-bg:#ddf4ff;
  --control:#0072B2; --experiment:#D55E00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--text); background: #ffffff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 24px 48px; }
h1 { font-size: 26px; line-height: 1.25; margin: 4px 0 8px; overflow-wrap: anywhere; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0; overflow-wrap: anywhere; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
a { color: #0b57a4; }
.kicker { color: var(--muted); font-size: 13px; letter-spacing: .04em; text-transform: uppercase; margin: 0; }
.pill { display: inline-block; padding: 1px 10px; border-radius: 999px; font-weight: 600; font-size: 13px;
  text-transform: uppercase; letter-spacing: .03em; border: 1px solid currentColor; white-space: nowrap; }
.tone-good { color: var(--good); background: var(--good-bg); }
.tone-bad { color: var(--bad); background: var(--bad-bg); }
.tone-stop { color: var(--stop); background: var(--stop-bg); }
.tone-unsure { color: var(--unsure); background: var(--unsure-bg); }
.tone-neutral { color: var(--neutral); background: var(--neutral-bg); }
.tone-critical { color: #ffffff; background: var(--stop); border-color: var(--stop); }
.tone-active { color: var(--active); background: var(--active-bg); }
.banner { border: 1px solid var(--line); border-left: 10px solid var(--neutral); border-radius: 8px; padding: 16px 20px; background: var(--soft); }
.banner.tone-good { border-left-color: var(--good); background: var(--good-bg); color: var(--text); }
.banner.tone-bad { border-left-color: var(--bad); background: var(--bad-bg); color: var(--text); }
.banner.tone-stop { border-left-color: var(--stop); background: var(--stop-bg); color: var(--text); }
.banner.tone-unsure { border-left-color: var(--unsure); background: var(--unsure-bg); color: var(--text); }
.banner.tone-neutral { border-left-color: var(--neutral); background: var(--neutral-bg); color: var(--text); }
.banner.tone-active { border-left-color: var(--active); background: var(--active-bg); color: var(--text); }
.banner.tone-critical { border: 3px solid var(--stop); border-left-width: 10px; background: var(--stop-bg); color: var(--text); }
.banner .state { font-size: 30px; font-weight: 800; letter-spacing: .02em; margin-right: 12px; }
.banner.tone-good .state { color: var(--good); } .banner.tone-bad .state { color: var(--bad); }
.banner.tone-stop .state { color: var(--stop); } .banner.tone-unsure .state { color: var(--unsure); }
.banner.tone-neutral .state { color: var(--neutral); } .banner.tone-active .state { color: var(--active); }
.banner.tone-critical .state { color: var(--stop); }
.banner .reason { font-size: 17px; margin: 6px 0 12px; overflow-wrap: anywhere; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 14px; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; overflow-wrap: anywhere; }
.halt-box { margin: 12px 0 0; padding: 10px 14px; border-radius: 6px; background: #ffffff; border: 2px solid var(--stop); }
.halt-box strong { color: var(--stop); }
.critical-box { margin: 12px 0 0; padding: 10px 14px; border-radius: 6px; background: var(--stop); color: #ffffff; }
h3.sub { margin: 20px 0 8px; }
table.metrics td:first-child, table.checks td:first-child { min-width: 8em; font-weight: 600; }
table.metrics td.ci { white-space: normal; min-width: 7em; }
table.metrics th { white-space: normal; vertical-align: bottom; }
table.metrics td:last-child { min-width: 9em; font-size: 13px; }
table.checks td { font-size: 13px; }
.figure { margin: 0 0 28px; }
.table-scroll + .figure { margin-top: 20px; }
.figure-head { display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; margin-bottom: 6px; }
.figure-head .query { color: var(--muted); overflow-wrap: anywhere; }
.figure svg { display: block; border: 1px solid var(--line); border-radius: 6px; }
.caption { margin: 6px 0 0; font-size: 14px; color: var(--text); overflow-wrap: anywhere; }
.caption .numbers { color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { overflow-wrap: anywhere; }
.table-scroll { overflow-x: auto; }
tr.ev-alert td { background: var(--stop-bg); }
tr.ev-state td:nth-child(3) { font-weight: 600; }
.reasons { padding-left: 20px; } .reasons li { margin: 4px 0; overflow-wrap: anywhere; }
.note { color: var(--muted); font-size: 14px; }
pre.spec { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; overflow-x: auto; white-space: pre; }
details > summary { cursor: pointer; font-weight: 600; margin-bottom: 8px; }
.swatch { display: inline-block; width: 14px; height: 4px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
.swatch-control { background: var(--control); } .swatch-experiment { background: var(--experiment); }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
.links a { margin-right: 10px; white-space: nowrap; }
.topbar { max-width: 1120px; margin: 0 auto; padding: 12px 24px 0; display: flex; gap: 16px; align-items: center; justify-content: space-between; }
.live-bar { max-width: 1120px; margin: 0 auto; padding: 8px 24px; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
.live-controls { max-width: 1120px; margin: 0 auto; padding: 0 24px; display: flex; gap: 24px; flex-wrap: wrap; }
.live-controls form { display: flex; gap: 8px; align-items: center; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.live-controls input { font: inherit; padding: 4px 6px; min-width: 16em; }
[hidden] { display: none !important; }
button { font: inherit; padding: 4px 12px; cursor: pointer; }
button.danger { color: #ffffff; background: var(--stop); border: 1px solid var(--stop); border-radius: 4px; }
.live-message { max-width: 1120px; margin: 4px auto 0; padding: 0 24px; } .live-message.bad { color: var(--bad); }
`;

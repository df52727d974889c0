/**
 * The HTML report: what it shows for passed, failed and halted runs, that it
 * carries what the Markdown report carries, that it is one self-contained
 * file, and that hostile strings from anywhere in a run or spec render as text.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RunRecord } from '../../src/engine/types.ts';
import { escapeHtml } from '../../src/reports/escape.ts';
import { renderHtmlReport } from '../../src/reports/html/html-report.ts';
import { writeRunReports } from '../../src/reports/write-reports.ts';
import { loadExperiment } from '../../src/spec/load.ts';
import { failedRun, haltedRun, HOSTILE_EXPERIMENT, HOSTILE_GUARDRAIL, HOSTILE_METRIC, hostileRun, passedRun } from '../fixtures/runs/runs.ts';
import { assertSafeMarkup, tagsOf } from './markup.ts';

const BASE = Date.parse('2026-03-14T09:26:50Z');

function render(fixture: ReturnType<typeof passedRun>, record: RunRecord = fixture.record): string {
  return renderHtmlReport(record, { spec: loadExperiment(fixture.specYaml), version: 2, generatedAt: new Date(BASE + 300_000) });
}

function count(html: string, re: RegExp): number {
  return (html.match(re) ?? []).length;
}

function classCount(html: string, cls: string, element?: string): number {
  return tagsOf(html).filter((t) => (element === undefined || t.name === element) && new RegExp(`class="[^"]*\\b${cls}\\b`).test(t.attrs)).length;
}

describe('HTML report', () => {
  it('a failed run: banner, one chart per metric with both groups and the window, the numbers, timeline and spec', () => {
    const f = failedRun(BASE);
    const html = render(f);
    assert.match(html, /<span class="state">FAILED<\/span>/);
    assert.match(html, /verdict: fail/);
    assert.ok(html.includes(escapeHtml(f.record.reason)));
    // Two metrics, each a chart with a control and an experiment path and the shaded window.
    assert.equal(count(html, /<svg class="chart"/g), 2 + 1, 'two metric charts and one guardrail chart');
    assert.equal(classCount(html, 'series-control', 'path'), 2);
    assert.equal(classCount(html, 'series-experiment', 'path'), 2);
    assert.equal(classCount(html, 'fault-window'), 3);
    assert.equal(classCount(html, 'halt-marker'), 0);
    assert.equal(classCount(html, 'planned-window'), 0, 'the window ran to its deadline');
    // Tolerance limits on the harmful side only: decrease → below, increase → above.
    assert.equal(classCount(html, 'rule-limit'), 2);
    assert.match(html, /tolerance limit −5%/);
    assert.match(html, /tolerance limit \+20%/);
    assert.equal(classCount(html, 'rule-threshold'), 1);
    // Every metric's numbers and reason, as the Markdown report has them.
    for (const m of f.record.metrics) {
      assert.ok(html.includes(escapeHtml(m.reason)), `reason of ${m.name}`);
      assert.ok(html.includes(`(${m.control.n})`));
    }
    assert.match(html, /95% CI/);
    assert.match(html, /paired ratio of means on independent windows/);
    assert.match(html, /Holm-adjusted/);
    // Units read from the query: rate() is per second, a _seconds histogram quantile is seconds, shown in ms.
    assert.match(html, /class="y-title"[^>]*>checkout-sps \(\/s\)</);
    assert.match(html, /class="y-title"[^>]*>p95-latency \(ms\)</);
    assert.match(html, /experiment \(fault injected\)/);
    // The numbers in the unit: medians, effect and tolerance.
    const p95 = f.record.metrics.find((m) => m.name === 'p95-latency');
    assert.ok(p95);
    assert.ok(html.includes(`${Math.round((p95.control.median as number) * 1000)} ms (${p95.control.n})`), 'control median in ms');
    assert.match(html, /<td class="num effect">\+\d+ ms \(\+\d+(\.\d)?%\)<\/td>/);
    assert.match(html, /<td class="num tolerance">±20% of control = ±\d+(\.\d)? ms<\/td>/);
    assert.match(html, /<td class="num tolerance">±5% of control = ±\d+(\.\d+)?\/s<\/td>/);
    // The guardrail plots its query's value, a ratio, in %, against its threshold.
    assert.match(html, /class="y-title"[^>]*>query value \(%\)</);
    assert.match(html, /threshold max 2%/);
    // Tick labels: round values, one number of decimals per axis.
    for (const svg of html.match(/<svg class="chart"[\s\S]*?<\/svg>/g) ?? []) {
      const ticks = Array.from(svg.matchAll(/<text class="y-tick"[^>]*>([^<]*)<\/text>/g), (m) => m[1] as string);
      assert.ok(ticks.length >= 3, `y ticks ${ticks.join(', ')}`);
      assert.equal(new Set(ticks.map((t) => (t.split('.')[1] ?? '').length)).size, 1, `labels alike: ${ticks.join(', ')}`);
      const values = ticks.map((t) => Number(t.replace('−', '-')));
      const step = (values[1] as number) - (values[0] as number);
      for (let i = 1; i < values.length; i++) assert.ok(Math.abs((values[i] as number) - (values[i - 1] as number) - step) < 1e-9, `even steps: ${ticks.join(', ')}`);
      assert.ok(/^(1|2|2\.5|5)$/.test(String(Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6)))), `round step ${step}: ${ticks.join(', ')}`);
    }
    for (const e of f.record.events) assert.ok(html.includes(escapeHtml(e.message)), `event ${e.type}`);
    assert.match(html, /<pre class="spec">[\s\S]*apiVersion: steadystate\.dev\/v1alpha1[\s\S]*<\/pre>/);
    assertSafeMarkup(html);
  });

  it('a halted run: the halt box, the halt marker on every metric chart and the guardrail chart, the planned rest of the window', () => {
    const f = haltedRun(BASE);
    const html = render(f);
    assert.match(html, /<span class="state">HALTED<\/span>/);
    assert.match(html, /class="halt-box"/);
    assert.equal(classCount(html, 'halt-marker'), 3, 'two metric charts and the halting guardrail');
    assert.equal(classCount(html, 'planned-window'), 3);
    assert.ok(classCount(html, 'breach') >= 1, 'the breaching evaluations are marked');
    assert.match(html, /halted the run/);
    // The halt is 38–40 s into the window; the marker's label says so.
    assert.match(html, /halt \+4\d s|halt \+3\d s/);
    assertSafeMarkup(html);
  });

  it('the halt marker sits at the halt time on the shared axis, right of the window start and at the window end', () => {
    const f = haltedRun(BASE);
    const html = render(f);
    const xs = tagsOf(html).filter((t) => /class="halt-marker"/.test(t.attrs)).map((t) => Number(/data-x="([^"]*)"/.exec(t.attrs)?.[1]));
    const windowRects = tagsOf(html).filter((t) => /class="fault-window"/.test(t.attrs));
    const first = windowRects[0]?.attrs ?? '';
    const wx = Number(/\sx="([^"]*)"/.exec(first)?.[1]);
    const ww = Number(/\swidth="([^"]*)"/.exec(first)?.[1]);
    assert.equal(new Set(xs).size, 1, `same x on every chart: ${xs.join(', ')}`);
    const x = xs[0] as number;
    // The halt is decided 200 ms after the breach; the window closes 200 ms later: within a pixel or two of its end.
    assert.ok(x > wx && Math.abs(x - (wx + ww)) < 3, `marker ${x}, window ${wx}..${wx + ww}`);
  });

  it('a passed run: no halt, the tolerance limits drawn, pills for each metric', () => {
    const f = passedRun(BASE);
    const html = render(f);
    assert.match(html, /<span class="state">PASSED<\/span>/);
    assert.equal(classCount(html, 'halt-marker'), 0);
    assert.ok(!html.includes('class="halt-box"'));
    // One pill above each chart, one in each table row.
    assert.equal(count(html, /class="pill tone-good">pass</g), 4);
    // An A/A run (noFault: true): the experiment group had no fault.
    assert.match(html, /experiment \(no fault\)/);
    assert.ok(!html.includes('fault injected'));
    assertSafeMarkup(html);
  });

  it('an effect on a base near zero shows the values, not a percentage', () => {
    const f = failedRun(BASE);
    const record: RunRecord = structuredClone(f.record);
    const m = record.metrics.find((x) => x.name === 'p95-latency');
    assert.ok(m);
    Object.assign(m, { effect: 0.4544, relativeEffect: 81.14, ci: [0.41, 0.5] as [number, number] });
    m.control.median = 0.0056;
    m.control.mean = 0.0056;
    m.experiment.median = 0.46;
    const html = render(f, record);
    assert.match(html, /<td class="num effect">5\.6 ms → 460 ms \(\+454 ms\)<\/td>/);
    assert.match(html, /<td class="num ci">\[\+410 ms, \+500 ms\]<\/td>/);
    assert.ok(!/8114%|8110%/.test(html.replace(/<figcaption[\s\S]*?<\/figcaption>|<table class="timeline">[\s\S]*?<\/table>|<table class="checks">[\s\S]*?<\/table>/g, '')));
  });

  it('SLO and compare guardrails are charted as what they record: a burn rate, and experiment ÷ control with its tolerance', () => {
    const f = haltedRun(BASE);
    const spec = loadExperiment(
      f.specYaml.replace(
        '  analysis:',
        [
          '    - name: error-budget',
          '      slo: { good: \'sum(rate(http_requests_total{code!~"5.."}[$window]))\', total: \'sum(rate(http_requests_total[$window]))\', objective: 99.9% }',
          '      burnRate: 14.4',
          '    - name: sps-drop',
          '      compare: checkout-sps',
          '  analysis:',
        ].join('\n'),
      ),
    );
    const record: RunRecord = structuredClone(f.record);
    const times = record.guardrails.filter((o) => o.guardrail === 'checkout-errors').map((o) => o.at);
    times.forEach((at, i) => {
      record.guardrails.push({ guardrail: 'error-budget', at, value: 0.5 + i * 1.5, breached: false });
      record.guardrails.push({ guardrail: 'sps-drop', at, value: 1 - i * 0.04, breached: false });
    });
    const html = renderHtmlReport(record, { spec, generatedAt: new Date(BASE) });
    assert.match(html, /burn rate \(error ratio ÷ error budget\)/);
    assert.match(html, /class="y-title"[^>]*>burn rate \(×\)</);
    assert.match(html, /burn-rate limit 14\.4×/);
    assert.match(html, /experiment ÷ control, checkout-sps \(running mean\)/);
    assert.match(html, /class="y-title"[^>]*>experiment ÷ control \(×\)</);
    // checkout-sps: direction decrease, tolerance 5% → one limit at 0.95×, and the no-difference line at 1×.
    assert.match(html, /tolerance −5% \(0\.95×\)/);
    assert.ok(!html.includes('tolerance +5%'));
    assert.match(html, /no difference 1×/);
    assert.match(html, /anytime-valid test of &quot;no harm beyond tolerance&quot; reaches p ≤ 0\.05/);
    assert.ok(!html.includes('observed value'));
    assertSafeMarkup(html);
  });

  it('is self-contained: CSP meta, inline style, no script, no external resource', () => {
    const html = render(haltedRun(BASE));
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:;/);
    assert.ok(!/<script|<img|<iframe|@import|url\(/i.test(html.replace(/<pre class="spec">[\s\S]*?<\/pre>/, '')));
    // One link element: the empty data: icon, so a browser does not fetch /favicon.ico.
    assert.deepEqual(html.match(/<link[^>]*>/g), ['<link rel="icon" href="data:,">']);
    // The only absolute URL outside the spec text is the SVG namespace.
    const urls = html.replace(/<pre class="spec">[\s\S]*?<\/pre>/, '').match(/https?:\/\/[^\s"'<]+/g) ?? [];
    assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg']);
  });

  it('hostile strings from the spec and the run render as text everywhere', () => {
    const f = hostileRun(BASE);
    const hostile = `<script>alert("x")</script><img src=x onerror=alert(4)>`;
    const record: RunRecord = structuredClone(f.record);
    record.reason = `reason ${hostile}`;
    record.id = `id-${hostile}`;
    record.events.push({ at: new Date(BASE + 1).toISOString(), type: `type-${hostile}`, message: `message ${hostile}` });
    for (const m of record.metrics) m.reason = `${m.reason} ${hostile}`;
    for (const s of record.series) s.query = `${s.query} ${hostile}`;
    if (record.halt) record.halt.reason = `halt ${hostile}`;
    const spec = loadExperiment(f.specYaml) as unknown as { metadata: { labels: Record<string, string> }; spec: { steadyState: { query: string }[] } };
    spec.metadata.labels = { [hostile]: hostile };
    const steady = spec.spec.steadyState[0];
    if (steady) steady.query = `${steady.query} ${hostile}`;
    const html = renderHtmlReport(record, { spec, generatedAt: new Date(BASE) });
    for (const s of [HOSTILE_EXPERIMENT, HOSTILE_METRIC, HOSTILE_GUARDRAIL, hostile]) {
      assert.ok(!html.includes(s), `raw ${s}`);
    }
    assert.ok(html.includes(`<h1>${escapeHtml(HOSTILE_EXPERIMENT)}</h1>`));
    assert.ok(html.includes(escapeHtml(HOSTILE_METRIC)));
    assert.ok(html.includes(escapeHtml(HOSTILE_GUARDRAIL)));
    assert.ok(html.includes(escapeHtml(`message ${hostile}`)));
    assertSafeMarkup(html);
  });

  it('a run with nothing yet (no window, metrics, series, events) renders with notes and no NaN', () => {
    const record: RunRecord = {
      id: 'r-empty',
      experiment: 'exp',
      state: 'errored',
      verdict: null,
      reason: 'preflight: source unreachable',
      startedAt: new Date(BASE).toISOString(),
      endedAt: new Date(BASE + 1_500).toISOString(),
      metrics: [],
      series: [],
      guardrails: [],
      events: [],
    };
    const html = renderHtmlReport(record);
    assert.match(html, /<span class="state">ERRORED<\/span>/);
    assert.match(html, /no verdict/);
    assert.match(html, /never opened/);
    assert.match(html, /No metric was analysed/);
    assert.match(html, /No events were recorded/);
    assert.match(html, /spec of <code>exp<\/code> is not available/);
    assert.ok(!/NaN|Infinity|undefined/.test(html));
    assertSafeMarkup(html);
  });

  it('metrics with no samples or one sample each still chart without NaN', () => {
    const f = failedRun(BASE);
    const record: RunRecord = structuredClone(f.record);
    record.series = [
      { metric: 'checkout-sps', group: 'control', query: 'q', samples: [] },
      { metric: 'checkout-sps', group: 'experiment', query: 'q', samples: [] },
      { metric: 'p95-latency', group: 'control', query: 'q', samples: [{ t: BASE + 5_000, v: 0.2 }] },
      { metric: 'p95-latency', group: 'experiment', query: 'q', samples: [{ t: BASE + 5_000, v: NaN }] },
    ];
    const html = render(f, record);
    assert.match(html, /no samples were collected/);
    assert.equal(classCount(html, 'series-point'), 1);
    assert.ok(!/NaN|Infinity/.test(html));
    assertSafeMarkup(html);
  });

  it('a stored run without its guardrail evaluations charts the ones the halt kept', () => {
    const f = haltedRun(BASE);
    const record: RunRecord = { ...structuredClone(f.record), guardrails: [] };
    const html = render(f, record);
    assert.equal(classCount(html, 'series-value', 'path'), 1);
    assert.match(html, /Only the last \d+ evaluations before the halt/);
    assert.equal(classCount(html, 'halt-marker'), 3);
  });

  it('a halt that failed to close the window says the fault may still be active', () => {
    const f = haltedRun(BASE);
    const record: RunRecord = structuredClone(f.record);
    record.state = 'halt_failed';
    if (record.window) delete record.window.closedAt;
    const html = render(f, record);
    assert.match(html, /<span class="state">HALT_FAILED<\/span>/);
    assert.match(html, /class="critical-box"/);
    assert.match(html, /NOT CLOSED/);
    assert.match(html, /banner tone-critical/);
  });

  it('writeRunReports writes the HTML next to the JSON and Markdown, redacted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'steadystate-html-'));
    try {
      const f = haltedRun(BASE);
      const spec = loadExperiment(f.specYaml.replace('url: "http://127.0.0.1:9"', 'url: "http://user:hunter2@127.0.0.1:9"'));
      const written = await writeRunReports(dir, f.record, spec);
      assert.equal(written.html, join(dir, `${f.record.id}.html`));
      const html = await readFile(written.html, 'utf8');
      assert.match(html, /<span class="state">HALTED<\/span>/);
      assert.ok(!html.includes('hunter2'), 'secrets are redacted in the spec');
      assert.match(html, /user:\[redacted\]@127\.0\.0\.1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

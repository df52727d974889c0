/**
 * The pages in a real browser: Debian's chromium driven by playwright-core
 * against the in-memory service listening on loopback, with a passed, a
 * failed, a halted and a hostile run in its store. Checks that the pages load
 * without console errors or requests elsewhere, that the charts are drawn
 * (paths with points for both groups, the shaded window, the halt marker),
 * and that an experiment named `<img src=x onerror=alert(1)>` stays text.
 * Screenshots go to reports/screenshots/ (a CI artifact, gitignored).
 *
 * Skips loudly without chromium (/usr/bin/chromium, $STEADYSTATE_CHROMIUM or
 * on PATH) or playwright-core; under CI=true or STEADYSTATE_REQUIRE_CHROMIUM=1
 * that is a failure instead.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { HttpHarness } from '../http/harness.ts';
import { insertRunFixture } from '../fixtures/runs/insert.ts';
import { failedRun, haltedRun, HOSTILE_EXPERIMENT, HOSTILE_METRIC, hostileRun, passedRun } from '../fixtures/runs/runs.ts';
import { checkBinary, missingPrerequisite } from '../helpers/skip.ts';
import { CHROMIUM_ARGS, logInWithForm, startPageHarness } from './page-harness.ts';

const SCREENSHOTS = fileURLToPath(new URL('../../reports/screenshots/', import.meta.url));

// Debian's path by default; STEADYSTATE_CHROMIUM points elsewhere (another distribution, a pinned build).
const chromiumBinary = checkBinary('chromium', process.env.STEADYSTATE_CHROMIUM ?? '/usr/bin/chromium');
const playwright = chromiumBinary.skip ? undefined : await import('playwright-core').catch((err: unknown) => err as Error);
// Same switch as the binary: STEADYSTATE_REQUIRE_CHROMIUM=1 means "the browser test must run".
const skip: string | false =
  chromiumBinary.skip || (playwright instanceof Error || playwright === undefined ? missingPrerequisite('chromium', `playwright-core cannot be loaded: ${String(playwright)}`) : false);

interface ChartFacts {
  title: string;
  control: number;
  experiment: number;
  value: number;
  window: { left: number; right: number; width: number; height: number } | null;
  halt: { x: number; height: number } | null;
  rendered: number;
}

const CHART_FACTS = `Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
  function points(cls) {
    return Array.from(svg.querySelectorAll('path.series-' + cls)).reduce(function (n, p) {
      return n + ((p.getAttribute('d') || '').match(/[ML]/g) || []).length;
    }, 0);
  }
  var w = svg.querySelector('rect.fault-window');
  var wb = w ? w.getBoundingClientRect() : null;
  var h = svg.querySelector('g.halt-marker line');
  var hb = h ? h.getBoundingClientRect() : null;
  var t = svg.querySelector('title');
  return {
    title: t ? t.textContent : '',
    control: points('control'),
    experiment: points('experiment'),
    value: points('value'),
    window: wb ? { left: wb.left, right: wb.right, width: wb.width, height: wb.height } : null,
    halt: hb ? { x: hb.left + hb.width / 2, height: hb.height } : null,
    rendered: svg.getBoundingClientRect().width,
  };
})`;

/** What a page did that it should not have. */
interface PageTrouble {
  consoleErrors: string[];
  pageErrors: string[];
  dialogs: string[];
  foreignRequests: string[];
  failedRequests: string[];
}

describe('reports in a browser (chromium)', { skip }, () => {
  let h: HttpHarness;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    if (playwright instanceof Error || playwright === undefined) return;
    h = await startPageHarness();
    await insertRunFixture(h.store, 'run-passed', passedRun);
    await insertRunFixture(h.store, 'run-failed', failedRun);
    await insertRunFixture(h.store, 'run-halted', haltedRun);
    await insertRunFixture(h.store, 'run-hostile', hostileRun);
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    browser = await playwright.chromium.launch({ executablePath: chromiumBinary.path, args: CHROMIUM_ARGS, timeout: 60_000 });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    // The browser authenticates the way a person would: the login form opens a session.
    await logInWithForm(context, base, h.tokens.viewer);
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await h?.close();
  });

  /** Open a page and record everything it does wrong. */
  async function open(path: string): Promise<{ page: Page; trouble: PageTrouble }> {
    const page = await context.newPage();
    const trouble: PageTrouble = { consoleErrors: [], pageErrors: [], dialogs: [], foreignRequests: [], failedRequests: [] };
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') trouble.consoleErrors.push(`${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => trouble.pageErrors.push(err.message));
    page.on('dialog', (dialog) => {
      trouble.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('request', (req) => {
      if (!req.url().startsWith(`${base}/`) && !req.url().startsWith('data:')) trouble.foreignRequests.push(req.url());
    });
    page.on('requestfailed', (req) => trouble.failedRequests.push(`${req.url()}: ${req.failure()?.errorText ?? ''}`));
    const response = await page.goto(`${base}${path}`, { waitUntil: 'load' });
    assert.equal(response?.status(), 200, `${path}: ${await response?.text()}`);
    return { page, trouble };
  }

  function assertClean(path: string, trouble: PageTrouble): void {
    assert.deepEqual(trouble, { consoleErrors: [], pageErrors: [], dialogs: [], foreignRequests: [], failedRequests: [] }, `${path} misbehaved`);
  }

  /**
   * Per chart: points per series path, the window's box, and the halt marker's position.
   * Kept as source text: tsx compiles test functions with name helpers (`__name`) that
   * do not exist in the page.
   */
  async function charts(page: Page): Promise<ChartFacts[]> {
    return page.evaluate<ChartFacts[]>(CHART_FACTS);
  }

  it('the index page lists every run with links to its reports, and renders the hostile name as text', async () => {
    const { page, trouble } = await open('/');
    const rows = await page.$$eval('table.runs tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-run')));
    assert.deepEqual(rows, ['run-hostile', 'run-halted', 'run-failed', 'run-passed']);
    const links = await page.$$eval('tr[data-run="run-halted"] a', (as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(links, ['/runs/run-halted', '/api/v1/runs/run-halted/report.html', '/api/v1/runs/run-halted/report.md', '/api/v1/runs/run-halted/report.json']);
    const hostileName = await page.textContent('tr[data-run="run-hostile"] td:nth-child(3) strong');
    assert.equal(hostileName, HOSTILE_EXPERIMENT);
    assert.equal(await page.locator('img').count(), 0, 'no img element was created');
    await page.screenshot({ path: `${SCREENSHOTS}index.png`, fullPage: true });
    // Following the link works with the cookie alone.
    await Promise.all([page.waitForURL(/report\.html$/), page.click('tr[data-run="run-failed"] a:text("HTML")')]);
    assert.equal(await page.textContent('.banner .state'), 'FAILED');
    assertClean('/', trouble);
    await page.close();
  });

  /** Per chart, as the browser laid it out: the y axis title, the tick labels (bottom to top) and the legend. */
  async function yAxes(page: Page): Promise<{ title: string; ticks: { text: string; y: number }[]; legend: string }[]> {
    return page.evaluate(`Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
      var t = svg.querySelector('text.y-title');
      return {
        title: t ? t.textContent : '',
        ticks: Array.from(svg.querySelectorAll('text.y-tick')).map(function (el) { var b = el.getBoundingClientRect(); return { text: el.textContent, y: b.top + b.height / 2 }; }),
        legend: Array.from(svg.querySelectorAll('g.legend-item')).map(function (g) { return g.textContent; }).join(' | '),
      };
    })`);
  }

  it('a halted run: both groups drawn on every metric chart, the window shaded, the halt marked at the window end', async () => {
    const { page, trouble } = await open('/api/v1/runs/run-halted/report.html');
    assert.equal(await page.textContent('.banner .state'), 'HALTED');
    const all = await charts(page);
    const metrics = all.filter((c) => c.title.includes('control vs experiment'));
    assert.equal(metrics.length, 2);
    for (const c of metrics) {
      assert.ok(c.rendered > 600, `chart is drawn at a readable width (${c.rendered}px)`);
      assert.ok(c.control >= 30 && c.experiment >= 30, `${c.title}: ${c.control} control and ${c.experiment} experiment points`);
      assert.ok(c.window && c.window.width > 50 && c.window.height > 100, `${c.title}: shaded window ${JSON.stringify(c.window)}`);
      assert.ok(c.halt && c.halt.height > 100, `${c.title}: halt marker`);
      // The halt closes the window: the marker sits at its right edge.
      assert.ok(Math.abs((c.halt?.x ?? 0) - (c.window?.right ?? 0)) < 4, `${c.title}: halt at ${c.halt?.x}, window ends at ${c.window?.right}`);
    }
    const guardrail = all.find((c) => c.title.startsWith('guardrail'));
    assert.ok(guardrail && guardrail.value >= 3 && guardrail.halt, 'the halting guardrail is charted with the halt');
    assert.equal(await page.locator('circle.breach').count() > 0, true);
    await page.screenshot({ path: `${SCREENSHOTS}report-halted.png`, fullPage: true });
    await page.locator('figure').first().screenshot({ path: `${SCREENSHOTS}report-halted-chart.png` });
    assertClean('report-halted', trouble);
    await page.close();
  });

  for (const [id, state] of [['run-failed', 'FAILED'], ['run-passed', 'PASSED']] as const) {
    it(`a ${state.toLowerCase()} run: charts drawn for the whole window, no halt marker`, async () => {
      const { page, trouble } = await open(`/api/v1/runs/${id}/report.html`);
      assert.equal(await page.textContent('.banner .state'), state);
      const metrics = (await charts(page)).filter((c) => c.title.includes('control vs experiment'));
      assert.equal(metrics.length, 2);
      for (const c of metrics) {
        assert.ok(c.control >= 100 && c.experiment >= 100, `${c.title}: ${c.control}/${c.experiment} points over a 2 min window`);
        assert.ok(c.window && c.window.width > 500, `${c.title}: window spans the chart`);
        assert.equal(c.halt, null);
      }
      assert.equal(await page.locator('table.metrics tbody tr').count(), 2);
      await page.screenshot({ path: `${SCREENSHOTS}report-${state.toLowerCase()}.png`, fullPage: true });
      assertClean(id, trouble);
      await page.close();
    });
  }

  it('axes and numbers in the metric\'s unit: round y ticks labelled alike, ms for a latency, % for an error ratio', async () => {
    const { page, trouble } = await open('/api/v1/runs/run-failed/report.html');
    // A run read back from the store keeps no guardrail evaluations unless it halted: the halted run has that chart.
    const { page: haltedPage, trouble: haltedTrouble } = await open('/api/v1/runs/run-halted/report.html');
    const axes = [...(await yAxes(page)), ...(await yAxes(haltedPage)).slice(2)];
    assert.deepEqual(axes.map((a) => a.title), ['checkout-sps (/s)', 'p95-latency (ms)', 'query value (%)']);
    for (const axis of axes) {
      const labels = axis.ticks.map((t) => t.text);
      assert.ok(labels.length >= 3, `${axis.title}: ${labels.join(', ')}`);
      // One number of decimals per axis, round even steps (1, 2, 2.5 or 5 × 10^k), drawn bottom to top at even spacing.
      assert.equal(new Set(labels.map((l) => (l.split('.')[1] ?? '').length)).size, 1, `${axis.title}: labels alike: ${labels.join(', ')}`);
      const values = labels.map((l) => Number(l.replace('−', '-')));
      const step = (values[1] as number) - (values[0] as number);
      const mantissa = Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6));
      assert.ok([1, 2, 2.5, 5].includes(mantissa), `${axis.title}: round step ${step} (${labels.join(', ')})`);
      const ys = axis.ticks.map((t) => t.y);
      for (let i = 1; i < values.length; i++) {
        assert.ok(Math.abs((values[i] as number) - (values[i - 1] as number) - step) < 1e-9, `${axis.title}: even steps ${labels.join(', ')}`);
        assert.ok((ys[i] as number) < (ys[i - 1] as number), `${axis.title}: larger values higher up`);
        assert.ok(Math.abs((ys[i] as number) - (ys[i - 1] as number) - ((ys[1] as number) - (ys[0] as number))) < 1.5, `${axis.title}: evenly spaced`);
      }
    }
    // The p95 axis is in milliseconds: the fixture's latencies are 0.18–0.5 s.
    const p95 = axes[1]?.ticks.map((t) => Number(t.text)) ?? [];
    assert.ok(Math.max(...p95) >= 100 && Math.max(...p95) < 1000, `ms ticks: ${p95.join(', ')}`);
    assert.match(axes[1]?.legend ?? '', /experiment \(fault injected\)/);
    assert.match(axes[1]?.legend ?? '', /control median \d+ ms/);
    assert.match(axes[1]?.legend ?? '', /tolerance limit \+20% \(\d+ ms\)/);
    assert.match(axes[2]?.legend ?? '', /query value/);
    assert.match(axes[2]?.legend ?? '', /threshold max 2%/);
    // The numbers table, as a reader sees it.
    const row = await page.evaluate<string[][]>(`Array.from(document.querySelectorAll('table.metrics tbody tr')).map(function (tr) {
      return Array.from(tr.querySelectorAll('td')).map(function (td) { return (td.textContent || '').trim(); });
    })`);
    const latency = row.find((r) => r[0] === 'p95-latency') ?? [];
    assert.match(latency[2] ?? '', /^\d+ ms \(\d+\)$/);
    assert.match(latency[4] ?? '', /^\+\d+ ms \(\+\d+(\.\d)?%\)$/);
    assert.match(latency[7] ?? '', /^±20% of control = ±\d+(\.\d)? ms$/);
    const sps = row.find((r) => r[0] === 'checkout-sps') ?? [];
    assert.match(sps[2] ?? '', /^\d+(\.\d+)?\/s \(\d+\)$/);
    await page.locator('figure').nth(1).screenshot({ path: `${SCREENSHOTS}report-units-chart.png` });
    await haltedPage.locator('figure').nth(2).screenshot({ path: `${SCREENSHOTS}report-units-guardrail.png` });
    assertClean('report-units', trouble);
    assertClean('report-units-halted', haltedTrouble);
    await page.close();
    await haltedPage.close();
  });

  it('an A/A run labels the experiment group "no fault"', async () => {
    const { page, trouble } = await open('/api/v1/runs/run-passed/report.html');
    const legends = await page.$$eval('svg.chart g.legend-item', (gs) => gs.map((g) => g.textContent ?? ''));
    assert.ok(legends.includes('experiment (no fault)'), legends.join(' | '));
    assert.ok(!legends.some((l) => l.includes('fault injected')));
    assertClean('report-aa', trouble);
    await page.close();
  });

  it('an experiment named <img src=x onerror=alert(1)> renders as text: no img element, no dialog', async () => {
    const { page, trouble } = await open('/api/v1/runs/run-hostile/report.html');
    assert.equal(await page.textContent('h1'), HOSTILE_EXPERIMENT);
    assert.equal(await page.textContent('figure h3'), HOSTILE_METRIC);
    assert.equal(await page.locator('img').count(), 0);
    assert.equal(await page.locator('svg [onload], [onerror], [onmouseover]').count(), 0);
    // Give any injected handler the chance to fire before checking for dialogs.
    await page.mouse.move(400, 300);
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => resolve(null)))');
    await page.screenshot({ path: `${SCREENSHOTS}report-hostile.png`, fullPage: false });
    assertClean('report-hostile', trouble);
    await page.close();
  });
});

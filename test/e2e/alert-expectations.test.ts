/**
 * Alert expectations and annotations end to end, for real: a sample shop
 * behind the fault proxy, a real Prometheus scraping it every second and
 * evaluating a rule file every second — a multiwindow burn-rate alert (10 s
 * and 3 s windows, 14.4× a 99.9% SLO) and an alert on the control group that
 * must never fire — sending to an Alertmanager-shaped server, and
 * `steadystate run` (the CLI, spawned) with annotations going to Grafana- and
 * Datadog-shaped servers:
 *   a three-step error ladder 0.1% → 90% → 99% on the experiment group
 *     (issue #17's done-when): the good-answer rate tolerates 0.1% and drops
 *     at 90%, so the ladder stops after step 2 and the window closes (the
 *     proxy serves no fault afterwards); the fast burn stays quiet on step 1,
 *     fires on step 2 (delay named from that step), resolves after the window,
 *     reaches Alertmanager; the control alert stays quiet → alerts: pass,
 *     beside the metrics' verdict (failed); Grafana and Datadog get the open,
 *     each step and the close
 *   no fault, the fast burn expected within 4 s, onFail: fail → alerts: fail, run failed (exit 1)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startSampleShop, type SampleShop } from '../../src/demo/sample-shop.ts';
import { startFaultProxy, type FaultProxy } from '../../src/proxy/fault-proxy.ts';
import { AlertmanagerServer } from '../helpers/alertmanager-server.ts';
import { ContractServer } from '../helpers/contract-server.ts';
import { runLoad, type LoadSummary } from '../helpers/http-load.ts';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus.ts';
import { checkBinary } from '../helpers/skip.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const prometheus = checkBinary('prometheus', '/usr/bin/prometheus');

const AM_TOKEN = 'am-e2e-token-5f1c2a9d';
const GRAFANA_TOKEN = 'glsa_e2e_token_7b3e91c4';
const DD_KEY = 'dd-e2e-key-0c8f4a12b7';

const ratio = (w: string): string =>
  `sum(rate(steadystate_proxy_requests_total{group="experiment",code=~"5.."}[${w}])) / sum(rate(steadystate_proxy_requests_total{group="experiment"}[${w}]))`;
const RULES = `groups:
  - name: slo
    interval: 1s
    rules:
      - alert: ErrorBudgetBurnFast
        expr: (${ratio('10s')} > (14.4 * 0.001)) and (${ratio('3s')} > (14.4 * 0.001))
        for: 1s
        labels: { severity: page }
      - alert: ControlGroupErrors
        expr: sum(rate(steadystate_proxy_requests_total{group="control",code=~"5.."}[5s])) > 0
        labels: { severity: page }
`;

function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('alert expectations on a real Prometheus with a rule file', { skip: prometheus.skip, timeout: 120_000 }, () => {
  let shop: SampleShop;
  let proxy: FaultProxy;
  let prom: RunningPrometheus;
  let dir: string;
  const am = new AlertmanagerServer();
  const grafana = new ContractServer().route('POST', '/api/annotations', () => ({ status: 200, body: { message: 'Annotation added', id: 1 } }));
  const datadog = new ContractServer().route('POST', '/api/v1/events', () => ({ status: 202, body: { status: 'ok', event: { id: 1 } } }));
  const load = new AbortController();
  let loadDone: Promise<LoadSummary>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'steadystate-alerts-e2e-'));
    await Promise.all([am.start(), grafana.start(), datadog.start()]);
    shop = await startSampleShop();
    proxy = await startFaultProxy({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: shop.url,
      controlPercent: 50,
      experimentPercent: 50,
      stickyHeader: 'x-user-id',
    });
    prom = await startPrometheus({
      targets: [new URL(proxy.adminUrl).host],
      scrapeInterval: '1s',
      binary: prometheus.path,
      ruleFiles: { 'slo.rules.yml': RULES },
      alertmanagers: [new URL(am.url).host],
    });
    loadDone = runLoad({
      url: proxy.listenUrl,
      paths: [{ path: '/browse', weight: 1 }],
      ratePerSecond: 150,
      users: 100_000,
      stickyHeader: 'x-user-id',
      signal: load.signal,
      durationMs: 100_000,
    });
    await prom.waitForTargetsUp(20_000);
    await prom.waitForSeries('count_over_time(steadystate_proxy_requests_total{group="control"}[10s]) >= 6', 30_000);
  });

  after(async () => {
    load.abort();
    await loadDone?.catch(() => undefined);
    await prom?.stop();
    await proxy?.close();
    await shop?.close();
    await Promise.all([am.stop(), grafana.stop(), datadog.stop()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const env = (): NodeJS.ProcessEnv => ({
    STEADYSTATE_PROGRESS: '0',
    STEADYSTATE_SECRET_ENV_ALLOW: 'E2E_AM_TOKEN',
    E2E_AM_TOKEN: AM_TOKEN,
    STEADYSTATE_GRAFANA_URL: grafana.url,
    STEADYSTATE_GRAFANA_TOKEN: 'env:E2E_GRAFANA_TOKEN',
    E2E_GRAFANA_TOKEN: GRAFANA_TOKEN,
    STEADYSTATE_DATADOG_EVENTS: 'on',
    STEADYSTATE_DATADOG_EVENTS_URL: datadog.url,
    STEADYSTATE_DATADOG_API_KEY: 'env:E2E_DD_KEY',
    E2E_DD_KEY: DD_KEY,
  });

  /** `fault`: the proxy's params, or a ladder (`{ steps, stopAt }`); `duration` is left out for a ladder. */
  async function run(name: string, fault: object, expect: object, duration?: string): Promise<{ code: number | null; run: any; out: string; md: string; html: string }> {
    const ladder = 'steps' in fault;
    const spec = {
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name, service: 'shop', environment: 'test' },
      spec: {
        source: { kind: 'prometheus', url: prom.url, step: '1s' },
        // Requests answered without a 5xx: injected errors take them away.
        steadyState: [{ name: 'ok-rps', query: 'sum(rate(steadystate_proxy_requests_total{group="$group",code!~"5.."}[2s]))', direction: 'decrease', tolerance: '50%', minSamples: 5 }],
        fault: ladder
          ? { injector: 'http-proxy', params: { admin: proxy.adminUrl }, ...fault }
          : { injector: 'http-proxy', params: { admin: proxy.adminUrl, ...fault }, duration },
        analysis: { interval: '1s', minSamples: 5, settle: '1s' },
        expect,
      },
    };
    const file = join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(spec));
    const result = await runCli(['run', file, '--json', '--report-dir', join(dir, 'reports')], env());
    let parsed: any;
    try {
      parsed = JSON.parse(result.stdout);
    } catch {
      assert.fail(`stdout is not one JSON object (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
    }
    const r = parsed.run;
    const md = await readFile(join(dir, 'reports', `${r.id}.md`), 'utf8');
    const html = await readFile(join(dir, 'reports', `${r.id}.html`), 'utf8');
    return { code: result.code, run: r, out: result.stdout + result.stderr, md, html };
  }

  test('a three-step error ladder 0.1% → 90% → 99%: stops at step 2, names 0.1% as tolerated; the fast burn is quiet on step 1 and fires on step 2 (delay named), resolves, reaches Alertmanager; the control alert stays quiet', async () => {
    const { code, run: r, out, md, html } = await run(
      'burn',
      // 0.1% is far below the rule's 1.44% (14.4 × 0.1%): 0.2 expected errors in a 3 s window of ~225 requests.
      // Step 1 is held 20 s: about nine independent 2 s windows, so that its interval (Bonferroni over
      // three steps) can rule out a 50% drop on a loaded machine (with four windows, 12 s, a run on a loaded machine gave
      // −720%…+150%). A 90% drop needs less: step 2 is held 12 s.
      { steps: [{ errorRate: '0.1%', duration: '20s' }, { errorRate: '90%', duration: '12s' }, { errorRate: '99%', duration: '8s' }], stopAt: 'fail' },
      {
        alerts: [
          { name: 'ErrorBudgetBurnFast', labels: { severity: 'page' }, within: '6s', resolveWithin: '20s', steps: [2] },
          { name: 'ControlGroupErrors', never: true },
        ],
        alertmanager: { url: am.url, headers: { Authorization: { fromEnv: 'E2E_AM_TOKEN' } } },
        interval: '1s',
      },
    );
    const detail = `${JSON.stringify({ alerts: r.alerts, ladder: r.ladder, metrics: r.metrics }, null, 2)}\n${out}\n${prom.logs().slice(-2000)}`;
    assert.ok(r.alerts, `no alerts in the --json summary: ${detail}`);
    assert.equal(r.alerts.verdict, 'pass', detail);
    // The ladder: step 1 tolerated, step 2 harmed the KPI (90% fewer good answers), step 3 never ran.
    assert.equal(r.state, 'failed', detail);
    assert.equal(code, 1);
    assert.deepEqual(r.ladder.steps.map((s: any) => [s.verdict, s.startedAt !== null]), [['pass', true], ['fail', true], [null, false]], detail);
    assert.equal(r.ladder.stopped?.by, 'fail', detail);
    assert.equal(r.ladder.doseResponse.highestTolerated?.label, 'errorRate=0.1%', detail);
    assert.equal(r.ladder.doseResponse.firstHarmed?.label, 'errorRate=90%', detail);
    assert.equal(r.ladder.steps[1].endedAt, r.window.closedAt, 'the window closed when step 2 ended');
    // The proxy serves no fault afterwards: its window is closed and experiment users get no 503.
    const view = (await (await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(r.id)}`)).json()) as { state: string };
    assert.equal(view.state, 'closed');
    const afterwards = await runLoad({ url: proxy.listenUrl, paths: [{ path: '/browse', weight: 1 }], ratePerSecond: 100, durationMs: 1_000, users: 100_000, stickyHeader: 'x-user-id' });
    assert.ok(afterwards.sent >= 50, `sent ${afterwards.sent}`);
    assert.equal(afterwards.byStatus['503'] ?? 0, 0, JSON.stringify(afterwards.byStatus));

    const fast = r.alerts.alerts.find((a: any) => a.name === 'ErrorBudgetBurnFast');
    assert.equal(fast.verdict, 'pass', detail);
    assert.deepEqual(fast.steps.map((s: any) => [s.index, s.judged, s.verdict]), [[0, 'quiet', 'pass'], [1, 'fire', 'pass']], detail);
    // The delay is counted from step 2's start, and it fired after step 2 began.
    assert.ok(fast.delayMs > 0 && fast.delayMs <= 6_000, `delay ${fast.delayMs}`);
    assert.ok(Date.parse(fast.firedAt) > Date.parse(r.ladder.steps[1].startedAt), detail);
    assert.match(fast.reason, /after step 2 began; quiet before step 2/);
    assert.ok(fast.resolvedAt && Date.parse(fast.resolvedAt) >= Date.parse(r.window.closedAt), detail);
    assert.ok(fast.notifiedAt, `never seen in Alertmanager: ${detail}`);
    const quiet = r.alerts.alerts.find((a: any) => a.name === 'ControlGroupErrors');
    assert.equal(quiet.verdict, 'pass', detail);
    assert.equal(quiet.firedAt, null);
    // Prometheus really sent the alert to the Alertmanager-shaped server.
    assert.equal(am.posted('ErrorBudgetBurnFast')?.labels.severity, 'page');
    assert.equal(am.posted('ControlGroupErrors'), undefined);

    // The reports name the highest level tolerated, the step the alert fired on and its delay.
    const delay = `${(fast.delayMs / 1000).toFixed(1)}s`;
    const mdText = md.replaceAll('\\', ''); // Markdown escapes . ( ) -
    assert.match(mdText, /Highest level tolerated: errorRate=0\.1% \(step 1\)/);
    assert.match(mdText, /fired [0-9.]+s after step 2 began/);
    assert.match(md, /## Alerts: ✅ pass/);
    assert.ok(md.includes(`| ${delay} |`), `markdown lacks the delay ${delay}:\n${md}`);
    assert.match(html, /alerts: pass/);
    assert.ok(html.includes(delay));

    // What we asked Alertmanager: its v2 list, active and unsilenced, filtered to our names, with the referenced header.
    const gets = am.sent('GET', '/api/v2/alerts');
    assert.ok(gets.length >= 3, `${gets.length} looks at Alertmanager`);
    for (const g of gets) {
      assert.equal(g.headers.authorization, AM_TOKEN);
      assert.deepEqual(g.query.getAll('filter'), ['alertname=~"ErrorBudgetBurnFast|ControlGroupErrors"']);
      assert.equal(g.query.get('silenced'), 'false');
      assert.equal(g.query.get('inhibited'), 'false');
      assert.equal(g.query.get('active'), 'true');
    }

    // Annotations: the window's opening (a point), each step that ran (points, tagged step:N from 1), and
    // the close (a region), tagged with the experiment and the run.
    const notes = grafana.sent('POST', '/api/annotations').map((q) => ({ q, body: JSON.parse(q.body) }));
    const mine = notes.filter((n) => n.body.tags.includes(`run:${r.id}`));
    const byEvent = (e: string) => mine.filter((n) => n.body.tags.includes(`event:${e}`));
    assert.equal(byEvent('window.opened').length, 1, JSON.stringify(notes.map((n) => n.body)));
    assert.deepEqual(byEvent('step.started').map((n) => n.body.tags.find((t: string) => t.startsWith('step:'))).sort(), ['step:1', 'step:2']);
    assert.equal(mine.length, 4, JSON.stringify(mine.map((n) => n.body)));
    for (const { q, body } of mine) {
      assert.equal(q.headers.authorization, `Bearer ${GRAFANA_TOKEN}`);
      assert.ok(body.tags.includes('experiment:burn') && body.tags.includes('steadystate'));
    }
    assert.equal(byEvent('window.opened')[0]?.body.time, Date.parse(r.window.openedAt));
    const region = byEvent('window.closed')[0];
    assert.equal(region?.body.time, Date.parse(r.window.openedAt));
    assert.equal(region?.body.timeEnd, Date.parse(r.window.closedAt));
    assert.equal(byEvent('step.started').find((n) => n.body.tags.includes('step:2'))?.body.time, Date.parse(r.ladder.steps[1].startedAt));
    const events = datadog.sent('POST', '/api/v1/events').map((q) => ({ q, body: JSON.parse(q.body) })).filter((e) => e.body.tags.includes(`run:${r.id}`));
    assert.equal(events.length, 4);
    for (const { q, body } of events) {
      assert.equal(q.headers['dd-api-key'], DD_KEY);
      assert.equal(body.aggregation_key, r.id);
      assert.ok(Number.isInteger(body.date_happened) && body.date_happened < 1e11, 'date_happened in seconds');
    }

    // Secrets: referenced, sent, never shown.
    for (const secret of [AM_TOKEN, GRAFANA_TOKEN, DD_KEY]) {
      assert.ok(!out.includes(secret) && !md.includes(secret) && !html.includes(secret), 'a secret leaked into output or reports');
    }
  });

  test('no fault, the fast burn expected within 4s with onFail: fail → alerts: fail and the run fails (exit 1)', async () => {
    const { code, run: r, md } = await run('quiet', { noFault: true }, { alerts: [{ name: 'ErrorBudgetBurnFast', within: '4s' }], interval: '1s', onFail: 'fail' }, '6s');
    const detail = JSON.stringify(r, null, 2);
    assert.equal(r.alerts.verdict, 'fail', detail);
    const fast = r.alerts.alerts[0];
    assert.equal(fast.firedAt, null);
    assert.match(fast.reason, /did not fire within 4\.0s/);
    assert.equal(r.state, 'failed', detail);
    assert.equal(code, 1);
    assert.match(r.reason, /alert expectations failed/);
    assert.match(md, /## Alerts: ❌ fail/);
  });
});

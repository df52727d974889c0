/**
 * Issue #14 items 3, 5 and 7: no secret planted in a spec reaches a viewer or
 * a log. Real parts throughout: a PGlite store, the run service, the fastify
 * app, a Prometheus-shaped server and a webhook backend on loopback, and the
 * service's own logger writing to a captured stream.
 *
 * Two experiments are run. `leaky-window` opens a real webhook fault whose
 * requests carry a literal Authorization header, a `{ fromEnv }` header, a
 * `?token=` query parameter and a URL password, reads Prometheus with a URL
 * password and an Authorization header, and is aborted mid-window (so its
 * events hold the injector handle). `leaky-source` points at an "internal"
 * endpoint whose 500 answer carries data and an echoed credential; the run
 * errors in preflight with a reason built from that answer. Then every GET
 * route a viewer token may call — enumerated from the app itself — is called
 * and no response body may hold any of the planted values; nor may any log line.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config.ts';
import { buildHttpApp, routesOf } from '../../src/http/app.ts';
import type { ZodApp } from '../../src/http/types.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { RunService } from '../../src/service/run-service.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';
import { matrix, seriesFor, startFakePrometheus, type FakePrometheus } from '../metric-sources/fake-prometheus.ts';

const SECRETS = {
  literalHeader: 'LIT-SECRET-HEADER-v8q2',
  envValue: 'ENV-SECRET-VALUE-k3m9',
  queryToken: 'QUERY-SECRET-TOKEN-p4x7',
  webhookPassword: 'URLPASS-SECRET-w5n1',
  promPassword: 'PROM-PASS-SECRET-r6t3',
  promHeader: 'PROM-HEADER-SECRET-j2h8',
  internalData: 'INTERNAL-DATA-FROM-METADATA-z9c4',
};
const ENV_NAME = 'SHOP_CHAOS_TOKEN_TEST';

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('secrets planted in specs reach no viewer and no log', () => {
  let store: Store;
  let runs: RunService;
  let app: ZodApp;
  let viewer: string;
  let admin: string;
  let operator: string;
  let prom: FakePrometheus;
  let internal: FakePrometheus;
  let webhook: Server;
  const webhookSeen: Seen[] = [];
  const logLines: string[] = [];
  const runIds: string[] = [];

  before(async () => {
    process.env[ENV_NAME] = SECRETS.envValue;
    // A Prometheus that answers every query with a flat series over the asked range.
    prom = await startFakePrometheus((req) => {
      if (req.path === '/api/v1/status/buildinfo') return { json: { status: 'success', data: { version: '2.53.0' } } };
      const start = Number(req.form.get('start'));
      const end = Number(req.form.get('end'));
      const step = Number(req.form.get('step')) || 1;
      const values: [number, string][] = [];
      for (let t = Math.ceil(start); t <= end && values.length < 1_000; t += step) values.push([t, '1']);
      return { json: matrix(seriesFor(req.form.get('query') ?? '', values)) };
    });
    // An "internal" endpoint: answers 500 with data and an echo of what it was sent.
    internal = await startFakePrometheus((req) => ({
      status: 500,
      text: `${SECRETS.internalData} authorization=${String(req.headers.authorization)}`,
    }));
    webhook = createServer((req, res) => {
      webhookSeen.push({ path: req.url ?? '', headers: req.headers });
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    const hookHost = await listen(webhook);

    const config = loadConfig({
      STEADYSTATE_LISTEN: '127.0.0.1:0',
      STEADYSTATE_SECRET_ENV_ALLOW: 'SHOP_*',
      STEADYSTATE_ALLOW_URL_CREDENTIALS: '1',
      STEADYSTATE_MAX_WINDOW: '10m',
    });
    store = await openStore({ memory: true });
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } });
    runs = new RunService(store, config, logger);
    app = await buildHttpApp({ store, runs, config, logger, metrics: new Registry() });
    await app.ready();
    viewer = (await store.tokens.create({ name: 'vera', role: 'viewer' })).token;
    operator = (await store.tokens.create({ name: 'otto', role: 'operator' })).token;
    admin = (await store.tokens.create({ name: 'ada', role: 'admin' })).token;

    const promUrl = prom.url.replace('http://', `http://prom:${SECRETS.promPassword}@`);
    const windowSpec = `# a spec with every kind of secret a person might paste
apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: leaky-window }
spec:
  source:
    kind: prometheus
    url: "${promUrl}"
    step: 1s
    headers: { Authorization: "Bearer ${SECRETS.promHeader}" }
  steadyState:
    - name: sps
      query: sum(rate(x{group="$group"}[5s]))
  fault:
    injector: webhook
    duration: 5m
    params:
      open:
        url: "http://${hookHost}/open?token=${SECRETS.queryToken}&run={{runId}}"
        headers: { Authorization: "Bearer ${SECRETS.literalHeader}", X-Chaos-Key: { fromEnv: ${ENV_NAME} } }
      close:
        url: "http://chaos:${SECRETS.webhookPassword}@${hookHost}/close/{{runId}}"
        headers: { X-Api-Key: "${SECRETS.literalHeader}", X-Chaos-Key: { fromEnv: ${ENV_NAME} } }
  analysis: { interval: 1s, minSamples: 3 }
`;
    const sourceSpec = windowSpec
      .replace('name: leaky-window', 'name: leaky-source')
      .replace(promUrl, internal.url.replace('http://', `http://prom:${SECRETS.promPassword}@`));
    for (const spec of [windowSpec, sourceSpec]) {
      const created = await app.inject({ method: 'POST', url: '/api/v1/experiments', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/yaml' }, payload: spec });
      assert.equal(created.statusCode, 201, created.body);
    }

    const started = await app.inject({ method: 'POST', url: '/api/v1/experiments/leaky-window/runs', headers: { authorization: `Bearer ${operator}` } });
    assert.equal(started.statusCode, 201, started.body);
    const windowRun = started.json().run.id as string;
    runIds.push(windowRun);
    // Bounded wait for the open request to reach the backend, then abort mid-window.
    for (let i = 0; i < 200 && !webhookSeen.some((s) => s.path.startsWith('/open')); i++) await delay(50);
    assert.ok(webhookSeen.some((s) => s.path.startsWith('/open')), 'the fault window never opened');
    const aborted = await app.inject({ method: 'POST', url: `/api/v1/runs/${windowRun}/abort`, headers: { authorization: `Bearer ${operator}` } });
    assert.equal(aborted.statusCode, 200, aborted.body);

    const second = await app.inject({ method: 'POST', url: '/api/v1/experiments/leaky-source/runs', headers: { authorization: `Bearer ${operator}` } });
    assert.equal(second.statusCode, 201, second.body);
    runIds.push(second.json().run.id as string);
    await runs.settled(second.json().run.id as string);
  });

  after(async () => {
    delete process.env[ENV_NAME];
    await runs.shutdown(5_000);
    await app.close();
    await store.close();
    await prom.stop();
    await internal.stop();
    await new Promise<void>((resolve) => webhook.close(() => resolve()));
  });

  it('the secrets really were used: the backends received them', () => {
    const open = webhookSeen.find((s) => s.path.startsWith('/open'));
    assert.equal(open?.headers.authorization, `Bearer ${SECRETS.literalHeader}`);
    assert.equal(open?.headers['x-chaos-key'], SECRETS.envValue);
    assert.ok(open?.path.includes(SECRETS.queryToken));
    const close = webhookSeen.find((s) => s.path.startsWith('/close'));
    assert.equal(close?.headers.authorization, `Basic ${Buffer.from(`chaos:${SECRETS.webhookPassword}`).toString('base64')}`);
    assert.equal(prom.requests[0]?.headers.authorization, `Bearer ${SECRETS.promHeader}`);
    assert.ok(internal.requests.length > 0);
  });

  it('no route a viewer can read returns any of them', async () => {
    const [windowRun, sourceRun] = runIds as [string, string];
    const fill = (url: string, id: string): string => url.replace(':name', 'leaky-window').replace(':id', id).replace(':provider', 'github');
    const readable = routesOf(app).filter(
      (r) => (r.method === 'GET' || r.method === 'HEAD') && (r.access === 'viewer' || r.access === 'public' || r.url.startsWith('/docs')) && !r.url.includes('*'),
    );
    const urls = new Set<string>();
    for (const r of readable) {
      if (r.method !== 'GET') continue;
      for (const id of [windowRun, sourceRun]) urls.add(fill(r.url, id));
      if (r.url.includes(':name')) urls.add(r.url.replace(':name', 'leaky-source'));
    }
    // The enumeration must cover what viewers read, or this test proves nothing.
    for (const needed of ['/api/v1/experiments', '/api/v1/experiments/leaky-window', '/api/v1/experiments/leaky-window/versions', '/api/v1/runs', `/api/v1/runs/${windowRun}`, `/api/v1/runs/${windowRun}/events`, `/api/v1/runs/${windowRun}/report.json`, `/api/v1/runs/${windowRun}/report.md`, `/api/v1/runs/${windowRun}/report.html`, '/', '/api/v1/schedules', '/metrics']) {
      assert.ok(urls.has(needed), `route ${needed} not found among the app's viewer routes`);
    }
    for (const url of urls) {
      const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${viewer}` } });
      assert.ok(res.statusCode < 500, `${url}: HTTP ${res.statusCode}`);
      for (const [what, secret] of Object.entries(SECRETS)) {
        assert.ok(!res.body.includes(secret), `${url} (HTTP ${res.statusCode}) shows ${what}: ${res.body.slice(Math.max(0, res.body.indexOf(secret) - 200), res.body.indexOf(secret) + 50)}`);
      }
    }
    // And the views still say where secrets live, and why the second run failed.
    const got = await app.inject({ method: 'GET', url: '/api/v1/experiments/leaky-window', headers: { authorization: `Bearer ${viewer}` } });
    assert.deepEqual(got.json().experiment.spec.spec.fault.params.open.headers['X-Chaos-Key'], { fromEnv: ENV_NAME });
    assert.match(got.json().experiment.source, new RegExp(`fromEnv: ${ENV_NAME}`));
    const failed = await app.inject({ method: 'GET', url: `/api/v1/runs/${sourceRun}`, headers: { authorization: `Bearer ${viewer}` } });
    assert.match(failed.json().run.reason, /HTTP 500/);
  });

  it('no log line holds any of them, at any depth', () => {
    assert.ok(logLines.some((l) => l.includes('"event":"window.opened"')), 'the window.opened line was not logged');
    for (const line of logLines) {
      for (const [what, secret] of Object.entries(SECRETS)) {
        assert.ok(!line.includes(secret), `a log line shows ${what}: ${line.slice(0, 600)}`);
      }
    }
  });
});

/**
 * The proxy's `route` label: patterns from `--route`, `other` for the rest,
 * bounded; counted the same in one process and summed right over workers.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../../src/proxy/fault-proxy.ts';
import { createRouteMatcher, MAX_ROUTES, OTHER_ROUTE } from '../../src/proxy/routes.ts';
import { runProxyCommand } from '../../src/proxy/command.ts';
import { ValidationError } from '../../src/lib/errors.ts';
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.ts';
import { metrics, timedGet, userIn } from './fixtures.ts';
import { sumOf } from './prom-text.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));

describe('route matcher', () => {
  it('exact patterns win, then the first glob in order, else other', () => {
    const routeOf = createRouteMatcher(['/api/*', '/checkout', '/api/admin*', '/static/*.js']);
    assert.equal(routeOf('/checkout'), '/checkout');
    assert.equal(routeOf('/checkout/'), OTHER_ROUTE);
    assert.equal(routeOf('/api/users/1'), '/api/*');
    assert.equal(routeOf('/api/admin'), '/api/*', 'the first matching glob, in the order given');
    assert.equal(routeOf('/static/app.js'), '/static/*.js');
    assert.equal(routeOf('/static/appXjs'), OTHER_ROUTE, 'a dot in a pattern is a dot, not any character');
    assert.equal(routeOf('/'), OTHER_ROUTE);
    // Memoised answers stay right on the second look.
    assert.equal(routeOf('/api/users/1'), '/api/*');
    assert.equal(routeOf('/static/appXjs'), OTHER_ROUTE);
  });

  it('without patterns every path is other', () => {
    assert.equal(createRouteMatcher([])('/checkout'), OTHER_ROUTE);
  });

  it('rejects patterns that could break a label or a query, and too many', () => {
    for (const bad of ['checkout', '/a b', '/a"b', '/a\\b', '']) assert.throws(() => createRouteMatcher([bad]), /route/);
    assert.throws(() => createRouteMatcher(Array.from({ length: MAX_ROUTES + 1 }, (_, i) => `/r${i}`)), /at most/);
  });

  it('a flood of distinct paths keeps the label bounded', () => {
    const routeOf = createRouteMatcher(['/a*']);
    const labels = new Set<string>();
    for (let i = 0; i < 20_000; i++) labels.add(routeOf(`/x/${i}`));
    labels.add(routeOf('/a/1'));
    assert.deepEqual([...labels].sort(), ['/a*', OTHER_ROUTE]);
  });
});

describe('--route flag', () => {
  it('names the flag in its errors', async () => {
    await assert.rejects(
      runProxyCommand({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream: 'http://127.0.0.1:9', route: ['/ok', 'nope'] }, { signals: [] }),
      (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path.startsWith('--route') && /starting with/.test(i.message)),
    );
    await assert.rejects(
      runProxyCommand({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream: 'http://127.0.0.1:9', route: ['/a', '/a'] }, { signals: [] }),
      (err: unknown) => err instanceof ValidationError && err.issues.some((i) => i.path === '--route' && /twice/.test(i.message)),
    );
  });
});

describe('route label on the proxy metrics (one process)', () => {
  let upstream: EchoUpstream;
  let proxy: FaultProxy;
  before(async () => {
    upstream = await startEchoUpstream();
    proxy = await startFaultProxy({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: upstream.url,
      controlPercent: 50,
      experimentPercent: 50,
      stickyHeader: 'x-user-id',
      routes: ['/checkout', '/api/*'],
    });
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('zero series for every route and other exist before traffic', async () => {
    const m = await metrics(proxy.adminUrl);
    const routes = new Set(m.filter((s) => s.name === 'steadystate_proxy_request_duration_seconds_count').map((s) => `${s.labels.group} ${s.labels.route}`));
    assert.deepEqual([...routes].sort(), ['control /api/*', 'control /checkout', 'control other', 'experiment /api/*', 'experiment /checkout', 'experiment other']);
  });

  it('counts each request under its route, in the counter and the histogram', async () => {
    const user = userIn('experiment', 50, 50);
    const paths = ['/checkout', '/checkout?x=1', '/api/a', '/api/b/c', '/nope', '/random-1', '/random-2'];
    for (const p of paths) assert.equal((await timedGet(`${proxy.listenUrl}${p}`, user)).status, 200);
    const m = await metrics(proxy.adminUrl);
    const count = (route: string): number => sumOf(m, 'steadystate_proxy_requests_total', { group: 'experiment', route });
    const hist = (route: string): number => sumOf(m, 'steadystate_proxy_request_duration_seconds_count', { group: 'experiment', route });
    assert.deepEqual([count('/checkout'), count('/api/*'), count(OTHER_ROUTE)], [2, 2, 3]);
    assert.deepEqual([hist('/checkout'), hist('/api/*'), hist(OTHER_ROUTE)], [2, 2, 3]);
    const labels = new Set(m.filter((s) => s.name === 'steadystate_proxy_requests_total').map((s) => s.labels.route));
    assert.deepEqual([...labels].sort(), ['/api/*', '/checkout', OTHER_ROUTE]);
  });
});

describe('route label with --workers 2 (the CLI in a child process)', () => {
  let upstream: EchoUpstream;
  let child: ChildProcess;
  let listenUrl = '';
  let adminUrl = '';
  before(async () => {
    upstream = await startEchoUpstream();
    child = spawn(
      process.execPath,
      [BIN, 'proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--upstream', upstream.url, '--sticky-header', 'x-user-id', '--workers', '2', '--route', '/checkout', '--route', '/api/*'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    for await (const line of createInterface({ input: child.stderr as NodeJS.ReadableStream })) {
      const entry = JSON.parse(line) as { msg?: string; listen?: string; admin?: string };
      if (entry.msg === 'fault proxy listening') {
        listenUrl = entry.listen as string;
        adminUrl = entry.admin as string;
        break;
      }
    }
    clearTimeout(timer);
    child.stderr?.resume();
    assert.ok(adminUrl, 'the proxy listened');
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await upstream.close();
  });

  it('sums each route over the workers', async () => {
    const user = userIn('control');
    // A fresh connection per request, so the cluster spreads them over both workers.
    const agent = new Agent({ keepAlive: false });
    const sent = { '/checkout': 30, '/api/x': 20, '/elsewhere': 10 };
    for (const [path, n] of Object.entries(sent)) {
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${listenUrl}${path}`, { headers: { 'x-user-id': user, connection: 'close' } });
        await res.arrayBuffer();
      }
    }
    agent.destroy();
    const workers = (await (await fetch(`${adminUrl}/workers`)).json()) as { workers: { requests: number }[] };
    assert.equal(workers.workers.length, 2);
    assert.ok(workers.workers.every((w) => w.requests > 0), `both workers served traffic: ${JSON.stringify(workers)}`);
    const m = await metrics(adminUrl);
    const count = (route: string): number => sumOf(m, 'steadystate_proxy_requests_total', { group: 'control', route });
    const hist = (route: string): number => sumOf(m, 'steadystate_proxy_request_duration_seconds_count', { group: 'control', route });
    assert.deepEqual([count('/checkout'), count('/api/*'), count(OTHER_ROUTE)], [30, 20, 10]);
    assert.deepEqual([hist('/checkout'), hist('/api/*'), hist(OTHER_ROUTE)], [30, 20, 10]);
  });
});

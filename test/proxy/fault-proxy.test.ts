/**
 * The fault proxy on real sockets: an echo upstream on 127.0.0.1, the proxy in
 * front of it, and requests from fetch. Users are picked per group with the
 * same hash the proxy uses (its correctness is tested in groups.test.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, afterEach, before, describe, it } from 'node:test';
import { assignGroup, splitFromPercents } from '../../src/proxy/groups.ts';
import { type FaultProxy, startFaultProxy } from '../../src/proxy/fault-proxy.ts';
import { runLoad } from '../helpers/http-load.ts';
import { type EchoUpstream, startEchoUpstream } from './echo-upstream.ts';
import { getJson, inSeconds, metrics, postJson, timedGet, userIn } from './fixtures.ts';
import { sumOf } from './prom-text.ts';

let upstream: EchoUpstream;
let proxy: FaultProxy;
const control = userIn('control');
const experiment = userIn('experiment');
const experiment2 = userIn('experiment', 5, 5, 1);
const none = userIn('none');
let windowSeq = 0;
const nextId = (): string => `run-${++windowSeq}-${Date.now()}`;

before(async () => {
  upstream = await startEchoUpstream();
  // Default shares (5 % / 5 %), ports picked by the OS.
  proxy = await startFaultProxy({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstream: upstream.url,
    stickyHeader: 'X-User-Id',
  });
});

after(async () => {
  await proxy.close();
  await upstream.close();
});

// Each test leaves no window behind, whatever it did.
afterEach(async () => {
  const { body } = await getJson(`${proxy.adminUrl}/windows`);
  if (body?.open) await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(body.open.id)}`, { method: 'DELETE' });
});

async function openWindow(fields: Record<string, unknown>, ms = 60_000): Promise<string> {
  const id = nextId();
  const res = await postJson(`${proxy.adminUrl}/windows`, { id, deadline: inSeconds(ms), ...fields });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return id;
}

/** The group header the upstream saw on the last request. */
function lastGroupSeen(): unknown {
  return upstream.received.at(-1)?.headers['x-steadystate-group'];
}

void describe('fault proxy: groups', () => {
  void it('reports real ports when started on port 0', () => {
    assert.match(proxy.listenUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.doesNotMatch(proxy.listenUrl, /:0$/);
    assert.doesNotMatch(proxy.adminUrl, /:0$/);
    assert.notEqual(proxy.listenUrl, proxy.adminUrl);
  });

  void it('forwards the group to the upstream, and overwrites one the client sent', async () => {
    for (const [user, group] of [
      [control, 'control'],
      [experiment, 'experiment'],
      [none, 'none'],
    ] as const) {
      const r = await timedGet(`${proxy.listenUrl}/browse?q=1`, user, { 'x-steadystate-group': 'control' });
      assert.equal(r.status, 200);
      assert.equal(lastGroupSeen(), group, `${user} should be ${group}`);
      assert.equal(upstream.received.at(-1)?.url, '/browse?q=1');
    }
  });

  void it('falls back to the client address without the sticky header', async () => {
    await timedGet(`${proxy.listenUrl}/`);
    assert.equal(lastGroupSeen(), assignGroup('127.0.0.1', splitFromPercents(5, 5)));
  });

  void it('passes request bodies through untouched, whatever their type', async () => {
    const payload = Buffer.from([0, 1, 2, 250, 255]).toString('latin1') + '{"not":"parsed"';
    const res = await fetch(`${proxy.listenUrl}/upload`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-user-id': none },
      body: payload,
    });
    assert.equal(res.status, 200);
    await res.text();
    assert.equal(upstream.received.at(-1)?.body, Buffer.from(payload).toString('utf8'));
    assert.equal(upstream.received.at(-1)?.method, 'PUT');
  });

  void it('passes upstream errors through once, without retrying them', async () => {
    const before = upstream.received.length;
    const r = await timedGet(`${proxy.listenUrl}/status/503`, none);
    assert.equal(r.status, 503);
    assert.equal(upstream.received.length, before + 1);
  });
});

void describe('fault proxy: faults go to the experiment group only', () => {
  void it('adds latency to experiment requests on matching paths, and nowhere else', async () => {
    const latencyMs = 300;
    await openWindow({ latencyMs, paths: ['/slow*'] });
    const [exp, expOtherPath, ctl, other] = await Promise.all([
      timedGet(`${proxy.listenUrl}/slow/item`, experiment),
      timedGet(`${proxy.listenUrl}/fast`, experiment2),
      timedGet(`${proxy.listenUrl}/slow/item`, control),
      timedGet(`${proxy.listenUrl}/slow/item`, none),
    ]);
    assert.equal(exp.status, 200);
    assert.ok(exp.ms >= latencyMs - 1, `experiment took ${exp.ms}ms`);
    for (const [name, r] of Object.entries({ expOtherPath, ctl, other })) {
      assert.equal(r.status, 200);
      assert.ok(r.ms < latencyMs / 2, `${name} took ${r.ms}ms: delayed`);
    }
  });

  void it('spreads latency by ±jitter, never below zero', async () => {
    await openWindow({ latencyMs: 100, jitterMs: 80 });
    const rs = await Promise.all(Array.from({ length: 20 }, () => timedGet(`${proxy.listenUrl}/x`, experiment)));
    const ms = rs.map((r) => r.ms);
    assert.ok(Math.min(...ms) >= 19, `min ${Math.min(...ms)}`);
    assert.ok(Math.max(...ms) - Math.min(...ms) > 20, `no spread: ${ms.map((m) => m.toFixed(0)).join(',')}`);
  });

  void it('errorRate 100%: every matching experiment request fails, without reaching the upstream', async () => {
    await openWindow({ errorRate: 1, errorStatus: 500, methods: ['GET'] });
    const before = upstream.received.length;
    for (let i = 0; i < 20; i++) {
      const r = await timedGet(`${proxy.listenUrl}/checkout`, experiment);
      assert.equal(r.status, 500);
      assert.equal(JSON.parse(r.body).error, 'injected_fault');
    }
    assert.equal(upstream.received.length, before);
    // Other methods and other groups go through.
    const post = await fetch(`${proxy.listenUrl}/checkout`, { method: 'POST', headers: { 'x-user-id': experiment }, body: 'x' });
    assert.equal(post.status, 200);
    await post.text();
    for (let i = 0; i < 20; i++) assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, control)).status, 200);
  });

  void it('errorRate 30%: the share of errors is within binomial bounds, control untouched', async () => {
    await openWindow({ errorRate: '30%' });
    const n = 400;
    let errors = 0;
    for (let batch = 0; batch < n / 40; batch++) {
      const rs = await Promise.all(Array.from({ length: 40 }, () => timedGet(`${proxy.listenUrl}/x`, experiment)));
      errors += rs.filter((r) => r.status === 503).length;
      assert.ok(rs.every((r) => r.status === 503 || r.status === 200));
    }
    // Mean 120, sd √(400·0.3·0.7) ≈ 9.2: five sd either way fails about once in 1.7 million runs.
    const sd = Math.sqrt(n * 0.3 * 0.7);
    assert.ok(Math.abs(errors - n * 0.3) <= 5 * sd, `${errors} errors of ${n}`);
    const ctl = await Promise.all(Array.from({ length: 100 }, () => timedGet(`${proxy.listenUrl}/x`, control)));
    assert.ok(ctl.every((r) => r.status === 200));
  });

  void it('abortRate 100% destroys the client connection; counted as aborted', async () => {
    const beforeAborts = sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_requests_total', { group: 'experiment', code: 'aborted' });
    await openWindow({ abortRate: 1 });
    const r = await timedGet(`${proxy.listenUrl}/x`, experiment);
    assert.equal(r.status, 'error');
    assert.equal((await timedGet(`${proxy.listenUrl}/x`, control)).status, 200);
    const m = await metrics(proxy.adminUrl);
    assert.equal(sumOf(m, 'steadystate_proxy_requests_total', { group: 'experiment', code: 'aborted' }), beforeAborts + 1);
    assert.ok(sumOf(m, 'steadystate_proxy_faults_injected_total', { group: 'experiment', fault: 'abort' }) >= 1);
  });

  void it('closes the window at its deadline with nobody calling close', async () => {
    const started = Date.now();
    const closed = once(proxy.events, 'closed');
    const id = await openWindow({ errorRate: 1 }, 300);
    assert.equal((await timedGet(`${proxy.listenUrl}/x`, experiment)).status, 503);
    const [view] = await closed;
    assert.equal(view.id, id);
    assert.equal(view.closedReason, 'deadline');
    assert.ok(Date.now() - started >= 290, 'closed early');
    const got = await getJson(`${proxy.adminUrl}/windows/${id}`);
    assert.equal(got.body.state, 'closed');
    assert.equal(got.body.closedReason, 'deadline');
    assert.equal((await timedGet(`${proxy.listenUrl}/x`, experiment)).status, 200);
    assert.equal(sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_window_open'), 0);
  });
});

void describe('fault proxy: admin API', () => {
  void it('opens, reads and closes a window; DELETE is idempotent', async () => {
    const id = nextId();
    const deadline = inSeconds(60_000);
    const opened = await postJson(`${proxy.adminUrl}/windows`, { id, deadline, latencyMs: '250ms', paths: ['/checkout*'] });
    assert.equal(opened.status, 201);
    assert.equal(opened.body.id, id);
    assert.equal(opened.body.state, 'open');
    assert.equal(opened.body.deadline, new Date(deadline).toISOString());
    assert.equal(opened.body.latencyMs, 250);
    assert.ok(Date.parse(opened.body.openedAt) <= Date.now());
    assert.equal(sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_window_open'), 1);

    const got = await getJson(`${proxy.adminUrl}/windows/${id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.state, 'open');
    assert.equal(got.body.closedAt, undefined);

    for (let i = 0; i < 2; i++) {
      const del = await fetch(`${proxy.adminUrl}/windows/${id}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
    }
    const closed = await getJson(`${proxy.adminUrl}/windows/${id}`);
    assert.equal(closed.body.state, 'closed');
    assert.equal(closed.body.closedReason, 'closed');
    assert.ok(closed.body.closedAt);
    assert.equal(sumOf(await metrics(proxy.adminUrl), 'steadystate_proxy_window_open'), 0);
  });

  void it('a second open is a 409; so is reusing an id', async () => {
    const id = await openWindow({ latencyMs: 10 });
    const second = await postJson(`${proxy.adminUrl}/windows`, { id: nextId(), deadline: inSeconds(60_000), latencyMs: 10 });
    assert.equal(second.status, 409);
    assert.match(second.body.message, /already open/);
    await fetch(`${proxy.adminUrl}/windows/${id}`, { method: 'DELETE' });
    const reuse = await postJson(`${proxy.adminUrl}/windows`, { id, deadline: inSeconds(60_000), latencyMs: 10 });
    assert.equal(reuse.status, 409);
  });

  void it('unknown windows are 404 for GET and DELETE', async () => {
    assert.equal((await getJson(`${proxy.adminUrl}/windows/never`)).status, 404);
    assert.equal((await fetch(`${proxy.adminUrl}/windows/never`, { method: 'DELETE' })).status, 404);
  });

  void it('bad bodies are 400s naming the field, never 5xx', async () => {
    const cases: [unknown, string][] = [
      [{ id: 'a', deadline: inSeconds(-1000), latencyMs: 5 }, 'deadline'],
      [{ id: 'a', deadline: inSeconds(25 * 3_600_000), latencyMs: 5 }, 'deadline'],
      [{ id: 'a', deadline: 'tomorrow' }, 'deadline'],
      [{ id: 'a', deadline: inSeconds(60_000), errorRate: 1.5 }, 'errorRate'],
      [{ id: 'a', deadline: inSeconds(60_000), errorRate: 'lots' }, 'errorRate'],
      [{ id: 'a', deadline: inSeconds(60_000), latencyMs: -5 }, 'latencyMs'],
      [{ id: 'a', deadline: inSeconds(60_000), errorRate: 0.1, errorStatus: 200 }, 'errorStatus'],
      [{ id: 'a', deadline: inSeconds(60_000), paths: 'checkout' }, 'paths'],
      [{ id: 'a', deadline: inSeconds(60_000), colour: 'red' }, 'colour'],
      [{ deadline: inSeconds(60_000) }, 'id'],
      [[1, 2], '(root)'],
    ];
    for (const [body, field] of cases) {
      const res = await postJson(`${proxy.adminUrl}/windows`, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status}`);
      const paths = (res.body.errors as { path: string }[]).map((e) => e.path);
      assert.ok(paths.includes(field), `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
    }
    for (const raw of ['{not json', '']) {
      const res = await fetch(`${proxy.adminUrl}/windows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
      assert.equal(res.status, 400, raw);
      await res.text();
    }
    assert.equal((await getJson(`${proxy.adminUrl}/windows`)).body.open, null);
  });

  void it('healthz answers 200 and says whether a window is open', async () => {
    const h = await getJson(`${proxy.adminUrl}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(h.body.windowOpen, false);
  });
});

void describe('fault proxy: metrics', () => {
  void it('counts requests per group (none included) and fills the duration histogram', async () => {
    const before = await metrics(proxy.adminUrl);
    await openWindow({ latencyMs: 60, paths: ['/checkout'] });
    const seen: Record<string, number> = {};
    let experimentCheckouts = 0;
    const load = await runLoad({
      url: proxy.listenUrl,
      paths: [
        { path: '/checkout', weight: 1 },
        { path: '/browse', weight: 3 },
      ],
      ratePerSecond: 400,
      durationMs: 1_000,
      stickyHeader: 'x-user-id',
      users: 400,
      onResult: (r) => {
        const g = assignGroup(r.user, splitFromPercents(5, 5));
        seen[g] = (seen[g] ?? 0) + 1;
        if (g === 'experiment' && r.path === '/checkout') experimentCheckouts++;
      },
    });
    assert.equal(load.errors, 0);
    const m = await metrics(proxy.adminUrl);
    const delta = (name: string, labels: Record<string, string>): number => sumOf(m, name, labels) - sumOf(before, name, labels);
    for (const group of ['control', 'experiment', 'none']) {
      assert.equal(delta('steadystate_proxy_requests_total', { group, method: 'GET', code: '200' }), seen[group] ?? 0, group);
    }
    assert.ok((seen.control ?? 0) > 0 && (seen.experiment ?? 0) > 0, JSON.stringify(seen));
    assert.equal(delta('steadystate_proxy_request_duration_seconds_count', { group: 'experiment' }), seen.experiment);

    // The contract's buckets exist, and experiment checkouts (60 ms) sit above 0.05 s while control's do not.
    const buckets = new Set(m.filter((s) => s.name === 'steadystate_proxy_request_duration_seconds_bucket').map((s) => s.labels.le));
    for (const le of ['0.001', '0.05', '0.1', '0.2', '0.3', '0.5', '1', '10', '+Inf']) assert.ok(buckets.has(le), `bucket ${le}`);
    const slowExperiment =
      delta('steadystate_proxy_request_duration_seconds_count', { group: 'experiment' }) -
      delta('steadystate_proxy_request_duration_seconds_bucket', { group: 'experiment', le: '0.05' });
    assert.equal(delta('steadystate_proxy_faults_injected_total', { group: 'experiment', fault: 'latency' }), experimentCheckouts);
    assert.ok(experimentCheckouts > 0, 'no experiment checkout in the load');
    // Every delayed request is above 50 ms (others may be too, on a busy machine).
    assert.ok(slowExperiment >= experimentCheckouts, `${slowExperiment} slow < ${experimentCheckouts} delayed`);
    assert.equal(delta('steadystate_proxy_faults_injected_total', { group: 'control', fault: 'latency' }), 0);
  });
});

void describe('fault proxy: upstream failures and shutdown', () => {
  void it('answers 502 when the upstream is down, and counts it', async () => {
    const dead = await startEchoUpstream();
    await dead.close();
    const p = await startFaultProxy({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, upstream: dead.url });
    try {
      const r = await timedGet(`${p.listenUrl}/x`);
      assert.equal(r.status, 502);
      const m = await metrics(p.adminUrl);
      assert.equal(sumOf(m, 'steadystate_proxy_requests_total', { code: '502' }), 1);
    } finally {
      await p.close();
    }
  });

  void it('close() closes the open window first, and can be called twice', async () => {
    const p = await startFaultProxy({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, upstream: upstream.url });
    const res = await postJson(`${p.adminUrl}/windows`, { id: 'w', deadline: inSeconds(60_000), latencyMs: 5 });
    assert.equal(res.status, 201);
    const closed = once(p.events, 'closed');
    await Promise.all([p.close(), p.close()]);
    const [view] = await closed;
    assert.equal(view.closedReason, 'closed');
    await assert.rejects(fetch(`${p.adminUrl}/healthz`));
  });

  void it('refuses bad options, naming the field', async () => {
    const base = { listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, upstream: upstream.url };
    await assert.rejects(startFaultProxy({ ...base, controlPercent: 60, experimentPercent: 50 }), /experimentPercent/);
    await assert.rejects(startFaultProxy({ ...base, upstream: 'ftp://x' }), /upstream/);
    await assert.rejects(startFaultProxy({ ...base, upstream: `${upstream.url}/api` }), /upstream: must be an origin/);
    await assert.rejects(startFaultProxy({ ...base, stickyHeader: 'x user' }), /stickyHeader/);
  });

  void it('a taken port is a clear error, and the listener already started is closed again', async () => {
    const taken = Number(new URL(proxy.adminUrl).port);
    await assert.rejects(
      startFaultProxy({ listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: taken }, upstream: upstream.url }),
      new RegExp(`cannot listen on admin address 127\\.0\\.0\\.1:${taken}`),
    );
  });
});

/**
 * The http-proxy injector against a real fault proxy on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { AbortedError, InjectorError } from '../../src/lib/errors.ts';
import { httpProxyInjector, httpProxyParamsSchema } from '../../src/injectors/http-proxy.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { type FaultProxy, startFaultProxy } from '../../src/proxy/fault-proxy.ts';
import { freePort } from '../helpers/ports.ts';
import { type EchoUpstream, startEchoUpstream } from '../proxy/echo-upstream.ts';
import { getJson, timedGet, userIn } from '../proxy/fixtures.ts';

let upstream: EchoUpstream;
let proxy: FaultProxy;
const experiment = userIn('experiment');
const control = userIn('control');
let seq = 0;

before(async () => {
  upstream = await startEchoUpstream();
  proxy = await startFaultProxy({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    upstream: upstream.url,
    stickyHeader: 'x-user-id',
  });
});
after(async () => {
  await proxy.close();
  await upstream.close();
});
afterEach(async () => {
  const { body } = await getJson(`${proxy.adminUrl}/windows`);
  if (body?.open) await fetch(`${proxy.adminUrl}/windows/${encodeURIComponent(body.open.id)}`, { method: 'DELETE' });
});

function injector(params: Record<string, unknown>, timeoutMs = 2_000) {
  return httpProxyInjector.create(httpProxyParamsSchema.parse({ admin: proxy.adminUrl, ...params }), { timeoutMs });
}

function ctx(deadlineInMs = 60_000, signal?: AbortSignal) {
  return { runId: `run-${++seq}-${Date.now()}`, experiment: 'checkout-latency', deadline: new Date(Date.now() + deadlineInMs), ...(signal ? { signal } : {}) };
}

async function rejectsWith(p: Promise<unknown>, check: (err: InjectorError) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InjectorError, `not an InjectorError: ${String(err)}`);
    check(err);
    return true;
  });
}

void describe('http-proxy params', () => {
  void it('takes the fault fields as users write them', () => {
    const p = httpProxyParamsSchema.parse({ admin: 'http://127.0.0.1:8081/', latencyMs: '300ms', errorRate: '0.1%', paths: ['/checkout*'], methods: ['post'] });
    assert.equal(p.latencyMs, 300);
    assert.equal(p.errorRate, 0.001);
    assert.deepEqual(p.methods, ['POST']);
  });

  void it('needs a fault, an admin URL, and nothing unknown', () => {
    const issues = (v: unknown): string[] =>
      httpProxyParamsSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) ?? [];
    assert.match(issues({ admin: 'http://x' }).join(), /needs at least one fault/);
    assert.match(issues({ admin: 'http://x', latencyMs: 0 }).join(), /needs at least one fault/);
    assert.match(issues({ latencyMs: 5 }).join(), /^admin/);
    assert.match(issues({ admin: 'ftp://x', latencyMs: 5 }).join(), /admin: must be an http/);
    assert.match(issues({ admin: 'http://x', latencyMs: 5, latency: 5 }).join(), /latency/);
    assert.match(issues({ admin: 'http://x', errorRate: 0.6, abortRate: 0.6 }).join(), /abortRate: errorRate \+ abortRate/);
    assert.match(issues({ admin: 'http://x', errorRate: '2%', errorStatus: 302 }).join(), /errorStatus/);
    assert.deepEqual(issues({ admin: 'http://x', abortRate: 0.01 }), []);
    // A/A only when asked for in so many words.
    assert.deepEqual(issues({ admin: 'http://x', noFault: true }), []);
    assert.match(issues({ admin: 'http://x', noFault: true, latencyMs: 5 }).join(), /noFault: cannot be combined/);
    assert.match(issues({ admin: 'http://x', noFault: false }).join(), /noFault/);
  });
});

void describe('http-proxy injector against a running proxy', () => {
  void it('check, open, status, close, and close again', async () => {
    const inj = injector({ errorRate: 1, paths: ['/checkout'] });
    assert.equal(inj.kind, 'http-proxy');
    await inj.check();

    const c = ctx();
    const handle = await inj.open(c);
    assert.deepEqual(handle, { injector: 'http-proxy', admin: proxy.adminUrl, windowId: c.runId });
    // Plain JSON: survives a round trip through storage.
    const stored = JSON.parse(JSON.stringify(handle)) as InjectorHandle;

    const win = await getJson(`${proxy.adminUrl}/windows/${c.runId}`);
    assert.equal(win.body.deadline, c.deadline.toISOString());
    assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, experiment)).status, 503);
    assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, control)).status, 200);
    assert.equal((await inj.status(stored)).state, 'active');

    await inj.close(stored);
    const st = await inj.status(stored);
    assert.equal(st.state, 'closed');
    assert.match(st.detail ?? '', /closed \(closed\)/);
    assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, experiment)).status, 200);
    await inj.close(stored); // idempotent
  });

  void it('a ladder step changes the open window in place; the deadline stays; a closed window is not reopened', async () => {
    const inj = injector({ errorRate: 1, paths: ['/checkout'] });
    const c = ctx();
    const handle = await inj.open(c);
    assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, experiment)).status, 503);
    await inj.update!(handle, httpProxyParamsSchema.parse({ admin: proxy.adminUrl, latencyMs: 1, errorRate: 0, errorStatus: undefined, paths: ['/nothing'] }));
    const win = await getJson(`${proxy.adminUrl}/windows/${c.runId}`);
    assert.equal(win.body.deadline, c.deadline.toISOString());
    assert.equal(win.body.state, 'open');
    assert.deepEqual(win.body.paths, ['/nothing']);
    // The new step's fault is the only one: the first step's errors are gone.
    assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, experiment)).status, 200);
    await inj.close(handle);
    await rejectsWith(inj.update!(handle, httpProxyParamsSchema.parse({ admin: proxy.adminUrl, errorRate: 1 })), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /409.*closed/);
    });
    assert.equal((await timedGet(`${proxy.listenUrl}/checkout`, experiment)).status, 200);
  });

  void it('the proxy ends the window at the deadline by itself', async () => {
    const inj = injector({ latencyMs: 5 });
    const closed = once(proxy.events, 'closed');
    const handle = await inj.open(ctx(250));
    const [view] = await closed;
    assert.equal(view.closedReason, 'deadline');
    const st = await inj.status(handle);
    assert.equal(st.state, 'closed');
    assert.match(st.detail ?? '', /deadline/);
    await inj.close(handle);
  });

  void it('a retried open of the same run succeeds; another run is refused while a window is open', async () => {
    const inj = injector({ latencyMs: 5 });
    const c = ctx();
    const first = await inj.open(c);
    assert.deepEqual(await inj.open(c), first);
    await rejectsWith(inj.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_busy');
      assert.match(err.message, /409.*already open/);
    });
    // Preflight of another run would fail too, retryably.
    await rejectsWith(inj.check(), (err) => {
      assert.equal(err.retryable, true);
      assert.equal(err.code, 'injector_busy');
    });
    await inj.close(first);
    // A closed run cannot be reopened by a late retry.
    await rejectsWith(inj.open(c), (err) => assert.match(err.message, /already used/));
  });

  void it('the proxy refusing the window is a non-retryable error with its reason', async () => {
    await rejectsWith(injector({ latencyMs: 5 }).open(ctx(-1_000)), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /400: deadline: is not in the future/);
    });
  });

  void it('closing or asking about a window the proxy never knew succeeds as closed', async () => {
    const inj = injector({ latencyMs: 5 });
    const handle = { injector: 'http-proxy', admin: proxy.adminUrl, windowId: 'never-opened' };
    await inj.close(handle);
    assert.equal((await inj.status(handle)).state, 'closed');
  });

  void it('a malformed handle is a non-retryable error', async () => {
    await rejectsWith(injector({ latencyMs: 5 }).close({ injector: 'webhook', admin: 1 }), (err) => assert.equal(err.retryable, false));
  });

  void it('an aborted signal is an AbortedError, not an injector failure', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(injector({ latencyMs: 5 }).open(ctx(60_000, controller.signal)), AbortedError);
  });
});

void describe('http-proxy injector against a dead admin port', () => {
  void it('close, status, check and open fail with retryable InjectorErrors', async () => {
    const port = await freePort();
    const admin = `http://127.0.0.1:${port}`;
    const inj = httpProxyInjector.create(httpProxyParamsSchema.parse({ admin, latencyMs: 5 }), { timeoutMs: 1_000 });
    const handle = { injector: 'http-proxy', admin, windowId: 'w' };
    for (const call of [() => inj.close(handle), () => inj.status(handle), () => inj.check(), () => inj.open(ctx())]) {
      await rejectsWith(call(), (err) => {
        assert.equal(err.retryable, true);
        assert.match(err.message, /ECONNREFUSED/);
      });
    }
  });

  void it('an admin that never answers times out, retryably', async () => {
    // A server that accepts and then says nothing.
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const inj = httpProxyInjector.create(httpProxyParamsSchema.parse({ admin: `http://127.0.0.1:${port}`, latencyMs: 5 }), { timeoutMs: 200 });
      await rejectsWith(inj.close({ injector: 'http-proxy', admin: `http://127.0.0.1:${port}`, windowId: 'w' }), (err) => {
        assert.equal(err.retryable, true);
        assert.match(err.message, /no answer within 200ms/);
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

void describe('http-proxy injector: A/A', () => {
  void it('noFault opens a window that injects nothing', async () => {
    const inj = injector({ noFault: true });
    const c = ctx();
    const handle = await inj.open(c);
    const { body } = await getJson(`${proxy.adminUrl}/windows/${c.runId}`);
    assert.equal(body.state, 'open');
    assert.equal(body.noFault, undefined);
    assert.equal(body.latencyMs, undefined);
    // Experiment and control requests interleaved, at the same moment: a busy machine slows both alike,
    // an injected delay only the experiment's.
    const both = await Promise.all(
      Array.from({ length: 40 }, (_, i) => timedGet(`${proxy.listenUrl}/checkout`, i % 2 === 0 ? experiment : control)),
    );
    assert.ok(both.every((r) => r.status === 200), JSON.stringify(both.map((r) => r.status)));
    const median = (rs: { ms: number }[]): number => rs.map((r) => r.ms).sort((a, b) => a - b)[rs.length >> 1]!;
    const exp = median(both.filter((_, i) => i % 2 === 0));
    const ctl = median(both.filter((_, i) => i % 2 === 1));
    // Any injected delay of 50 ms or more would show; below that is scheduling noise between the halves.
    assert.ok(exp - ctl < 50, `experiment median ${exp} ms, control ${ctl} ms`);
    await inj.close(handle);
  });
});

void describe('http-proxy injector: the window body', () => {
  void it('sends the run id, the deadline and the fault fields as numbers', async () => {
    const inj = injector({ latencyMs: '1s', jitterMs: 100, errorRate: '5%', errorStatus: 504, abortRate: 0.001, paths: ['/a*'], methods: ['GET'] });
    const c = ctx();
    const handle = await inj.open(c);
    const { body } = await getJson(`${proxy.adminUrl}/windows/${c.runId}`);
    assert.deepEqual(
      { latencyMs: body.latencyMs, jitterMs: body.jitterMs, errorRate: body.errorRate, errorStatus: body.errorStatus, abortRate: body.abortRate, paths: body.paths, methods: body.methods },
      { latencyMs: 1000, jitterMs: 100, errorRate: 0.05, errorStatus: 504, abortRate: 0.001, paths: ['/a*'], methods: ['GET'] },
    );
    await inj.close(handle);
  });
});

/**
 * Contract tests of the litmus injector against a local server that follows
 * the Kubernetes custom-objects API, with a simulated chaos-operator that
 * moves `status.engineStatus` and the experiment statuses along.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { closeWithRetry } from '../../src/injectors/close.ts';
import { objectNameFor } from '../../src/injectors/kube.ts';
import { litmusInjector, litmusParamsSchema, type LitmusDeps } from '../../src/injectors/litmus.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { InjectorError } from '../../src/lib/errors.ts';
import { FakeKube, TOKEN, type Obj } from './fake-kube.ts';

const kube = new FakeKube();
let kubeconfig = '';
before(async () => {
  await kube.start();
  kubeconfig = kube.writeKubeconfig();
});
after(async () => {
  await kube.stop();
});
afterEach(() => {
  kube.reset();
});

const fast: LitmusDeps = { pollIntervalMs: 10, timeoutMs: 2_000, cleanupPolicy: { attempts: 2, baseMs: 1, maxMs: 5 } };
const NS = 'shop';
const ENGINES = `/apis/litmuschaos.io/v1alpha1/namespaces/${NS}/chaosengines`;

function params(over: Record<string, unknown> = {}) {
  return litmusParamsSchema.parse({
    kubeconfig,
    namespace: NS,
    spec: {
      appinfo: { appns: NS, applabel: 'app=checkout', appkind: 'deployment' },
      chaosServiceAccount: 'pod-delete-sa',
      experiments: [{ name: 'pod-network-latency', spec: { components: { env: [{ name: 'NETWORK_LATENCY', value: '300' }] } } }, { name: 'pod-delete' }],
    },
    injectTimeout: '2s',
    recoverTimeout: '2s',
    ...over,
  });
}

let seq = 0;
function ctx(deadlineInMs = 120_000) {
  return { runId: `run-litmus-${++seq}`, experiment: 'checkout latency', deadline: new Date(Date.now() + deadlineInMs) };
}

/** Simulated chaos-operator: `running` after `runAfter` reads of an active engine, `stopped` after `stopAfter` reads of a stopped one. */
function operator(opts: { runAfter?: number; stopAfter?: number; never?: 'run' | 'stop'; completes?: boolean } = {}): void {
  const reads = new Map<string, number>();
  kube.onGet = (obj: Obj) => {
    const key = `${obj.metadata.name}:${String(obj.spec?.engineState)}`;
    const n = (reads.get(key) ?? 0) + 1;
    reads.set(key, n);
    const names = (obj.spec.experiments as { name: string }[]).map((e) => e.name);
    if (obj.spec.engineState === 'active') {
      if (opts.completes) obj.status = { engineStatus: 'completed', experiments: names.map((name) => ({ name, status: 'Completed' })) };
      else if (opts.never !== 'run' && n >= (opts.runAfter ?? 2)) obj.status = { engineStatus: 'initialized', experiments: names.map((name) => ({ name, status: 'Running' })) };
      else obj.status = { engineStatus: 'initialized', experiments: names.map((name) => ({ name, status: 'Waiting for Job Creation' })) };
    } else if (opts.never !== 'stop' && n >= (opts.stopAfter ?? 2)) {
      obj.status = { engineStatus: 'stopped', experiments: names.map((name) => ({ name, status: 'Aborted' })) };
    }
  };
}

/** A string field of a handle (handles are plain JSON). */
function str(v: unknown): string {
  assert.equal(typeof v, 'string');
  return v as string;
}

async function rejectsWith(p: Promise<unknown>, check: (err: InjectorError) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InjectorError, `not an InjectorError: ${inspect(err)}`);
    check(err);
    return true;
  });
}

void describe('litmus params', () => {
  void it('refuses engineState and TOTAL_CHAOS_DURATION, which steadystate sets', () => {
    const a = litmusParamsSchema.safeParse({ namespace: NS, spec: { engineState: 'active', experiments: [{ name: 'pod-delete' }] } });
    assert.equal(a.success, false);
    const b = litmusParamsSchema.safeParse({
      namespace: NS,
      spec: { experiments: [{ name: 'pod-delete', spec: { components: { env: [{ name: 'TOTAL_CHAOS_DURATION', value: '600' }] } } }] },
    });
    assert.equal(b.success, false);
    assert.deepEqual(b.error?.issues[0]?.path, ['spec', 'experiments', 0, 'spec', 'components', 'env', 0]);
    assert.equal(litmusParamsSchema.safeParse({ namespace: NS, spec: { experiments: [] } }).success, false);
  });
});

void describe('litmus injector', () => {
  void it('open creates an active ChaosEngine with the window as TOTAL_CHAOS_DURATION and waits for a running experiment', async () => {
    operator({ runAfter: 3 });
    const injector = litmusInjector.create(params(), fast);
    const c = ctx(60_000);
    const handle = await injector.open(c);

    const [post] = kube.server.sent('POST', ENGINES);
    assert.ok(post);
    assert.equal(post.headers.authorization, `Bearer ${TOKEN}`);
    const body = JSON.parse(post.body);
    assert.equal(body.kind, 'ChaosEngine');
    assert.equal(body.apiVersion, 'litmuschaos.io/v1alpha1');
    assert.equal(body.metadata.name, objectNameFor(c.runId));
    assert.equal(body.metadata.labels['app.kubernetes.io/managed-by'], 'steadystate');
    assert.equal(body.metadata.annotations['steadystate.dev/run-id'], c.runId);
    assert.equal(body.spec.engineState, 'active');
    assert.equal(body.spec.chaosServiceAccount, 'pod-delete-sa');
    const [latency, del] = body.spec.experiments;
    assert.deepEqual(latency.spec.components.env[0], { name: 'NETWORK_LATENCY', value: '300' });
    assert.match(latency.spec.components.env[1].value, /^(59|60)$/);
    assert.equal(latency.spec.components.env[1].name, 'TOTAL_CHAOS_DURATION');
    assert.equal(del.spec.components.env[0].name, 'TOTAL_CHAOS_DURATION');
    assert.equal(kube.server.sent('GET', `${ENGINES}/${body.metadata.name}`).length, 3);
    assert.deepEqual(JSON.parse(JSON.stringify(handle)), handle);
    assert.doesNotMatch(JSON.stringify(handle), new RegExp(TOKEN));
  });

  void it('status is active while running; close merge-patches engineState stop, waits for stopped, then deletes', async () => {
    operator({ runAfter: 1, stopAfter: 3 });
    const injector = litmusInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    const st = await injector.status(handle);
    assert.equal(st.state, 'active');
    assert.match(st.detail ?? '', /engineStatus initialized; experiments pod-network-latency: Running/);

    await injector.close(handle);
    const path = `${ENGINES}/${str(handle.name)}`;
    const [patch, ...more] = kube.server.sent('PATCH', path);
    assert.equal(more.length, 0);
    assert.equal(patch!.headers['content-type'], 'application/merge-patch+json');
    assert.deepEqual(JSON.parse(patch!.body), { spec: { engineState: 'stop' } });
    const after = kube.server.requests.slice(kube.server.requests.indexOf(patch!) + 1);
    assert.deepEqual(after.map((r) => r.method), ['GET', 'GET', 'GET', 'DELETE']);
    assert.equal(kube.objects.size, 0);
    assert.equal((await injector.status(handle)).state, 'closed');
  });

  void it('close of an engine that is already gone succeeds', async () => {
    const injector = litmusInjector.create(params(), fast);
    const handle: InjectorHandle = { injector: 'litmus', kubeconfig, namespace: NS, name: 'steadystate-gone', runId: 'r', recoverTimeoutMs: 1000 };
    await injector.close(handle);
    assert.deepEqual(kube.server.requests.map((r) => r.method), ['PATCH']);
  });

  void it('a close that fails, then succeeds, goes through closeWithRetry', async () => {
    operator({ runAfter: 1, stopAfter: 1 });
    const injector = litmusInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    kube.server.once('PATCH', '/apis/:g/:v/namespaces/:ns/:plural/:name', { status: 500, body: { kind: 'Status', message: 'Internal error occurred: etcdserver: request timed out' } });
    await closeWithRetry(injector, handle, { baseMs: 1, maxMs: 5 });
    assert.equal(kube.server.sent('PATCH').length, 2);
    assert.equal(kube.objects.size, 0);
  });

  void it('an engine whose experiment never runs fails the open, and is stopped and deleted', async () => {
    operator({ never: 'run', stopAfter: 1 });
    const injector = litmusInjector.create(params({ injectTimeout: '60ms' }), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_not_injected');
      assert.match(err.message, /no experiment running within 60 ms \(engineStatus initialized; experiments pod-network-latency: Waiting for Job Creation/);
      assert.match(err.message, /stopped and deleted again/);
    });
    assert.equal(kube.server.sent('PATCH').length, 1);
    assert.equal(kube.server.sent('DELETE').length, 1);
    assert.equal(kube.objects.size, 0);
  });

  void it('an engine that completes before its experiment is seen running fails the open', async () => {
    operator({ completes: true });
    const injector = litmusInjector.create(params(), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.match(err.message, /the engine ended before its experiment ran \(engineStatus completed/);
    });
    assert.equal(kube.objects.size, 0);
  });

  void it('a 403 is fatal and names the credential source, not the token', async () => {
    kube.forbidden = true;
    const injector = litmusInjector.create(params(), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.code, 'injector_auth');
      assert.equal(err.retryable, false);
      assert.ok(err.message.includes(`credentials from kubeconfig file ${kubeconfig}`), err.message);
      assert.match(err.message, /cannot post resource "chaosengines"/);
      assert.doesNotMatch(`${err.message}${inspect(err)}`, new RegExp(TOKEN));
    });
    assert.equal(kube.server.sent('DELETE').length, 0, 'nothing was created, nothing to clean up');
  });

  void it('listOwned finds our engines by label', async () => {
    kube.plant('litmuschaos.io', 'chaosengines', {
      metadata: { name: 'steadystate-old', namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'steadystate' }, annotations: { 'steadystate.dev/run-id': 'run-old' } },
      spec: { engineState: 'active', experiments: [{ name: 'pod-delete' }] },
    });
    const owned = await litmusInjector.create(params(), fast).listOwned!();
    assert.deepEqual(
      owned.map((o) => [o.runId, o.ref]),
      [['run-old', `chaosengine ${NS}/steadystate-old`]],
    );
  });
});

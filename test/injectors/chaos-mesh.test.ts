/**
 * Contract tests of the chaos-mesh injector against a local server that
 * follows the Kubernetes custom-objects API, with a simulated Chaos Mesh
 * controller (conditions Selected / AllInjected / AllRecovered, a finalizer
 * that recovers before the object goes).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { chaosMeshInjector, chaosMeshParamsSchema, createChaosMeshInjector, type ChaosMeshDeps } from '../../src/injectors/chaos-mesh.ts';
import { closeWithRetry } from '../../src/injectors/close.ts';
import { objectNameFor, runIdLabelValue } from '../../src/injectors/kube.ts';
import type { InjectorHandle } from '../../src/injectors/types.ts';
import { AbortedError, InjectorError } from '../../src/lib/errors.ts';
import { conditions, FakeKube, TOKEN, type Obj } from './fake-kube.ts';

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

const fast: ChaosMeshDeps = { pollIntervalMs: 10, timeoutMs: 2_000, cleanupPolicy: { attempts: 2, baseMs: 1, maxMs: 5 } };
const fastRetry = { baseMs: 1, maxMs: 5 };
const NS = 'shop';

function params(over: Record<string, unknown> = {}) {
  return chaosMeshParamsSchema.parse({
    kubeconfig,
    kind: 'NetworkChaos',
    namespace: NS,
    spec: { action: 'delay', mode: 'all', selector: { namespaces: [NS], labelSelectors: { app: 'checkout' } }, delay: { latency: '300ms' } },
    injectTimeout: '2s',
    recoverTimeout: '2s',
    ...over,
  });
}

let seq = 0;
function ctx(deadlineInMs = 120_000, signal?: AbortSignal) {
  return { runId: `run-20260101T000000Z-${String(++seq).padStart(6, '0')}`, experiment: 'checkout latency', deadline: new Date(Date.now() + deadlineInMs), ...(signal ? { signal } : {}) };
}

/** Simulated controller: injects after `afterGets` reads; deletion recovers, then the finalizer lets go after `finalizerGets` reads. */
function controller(opts: { afterGets?: number; finalizerGets?: number; neverInject?: boolean } = {}): void {
  const reads = new Map<string, number>();
  kube.onGet = (obj: Obj) => {
    const n = (reads.get(obj.metadata.name) ?? 0) + 1;
    reads.set(obj.metadata.name, n);
    if (obj.metadata.deletionTimestamp) {
      obj.status = { conditions: conditions('Selected', 'AllRecovered') };
      if (n >= (opts.finalizerGets ?? 1)) kube.objects.delete(FakeKube.key('chaos-mesh.org', obj.metadata.namespace, 'networkchaos', obj.metadata.name));
      return;
    }
    obj.status = { conditions: !opts.neverInject && n >= (opts.afterGets ?? 2) ? conditions('Selected', 'AllInjected') : conditions('Selected') };
  };
  kube.onDelete = () => 'keep';
}

/** Every string an error could leak through: message, causes, inspect and JSON forms. */
function everything(err: unknown): string {
  return `${inspect(err, { depth: 10 })}\n${JSON.stringify(err)}`;
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

void describe('chaos-mesh params', () => {
  void it('refuses a duration in the spec, since the window deadline sets it', () => {
    const r = chaosMeshParamsSchema.safeParse({ kind: 'PodChaos', namespace: NS, spec: { action: 'pod-kill', duration: '10m' } });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues), /fault\.duration/);
  });
  void it('knows the three kinds and wants a namespace name', () => {
    assert.equal(chaosMeshParamsSchema.safeParse({ kind: 'StressChaos', namespace: NS, spec: {} }).success, false);
    assert.equal(chaosMeshParamsSchema.safeParse({ kind: 'HTTPChaos', namespace: 'Not_A_Namespace', spec: {} }).success, false);
    assert.equal(chaosMeshParamsSchema.safeParse({ kind: 'HTTPChaos', namespace: NS, spec: {} }).success, true);
  });
  void it('derives DNS-safe object names and label values from run ids', () => {
    assert.equal(objectNameFor('run-20260101T000000Z-abc123'), 'steadystate-run-20260101t000000z-abc123');
    const odd = objectNameFor('Run/With Spaces_and:colons'.repeat(4));
    assert.match(odd, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(odd.length <= 63);
    assert.notEqual(objectNameFor('a b'), objectNameFor('a_b'));
    assert.equal(runIdLabelValue('run-20260101T000000Z-abc123'), 'run-20260101T000000Z-abc123');
    assert.match(runIdLabelValue(`x:${'y'.repeat(80)}`), /^[A-Za-z0-9][-A-Za-z0-9_.]{0,61}[A-Za-z0-9]$/);
  });
});

void describe('chaos-mesh injector', () => {
  void it('open creates the object with duration, labels and annotations, and waits for AllInjected', async () => {
    controller({ afterGets: 3 });
    const injector = chaosMeshInjector.create(params(), fast);
    const c = ctx(90_000);
    const handle = await injector.open(c);

    const [post, ...rest] = kube.server.sent('POST');
    assert.equal(rest.length, 0);
    assert.equal(post!.path, `/apis/chaos-mesh.org/v1alpha1/namespaces/${NS}/networkchaos`);
    assert.equal(post!.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(post!.headers['content-type'], 'application/json');
    const body = JSON.parse(post!.body);
    assert.equal(body.apiVersion, 'chaos-mesh.org/v1alpha1');
    assert.equal(body.kind, 'NetworkChaos');
    assert.equal(body.metadata.name, objectNameFor(c.runId));
    assert.deepEqual(body.metadata.labels, { 'app.kubernetes.io/managed-by': 'steadystate', 'steadystate.dev/run-id': c.runId });
    assert.deepEqual(body.metadata.annotations, { 'steadystate.dev/run-id': c.runId, 'steadystate.dev/experiment': 'checkout latency' });
    assert.equal(body.spec.action, 'delay');
    assert.deepEqual(body.spec.delay, { latency: '300ms' });
    // The backend's own deadline: 90 s from now, give or take the request time.
    assert.match(body.spec.duration, /^(89|90)s$/);
    // It polled until the third read, where the controller reported AllInjected.
    assert.equal(kube.server.sent('GET', `${post!.path}/${body.metadata.name}`).length, 3);

    assert.deepEqual(JSON.parse(JSON.stringify(handle)), handle);
    assert.equal(handle.injector, 'chaos-mesh');
    assert.equal(handle.name, body.metadata.name);
    assert.equal(handle.kubeconfig, kubeconfig);
    assert.doesNotMatch(JSON.stringify(handle), new RegExp(TOKEN));
  });

  void it('status reads the conditions; close deletes and waits until the finalizer lets go', async () => {
    controller({ afterGets: 1, finalizerGets: 3 });
    const injector = chaosMeshInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    assert.deepEqual(await injector.status(handle), { state: 'active', detail: 'AllInjected' });

    await injector.close(handle);
    const objPath = `/apis/chaos-mesh.org/v1alpha1/namespaces/${NS}/networkchaos/${str(handle.name)}`;
    assert.equal(kube.server.sent('DELETE', objPath).length, 1);
    assert.equal(kube.objects.size, 0);
    assert.equal((await injector.status(handle)).state, 'closed');
  });

  void it('close of an object that is already gone succeeds without waiting', async () => {
    const injector = chaosMeshInjector.create(params(), fast);
    const handle: InjectorHandle = { injector: 'chaos-mesh', kubeconfig, kind: 'NetworkChaos', namespace: NS, name: 'steadystate-gone', runId: 'r', recoverTimeoutMs: 1000 };
    await injector.close(handle);
    assert.equal(kube.server.sent('DELETE').length, 1);
    assert.equal(kube.server.sent('GET').length, 0);
  });

  void it('a close that fails, then succeeds, goes through closeWithRetry', async () => {
    controller({ afterGets: 1 });
    const injector = chaosMeshInjector.create(params(), fast);
    const handle = await injector.open(ctx());
    kube.server.once('DELETE', '/apis/:g/:v/namespaces/:ns/:plural/:name', { status: 503, body: { kind: 'Status', message: 'etcd leader changed' } });

    // One attempt by itself: retryable error, handle kept.
    await rejectsWith(injector.close(handle), (err) => {
      assert.equal(err.retryable, true);
      assert.match(err.message, /HTTP 503: etcd leader changed/);
    });
    kube.server.once('DELETE', '/apis/:g/:v/namespaces/:ns/:plural/:name', { status: 503 });
    await closeWithRetry(injector, handle, fastRetry);
    assert.equal(kube.server.sent('DELETE').length, 3);
    assert.equal(kube.objects.size, 0);
  });

  void it('a close that times out waiting for recovery is retryable and leaves the object to the next attempt', async () => {
    kube.onDelete = () => 'keep';
    kube.onGet = (obj) => {
      obj.status = { conditions: conditions('Selected', 'AllInjected') };
    };
    const injector = chaosMeshInjector.create(params({ recoverTimeout: '60ms' }), fast);
    const handle = await injector.open(ctx());
    await rejectsWith(injector.close(handle), (err) => {
      assert.equal(err.retryable, true);
      assert.equal(err.code, 'injector_not_recovered');
      assert.match(err.message, /still there/);
    });
  });

  void it('an object that never reaches AllInjected fails the open and is deleted', async () => {
    controller({ neverInject: true });
    kube.onDelete = () => 'remove';
    const injector = chaosMeshInjector.create(params({ injectTimeout: '80ms' }), fast);
    const started = Date.now();
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_not_injected');
      assert.match(err.message, /not injected within 80 ms \(Selected=True, AllInjected=False/);
      assert.match(err.message, /was deleted again/);
    });
    assert.ok(Date.now() - started < 1_500, 'the wait is bounded');
    assert.equal(kube.server.sent('DELETE').length, 1);
    assert.equal(kube.objects.size, 0);
  });

  void it('an abort while waiting still deletes what was created', async () => {
    controller({ neverInject: true });
    kube.onDelete = () => 'remove';
    const injector = chaosMeshInjector.create(params(), fast);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(injector.open(ctx(120_000, ac.signal)), AbortedError);
    assert.equal(kube.objects.size, 0);
  });

  void it('a retried open adopts the object its first attempt created; a foreign one is a conflict', async () => {
    controller({ afterGets: 1 });
    const injector = chaosMeshInjector.create(params(), fast);
    const c = ctx();
    const first = await injector.open(c);
    const second = await injector.open(c);
    assert.deepEqual(second, first);
    assert.equal(kube.objects.size, 1);

    const foreign = ctx();
    kube.plant('chaos-mesh.org', 'networkchaos', {
      metadata: { name: objectNameFor(foreign.runId), namespace: NS, annotations: { 'steadystate.dev/run-id': 'someone-else' } },
    });
    await rejectsWith(injector.open(foreign), (err) => {
      assert.equal(err.code, 'injector_conflict');
      assert.equal(err.retryable, false);
    });
    assert.ok(kube.get('chaos-mesh.org', NS, 'networkchaos', objectNameFor(foreign.runId)), 'a foreign object is never deleted');
  });

  void it('401 and 403 are fatal and name the credential source, never the token', async () => {
    const badConfig = kube.writeKubeconfig({ token: 'wrong-token-do-not-print', user: 'ci-bot' });
    const injector = chaosMeshInjector.create(params({ kubeconfig: badConfig }), fast);
    await rejectsWith(injector.open(ctx()), (err) => {
      assert.equal(err.retryable, false);
      assert.equal(err.code, 'injector_auth');
      assert.match(err.message, /HTTP 401/);
      assert.ok(err.message.includes(`kubeconfig file ${badConfig}`), err.message);
      assert.match(err.message, /user ci-bot, bearer token/);
      assert.doesNotMatch(everything(err), /wrong-token-do-not-print/);
    });

    kube.forbidden = true;
    const ok = chaosMeshInjector.create(params(), fast);
    await rejectsWith(ok.close({ injector: 'chaos-mesh', kubeconfig, kind: 'NetworkChaos', namespace: NS, name: 'x', runId: 'r', recoverTimeoutMs: 1000 }), (err) => {
      assert.equal(err.code, 'injector_auth');
      assert.match(err.message, /HTTP 403 forbidden/);
      assert.match(err.message, /cannot delete resource "networkchaos"/);
      assert.doesNotMatch(everything(err), new RegExp(TOKEN));
    });
  });

  void it('reads KUBECONFIG from the environment and says so in errors', async () => {
    kube.forbidden = true;
    const injector = createChaosMeshInjector(params({ kubeconfig: undefined }), { ...fast, env: { KUBECONFIG: kubeconfig } });
    await rejectsWith(injector.check(), (err) => {
      assert.ok(err.message.includes(`KUBECONFIG=${kubeconfig}`), err.message);
    });
  });

  void it('uses an exec credential plugin (as EKS and GKE kubeconfigs do)', async () => {
    const { writeFileSync } = await import('node:fs');
    const script = `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: ${JSON.stringify(TOKEN)} } }))`;
    const file = kube.writeKubeconfig();
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'clusters: [{ name: c, cluster: { server: "' + kube.url + '" } }]',
        'users:',
        '- name: eks',
        '  user:',
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        `      command: ${JSON.stringify(process.execPath)}`,
        `      args: ["-e", ${JSON.stringify(script)}]`,
        'contexts: [{ name: c, context: { cluster: c, user: eks } }]',
        'current-context: c',
      ].join('\n'),
    );
    const injector = chaosMeshInjector.create(params({ kubeconfig: file }), fast);
    await injector.check();
    assert.equal(kube.server.requests.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
  });

  void it('check lists one object; an uninstalled CRD is a fatal error that says so', async () => {
    const injector = chaosMeshInjector.create(params(), fast);
    await injector.check();
    const list = kube.server.sent('GET').at(-1)!;
    assert.equal(list.path, `/apis/chaos-mesh.org/v1alpha1/namespaces/${NS}/networkchaos`);
    assert.equal(list.query.get('limit'), '1');

    kube.served.delete('chaos-mesh.org/networkchaos');
    await rejectsWith(injector.check(), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /is the chaos-mesh\.org custom resource \(networkchaos\) installed/);
    });
  });

  void it('a deadline already passed fails before anything is created', async () => {
    const injector = chaosMeshInjector.create(params(), fast);
    await rejectsWith(injector.open(ctx(-1_000)), (err) => assert.equal(err.code, 'injector_deadline'));
    assert.equal(kube.server.requests.length, 0);
  });

  void it('listOwned finds our objects of every kind by label, with the exact run id', async () => {
    kube.served.delete('chaos-mesh.org/httpchaos');
    kube.plant('chaos-mesh.org', 'podchaos', {
      metadata: { name: 'steadystate-x', namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'steadystate', 'steadystate.dev/run-id': 'run-X' }, annotations: { 'steadystate.dev/run-id': 'run-X' } },
    });
    kube.plant('chaos-mesh.org', 'podchaos', { metadata: { name: 'someone-elses', namespace: NS, labels: { app: 'other' } } });
    const injector = chaosMeshInjector.create(params(), fast);
    const owned = await injector.listOwned!();
    assert.equal(owned.length, 1);
    assert.equal(owned[0]!.runId, 'run-X');
    assert.equal(owned[0]!.ref, `podchaos ${NS}/steadystate-x`);
    assert.equal(owned[0]!.handle.kind, 'PodChaos');
    const selectors = kube.server.sent('GET').map((r) => r.query.get('labelSelector'));
    assert.ok(selectors.every((s) => s === 'app.kubernetes.io/managed-by=steadystate'));
  });
});

void describe('chaos-mesh sweep with a one-kind Role', () => {
  void it('skips kinds the Role does not cover, but not the configured kind', async () => {
    kube.server.once('GET', '/apis/chaos-mesh.org/v1alpha1/namespaces/:ns/httpchaos', { status: 403, body: { kind: 'Status', message: 'forbidden' } });
    kube.server.once('GET', '/apis/chaos-mesh.org/v1alpha1/namespaces/:ns/podchaos', { status: 403, body: { kind: 'Status', message: 'forbidden' } });
    const injector = chaosMeshInjector.create(params(), fast);
    assert.deepEqual(await injector.listOwned!(), []);

    kube.server.once('GET', '/apis/chaos-mesh.org/v1alpha1/namespaces/:ns/networkchaos', { status: 403, body: { kind: 'Status', message: 'forbidden' } });
    await rejectsWith(injector.listOwned!(), (err) => assert.equal(err.code, 'injector_auth'));
  });
});

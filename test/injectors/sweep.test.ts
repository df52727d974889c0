/**
 * The orphan sweep against local servers that follow the Kubernetes
 * custom-objects API (Chaos Mesh) and Toxiproxy's API: planted orphans are
 * removed and reported, faults of active runs and objects that are not ours
 * are left alone.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { chaosMeshParamsSchema, createChaosMeshInjector } from '../../src/injectors/chaos-mesh.ts';
import { reapToxics, sweepOrphans, type SweepLogger } from '../../src/injectors/sweep.ts';
import { toxiproxyInjector, toxiproxyParamsSchema } from '../../src/injectors/toxiproxy.ts';
import type { Injector } from '../../src/injectors/types.ts';
import { webhookInjector } from '../../src/injectors/webhook.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { conditions, FakeKube, type Obj } from './fake-kube.ts';
import { FakeToxiproxy } from './fake-toxiproxy.ts';

const kube = new FakeKube();
const toxi = new FakeToxiproxy();
let kubeconfig = '';
before(async () => {
  await Promise.all([kube.start(), toxi.start()]);
  kubeconfig = kube.writeKubeconfig();
});
after(async () => {
  await Promise.all([kube.stop(), toxi.stop()]);
});
afterEach(() => {
  kube.reset();
  toxi.reset();
});

const fastClose = { baseMs: 1, maxMs: 5, attempts: 3 };

class RecordingLogger implements SweepLogger {
  readonly lines: { level: string; obj: object; msg: string }[] = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', obj, msg });
  }
}

function chaosObject(name: string, runId: string | undefined): Obj {
  return {
    apiVersion: 'chaos-mesh.org/v1alpha1',
    kind: 'NetworkChaos',
    metadata: {
      name,
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'steadystate', ...(runId ? { 'steadystate.dev/run-id': runId } : {}) },
      ...(runId ? { annotations: { 'steadystate.dev/run-id': runId } } : {}),
    },
    spec: { action: 'delay', mode: 'all', duration: '120s' },
    status: { conditions: conditions('Selected', 'AllInjected') },
  };
}

function chaosMesh(): Injector {
  return createChaosMeshInjector(chaosMeshParamsSchema.parse({ kubeconfig, kind: 'NetworkChaos', namespace: 'shop', spec: { action: 'delay' } }), {
    pollIntervalMs: 10,
  });
}

void describe('orphan sweep', () => {
  void it('removes a planted Chaos Mesh orphan and keeps the active run’s fault', async () => {
    kube.plant('chaos-mesh.org', 'networkchaos', chaosObject('steadystate-run-dead', 'run-dead'));
    kube.plant('chaos-mesh.org', 'networkchaos', chaosObject('steadystate-run-live', 'run-live'));
    kube.plant('chaos-mesh.org', 'networkchaos', { metadata: { name: 'team-owned', namespace: 'shop', labels: { app: 'chaos' } } });
    kube.onDelete = () => 'keep';
    kube.onGet = (obj) => {
      if (obj.metadata.deletionTimestamp) kube.objects.delete(FakeKube.key('chaos-mesh.org', 'shop', 'networkchaos', obj.metadata.name));
    };
    const logger = new RecordingLogger();

    const report = await sweepOrphans({ adapters: [chaosMesh()], activeRunIds: new Set(['run-live']), logger, closePolicy: fastClose });

    assert.deepEqual(report.removed, [{ kind: 'chaos-mesh', runId: 'run-dead', ref: 'networkchaos shop/steadystate-run-dead' }]);
    assert.deepEqual(report.kept, [{ kind: 'chaos-mesh', runId: 'run-live', ref: 'networkchaos shop/steadystate-run-live' }]);
    assert.deepEqual(report.failed, []);
    assert.equal(kube.get('chaos-mesh.org', 'shop', 'networkchaos', 'steadystate-run-dead'), undefined);
    assert.ok(kube.get('chaos-mesh.org', 'shop', 'networkchaos', 'steadystate-run-live'));
    assert.ok(kube.get('chaos-mesh.org', 'shop', 'networkchaos', 'team-owned'));
    assert.deepEqual(
      kube.server.sent('DELETE').map((r) => r.path),
      ['/apis/chaos-mesh.org/v1alpha1/namespaces/shop/networkchaos/steadystate-run-dead'],
    );
    assert.deepEqual(logger.lines.map((l) => [l.level, l.msg]), [['info', 'orphan sweep: removed a fault no active run owns']]);
  });

  void it('reaps a planted Toxiproxy orphan on any proxy, keeping active runs and other toxics', async () => {
    const mk = (name: string) => ({ name, type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 100 } });
    toxi.addProxy('redis', [mk('steadystate-run-dead'), mk('latency_downstream')]);
    toxi.addProxy('pg', [mk('steadystate-run-live')]);

    const report = await reapToxics({ url: toxi.url, activeRunIds: () => Promise.resolve(['run-live']), closePolicy: fastClose });

    assert.deepEqual(report.removed, [{ kind: 'toxiproxy', runId: 'run-dead', ref: 'toxic redis/steadystate-run-dead' }]);
    assert.deepEqual(report.kept.map((k) => k.runId), ['run-live']);
    assert.deepEqual(toxi.proxies.get('redis')?.toxics.map((t) => t.name), ['latency_downstream']);
    assert.deepEqual(toxi.proxies.get('pg')?.toxics.map((t) => t.name), ['steadystate-run-live']);
    assert.deepEqual(toxi.server.sent('DELETE').map((r) => r.path), ['/proxies/redis/toxics/steadystate-run-dead']);
  });

  void it('reads the active runs after listing, so a run that starts meanwhile is not swept', async () => {
    toxi.addProxy('redis', [{ name: 'steadystate-run-new', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1 } }]);
    let listed = false;
    toxi.server.once('GET', '/proxies', () => {
      listed = true;
      return { status: 200, body: Object.fromEntries(toxi.proxies) };
    });
    const report = await reapToxics({
      url: toxi.url,
      activeRunIds: () => {
        assert.ok(listed, 'active runs are read after listing');
        return ['run-new'];
      },
    });
    assert.equal(report.removed.length, 0);
    assert.equal(report.kept.length, 1);
  });

  void it('reports what it cannot list or remove, and goes on with the rest', async () => {
    toxi.addProxy('redis', [{ name: 'steadystate-run-dead', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1 } }]);
    toxi.server.once('DELETE', '/proxies/:p/toxics/:t', { status: 500, body: { error: 'boom', status: 500 } });
    toxi.server.once('DELETE', '/proxies/:p/toxics/:t', { status: 500, body: { error: 'boom', status: 500 } });
    kube.forbidden = true;
    const webhook = webhookInjector.create(
      webhookInjector.paramsSchema.parse({ open: { url: 'http://127.0.0.1:9/open' }, close: { url: 'http://127.0.0.1:9/close' } }),
      {},
    );
    const toxiproxy = toxiproxyInjector.create(toxiproxyParamsSchema.parse({ url: toxi.url, proxy: 'redis', type: 'timeout', attributes: { timeout: 0 } }), {});
    const logger = new RecordingLogger();

    const report = await sweepOrphans({ adapters: [webhook, chaosMesh(), toxiproxy, toxiproxy], activeRunIds: [], logger, closePolicy: { ...fastClose, attempts: 2 } });

    assert.deepEqual(report.notSweepable, ['webhook']);
    assert.equal(report.listFailed.length, 1);
    assert.equal(report.listFailed[0]!.kind, 'chaos-mesh');
    assert.match(report.listFailed[0]!.error, /HTTP 403 forbidden/);
    // Listed twice (two adapters on the same server), removed once; both attempts failed.
    assert.equal(report.failed.length, 1);
    assert.match(report.failed[0]!.error, /HTTP 500: boom/);
    assert.equal(toxi.server.sent('DELETE').length, 2);
    assert.deepEqual(logger.lines.map((l) => l.level), ['warn', 'warn']);
    // The next sweep succeeds.
    const again = await sweepOrphans({ adapters: [toxiproxy], activeRunIds: [], closePolicy: fastClose });
    assert.equal(again.removed.length, 1);
  });

  void it('accepts the service logger (pino)', async () => {
    const report = await sweepOrphans({ adapters: [], activeRunIds: [], logger: createLogger({ level: 'silent' }) });
    assert.deepEqual(report, { removed: [], kept: [], failed: [], listFailed: [], notSweepable: [] });
  });
});

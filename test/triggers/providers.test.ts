/**
 * The other deploy providers through the HTTP app — Argo CD (shared secret),
 * CDEvents (structured, CloudEvents binary and structured modes) and the
 * generic HMAC webhook (timestamp.body, 5-minute window) — and the matching
 * rules every provider shares. Each refusal is checked to write nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { matchExperiments } from '../../src/triggers/deploy-matching.ts';
import type { ExperimentVersion } from '../../src/store/types.ts';
import { argocdProvider } from '../../src/triggers/argocd.ts';
import { cdeventsProvider } from '../../src/triggers/cdevents.ts';
import { genericProvider } from '../../src/triggers/generic.ts';
import { WebhookError } from '../../src/triggers/types.ts';
import {
  addExperiment,
  ARGOCD_SECRET,
  CDEVENTS_SECRET,
  GENERIC_SECRET,
  genericHeaders,
  snapshotTables,
  startHookHarness,
  taggedSpec,
  type HookHarness,
} from './helpers.ts';

function argoBody(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    app: 'shop',
    environment: 'staging',
    revision: '7c2b9f4e1d0a3b5c6d7e8f9a0b1c2d3e4f5a6b7c',
    phase: 'Succeeded',
    health: 'Healthy',
    finishedAt: new Date().toISOString(),
    ...over,
  });
}

function cdevent(over: { type?: string; id?: string; service?: string; environment?: string; at?: string } = {}): Record<string, unknown> {
  return {
    context: {
      version: '0.4.1',
      id: over.id ?? '271069a8-fc18-44f1-b38f-9d70a1695819',
      source: '/tekton/pipelines/deploy-shop',
      type: over.type ?? 'dev.cdevents.service.deployed.0.2.0',
      timestamp: over.at ?? new Date().toISOString(),
    },
    subject: {
      id: over.service ?? 'service/shop',
      source: '/tekton/pipelines/deploy-shop',
      type: 'service',
      content: {
        environment: { id: over.environment ?? 'staging', source: '/clusters/eu-1' },
        artifactId: 'pkg:oci/shop@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427',
      },
    },
  };
}

describe('deploy providers over HTTP', () => {
  let h: HookHarness;

  const refused = async (provider: string, body: string, headers: Record<string, string>, status: number, error?: string) => {
    const before = await snapshotTables(h.sql);
    const res = await h.app.inject({ method: 'POST', url: `/hooks/deploy/${provider}`, headers, payload: body });
    assert.equal(res.statusCode, status, res.body);
    if (error) assert.equal(res.json().error, error, res.body);
    assert.deepEqual(await snapshotTables(h.sql), before, 'a refused delivery must not write anything');
  };

  const accepted = async (provider: string, body: string, headers: Record<string, string>): Promise<{ id: string; experiment: string }[]> => {
    const res = await h.app.inject({ method: 'POST', url: `/hooks/deploy/${provider}`, headers, payload: body });
    assert.equal(res.statusCode, 202, res.body);
    const runs = res.json().runs as { id: string; experiment: string }[];
    await Promise.all(runs.map((r) => h.runs.settled(r.id)));
    return runs;
  };

  before(async () => {
    h = await startHookHarness();
    await addExperiment(h.store, 'shop-staging', { service: 'shop', environment: 'staging' });
  });
  after(async () => h?.close());

  describe('argocd', () => {
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${ARGOCD_SECRET}` };

    it('a Succeeded, Healthy sync starts the tagged runs; a redelivery returns them', async () => {
      h.clock.now = Date.now();
      const body = argoBody({ id: 'shop-7c2b9f4-1', finishedAt: new Date(h.clock.now - 5_000).toISOString() });
      const runs = await accepted('argocd', body, auth);
      assert.deepEqual(runs.map((r) => r.experiment), ['shop-staging']);
      const again = await h.app.inject({ method: 'POST', url: '/hooks/deploy/argocd', headers: auth, payload: body });
      assert.equal(again.statusCode, 202);
      assert.equal(again.json().duplicate, true);
      assert.deepEqual(again.json().runs.map((r: { id: string }) => r.id), runs.map((r) => r.id));
    });

    it('refuses a missing or wrong shared secret (401), a stale sync (422), a missing environment (400)', async () => {
      const body = argoBody();
      await refused('argocd', body, { 'content-type': 'application/json' }, 401, 'missing_signature');
      await refused('argocd', body, { ...auth, authorization: 'Bearer not-the-secret' }, 401, 'bad_signature');
      await refused('argocd', body, { ...auth, authorization: `Basic ${Buffer.from(`u:${ARGOCD_SECRET}`).toString('base64')}` }, 401, 'bad_signature');
      await refused('argocd', argoBody({ finishedAt: new Date(Date.now() - 3 * 3_600_000).toISOString() }), auth, 422, 'stale_delivery');
      await refused('argocd', argoBody({ environment: '<no value>' }), auth, 400, 'malformed_delivery');
    });

    it('ignores a sync that did not succeed or is not healthy (200, nothing written)', async () => {
      for (const over of [{ phase: 'Failed' }, { phase: 'Running' }, { health: 'Degraded' }]) {
        const before = await snapshotTables(h.sql);
        const res = await h.app.inject({ method: 'POST', url: '/hooks/deploy/argocd', headers: auth, payload: argoBody(over) });
        assert.equal(res.statusCode, 200, res.body);
        assert.ok(res.json().ignored);
        assert.deepEqual(await snapshotTables(h.sql), before);
      }
    });
  });

  describe('cdevents', () => {
    const auth = { authorization: `Bearer ${CDEVENTS_SECRET}` };

    it('accepts a bare CDEvent, CloudEvents binary mode and structured mode', async () => {
      h.clock.now = Date.now();
      const bare = JSON.stringify(cdevent({ id: 'cde-bare-1' }));
      assert.equal((await accepted('cdevents', bare, { ...auth, 'content-type': 'application/cdevents+json' })).length, 1);

      const binary = JSON.stringify(cdevent({ id: 'cde-binary-1', type: 'dev.cdevents.service.deployed.0.1.1' }));
      const binaryHeaders = {
        ...auth,
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'cde-binary-1',
        'ce-source': '/tekton/pipelines/deploy-shop',
        'ce-type': 'dev.cdevents.service.deployed.0.1.1',
      };
      assert.equal((await accepted('cdevents', binary, binaryHeaders)).length, 1);

      const structured = JSON.stringify({
        specversion: '1.0',
        id: 'cde-structured-1',
        source: '/tekton/pipelines/deploy-shop',
        type: 'dev.cdevents.service.deployed.0.3.0',
        datacontenttype: 'application/json',
        data: cdevent({ id: 'cde-structured-1', type: 'dev.cdevents.service.deployed.0.3.0' }),
      });
      assert.equal((await accepted('cdevents', structured, { ...auth, 'content-type': 'application/cloudevents+json' })).length, 1);
    });

    it('ignores other CDEvents and versions outside 0.1–0.3; refuses non-CDEvents and mismatched CloudEvent types', async () => {
      for (const type of ['dev.cdevents.service.removed.0.2.0', 'dev.cdevents.service.deployed.0.4.0', 'dev.cdevents.pipelinerun.finished.0.2.0']) {
        const before = await snapshotTables(h.sql);
        const res = await h.app.inject({ method: 'POST', url: '/hooks/deploy/cdevents', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(cdevent({ type })) });
        assert.equal(res.statusCode, 200, res.body);
        assert.match(res.json().ignored, /not dev\.cdevents\.service\.deployed/);
        assert.deepEqual(await snapshotTables(h.sql), before);
      }
      await refused('cdevents', JSON.stringify(cdevent({ type: 'com.example.deployed' })), { ...auth, 'content-type': 'application/json' }, 400, 'malformed_delivery');
      await refused(
        'cdevents',
        JSON.stringify(cdevent({ type: 'dev.cdevents.service.deployed.0.2.0' })),
        { ...auth, 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-type': 'dev.cdevents.service.removed.0.2.0' },
        400,
        'malformed_delivery',
      );
    });

    it('refuses without the shared secret, stale events and missing fields, writing nothing', async () => {
      const body = JSON.stringify(cdevent({ id: 'cde-refused' }));
      await refused('cdevents', body, { 'content-type': 'application/json' }, 401, 'missing_signature');
      await refused('cdevents', body, { authorization: 'Bearer wrong', 'content-type': 'application/json' }, 401, 'bad_signature');
      await refused('cdevents', JSON.stringify(cdevent({ at: new Date(Date.now() - 2 * 3_600_000).toISOString() })), { ...auth, 'content-type': 'application/json' }, 422, 'stale_delivery');
      const noEnv = cdevent();
      delete (noEnv.subject as { content: Record<string, unknown> }).content.environment;
      await refused('cdevents', JSON.stringify(noEnv), { ...auth, 'content-type': 'application/json' }, 400, 'malformed_delivery');
    });
  });

  describe('generic', () => {
    it('HMAC over "timestamp.body": fresh and signed starts the runs', async () => {
      h.clock.now = Date.now();
      const body = JSON.stringify({ service: 'shop', environment: 'staging', revision: 'v1.2.3' });
      const runs = await accepted('generic', body, genericHeaders(body, { timestamp: Math.floor(h.clock.now / 1000), delivery: 'ci-run-4711' }));
      assert.deepEqual(runs.map((r) => r.experiment), ['shop-staging']);
    });

    it('refuses a timestamp older than 5 minutes, or more than 5 minutes ahead, even with a valid signature', async () => {
      const body = JSON.stringify({ service: 'shop', environment: 'staging' });
      const now = Math.floor(Date.now() / 1000);
      h.clock.now = now * 1000;
      await refused('generic', body, genericHeaders(body, { timestamp: now - 301 }), 401, 'stale_delivery');
      await refused('generic', body, genericHeaders(body, { timestamp: now + 301 }), 401, 'stale_delivery');
    });

    it('refuses a timestamp changed after signing, a tampered body, a missing header, another secret', async () => {
      const body = JSON.stringify({ service: 'shop', environment: 'staging' });
      const now = Math.floor(Date.now() / 1000);
      h.clock.now = now * 1000;
      const headers = genericHeaders(body, { timestamp: now - 10 });
      await refused('generic', body, { ...headers, 'x-steadystate-timestamp': String(now) }, 401, 'bad_signature');
      await refused('generic', body.replace('staging', 'production'), headers, 401, 'bad_signature');
      const { 'x-steadystate-signature': _sig, ...unsigned } = headers;
      await refused('generic', body, unsigned, 401, 'missing_signature');
      await refused('generic', body, genericHeaders(body, { timestamp: now, secret: 'another-secret-0123456789' }), 401, 'bad_signature');
    });

    it('a replay inside the 5-minute window under a new delivery id is 409', async () => {
      h.clock.now = Date.now();
      const body = JSON.stringify({ service: 'shop', environment: 'staging', revision: 'v2' });
      const ts = Math.floor(h.clock.now / 1000);
      await accepted('generic', body, genericHeaders(body, { timestamp: ts, delivery: 'ci-run-5000' }));
      await refused('generic', body, genericHeaders(body, { timestamp: ts, delivery: 'ci-run-5001' }), 409, 'replayed_delivery');
      // The same delivery id with another body is a replay too.
      const other = JSON.stringify({ service: 'shop', environment: 'staging', revision: 'v3' });
      await refused('generic', other, genericHeaders(other, { timestamp: ts, delivery: 'ci-run-5000' }), 409, 'replayed_delivery');
    });

    it('a retry re-signed with a fresh timestamp and the same id gets the same runs', async () => {
      h.clock.now = Date.now();
      const body = JSON.stringify({ service: 'shop', environment: 'staging', revision: 'v4', id: 'ci-run-6000' });
      const first = await accepted('generic', body, genericHeaders(body, { timestamp: Math.floor(h.clock.now / 1000) }));
      h.clock.now += 90_000;
      const before = await snapshotTables(h.sql);
      const res = await h.app.inject({ method: 'POST', url: '/hooks/deploy/generic', headers: genericHeaders(body, { timestamp: Math.floor(h.clock.now / 1000) }), payload: body });
      assert.equal(res.statusCode, 202, res.body);
      assert.equal(res.json().duplicate, true);
      assert.deepEqual(res.json().runs.map((r: { id: string }) => r.id), first.map((r) => r.id));
      assert.deepEqual(await snapshotTables(h.sql), before);
    });

    it('the same body after the replay window is a new deploy (the same revision deployed again)', async () => {
      h.clock.now = Date.now();
      const body = JSON.stringify({ service: 'shop', environment: 'staging', revision: 'v5' });
      const first = await accepted('generic', body, genericHeaders(body, { timestamp: Math.floor(h.clock.now / 1000) }));
      h.clock.now += 11 * 60_000;
      const again = await accepted('generic', body, genericHeaders(body, { timestamp: Math.floor(h.clock.now / 1000) }));
      assert.equal(again.length, 1);
      assert.notEqual(again[0]!.id, first[0]!.id);
    });
  });
});

describe('providers are pure: they authenticate before they parse', () => {
  it('an unauthenticated garbage body is a 401, not a parse error', () => {
    const request = { headers: { 'content-type': 'application/json' }, body: Buffer.from('{not json') };
    for (const [provider, secret] of [[argocdProvider, ARGOCD_SECRET], [cdeventsProvider, CDEVENTS_SECRET], [genericProvider, GENERIC_SECRET]] as const) {
      assert.throws(() => provider.verify(request, secret, Date.now()), (err: unknown) => err instanceof WebhookError && err.httpStatus === 401);
    }
  });
});

describe('deploy matching', () => {
  const version = (name: string, opts: Parameters<typeof taggedSpec>[1]): ExperimentVersion => ({
    name,
    version: 1,
    spec: taggedSpec(name, opts),
    source: '',
    format: 'yaml',
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'test',
  });
  const all = [
    version('a', { service: 'shop', environment: 'staging' }),
    version('b', { service: 'Shop', environment: 'STAGING' }),
    version('c', { service: 'shop', environment: 'production' }),
    version('d', { service: 'shop', environment: null }),
    version('e', { service: 'shop', environment: 'staging', labels: { 'steadystate.dev/on-deploy': 'false' } }),
    version('f', { service: 'checkout', environment: 'staging' }),
  ];
  const names = (service: string, environment: string) => matchExperiments(all, { service, environment }).map((e) => e.name);

  it('needs both service and environment; compares case-insensitively; honours the opt-out label', () => {
    assert.deepEqual(names('shop', 'staging'), ['a', 'b']);
    assert.deepEqual(names(' SHOP ', 'Staging'), ['a', 'b']);
    assert.deepEqual(names('shop', 'production'), ['c']);
    assert.deepEqual(names('shop', 'qa'), []);
  });

  it('matches a path-like deploy value by its last segment too', () => {
    assert.deepEqual(names('service/shop', 'cluster-eu/staging'), ['a', 'b']);
    assert.deepEqual(names('services/checkout', 'staging'), ['f']);
    assert.deepEqual(names('shop/extra', 'staging'), []);
  });
});

/**
 * GitHub `deployment_status` deliveries through the real HTTP app, signed
 * and tampered. The payloads follow GitHub's documented webhook shape
 * (fixtures/deployment-status-success.json); the body is signed as GitHub
 * does, over its exact bytes.
 *
 * The promise under test: a success starts the tagged runs (202, status URLs,
 * within a second) and a redelivery returns the same runs; every refused
 * delivery — tampered, unsigned, wrongly signed, replayed, stale, malformed,
 * for a disabled provider — is a 4xx and leaves every table exactly as it was
 * (row counts and content digests before and after).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TERMINAL_STATES } from '../../src/engine/types.ts';
import {
  addExperiment,
  deploymentStatus,
  githubHeaders,
  githubSignature,
  snapshotTables,
  startHookHarness,
  type HookHarness,
} from './helpers.ts';

const DELIVERY = '9f1c2b30-17a4-11f1-8d4e-2a1b3c4d5e6f';

describe('POST /hooks/deploy/github', () => {
  let h: HookHarness;
  let startedIds: string[] = [];

  const send = (body: string | Buffer, headers: Record<string, string>, provider = 'github') =>
    h.app.inject({ method: 'POST', url: `/hooks/deploy/${provider}`, headers, payload: body });

  /** Runs a refused delivery and asserts the status and that no table changed. */
  const refused = async (body: string | Buffer, headers: Record<string, string>, status: number, error?: string, provider = 'github') => {
    const before = await snapshotTables(h.sql);
    const res = await send(body, headers, provider);
    assert.equal(res.statusCode, status, res.body);
    if (error) assert.equal(res.json().error, error, res.body);
    assert.deepEqual(await snapshotTables(h.sql), before, 'a refused delivery must not write anything');
    return res;
  };

  before(async () => {
    h = await startHookHarness();
    await addExperiment(h.store, 'checkout-latency', { service: 'shop', environment: 'staging' });
    await addExperiment(h.store, 'search-errors', { service: 'Shop', environment: 'Staging' });
    await addExperiment(h.store, 'prod-only', { service: 'shop', environment: 'production' });
    await addExperiment(h.store, 'no-environment', { service: 'shop', environment: null });
    await addExperiment(h.store, 'schedule-only', { service: 'shop', environment: 'staging', labels: { 'steadystate.dev/on-deploy': 'false' } });
    await addExperiment(h.store, 'billing', { service: 'billing', environment: 'staging' });
  });
  after(async () => h?.close());

  it('a signed success starts the runs tagged for the service and environment: 202 with ids and status URLs, within a second', async () => {
    h.clock.now = Date.now();
    const body = JSON.stringify(deploymentStatus({ at: new Date(h.clock.now - 30_000) }));
    const t0 = performance.now();
    const res = await send(body, githubHeaders(body, { delivery: DELIVERY }));
    const elapsed = performance.now() - t0;
    assert.equal(res.statusCode, 202, res.body);
    assert.ok(elapsed < 1000, `answered in ${Math.round(elapsed)}ms`);
    const answer = res.json();
    assert.equal(answer.provider, 'github');
    assert.equal(answer.delivery, DELIVERY);
    assert.equal(answer.duplicate, false);
    assert.equal(answer.service, 'shop');
    assert.equal(answer.environment, 'staging');
    assert.deepEqual(answer.runs.map((r: { experiment: string }) => r.experiment), ['checkout-latency', 'search-errors'], res.body);
    for (const run of answer.runs) {
      assert.equal(run.created, true);
      assert.equal(run.url, `https://chaos.example.com/api/v1/runs/${run.id}`);
      const stored = await h.store.runs.get(run.id);
      assert.ok(stored, `run ${run.id} is stored`);
      assert.equal(stored.idempotencyKey, `github:${DELIVERY}`);
      assert.match(stored.actor, /^webhook:github /);
    }
    assert.deepEqual(answer.skipped, []);
    startedIds = answer.runs.map((r: { id: string }) => r.id);
    const [recorded] = await h.triggers.findDeliveries('github', DELIVERY, '0'.repeat(64), new Date());
    assert.deepEqual(recorded?.result.runs.map((r) => r.id), startedIds);
    // The runs go on in the background (their source is a closed port: they end quickly); let them
    // finish so later snapshots are not disturbed by their events.
    await Promise.all(startedIds.map((id) => h.runs.settled(id)));
    for (const id of startedIds) assert.ok((TERMINAL_STATES as readonly string[]).includes((await h.store.runs.get(id))!.state));
  });

  it('a redelivery (same X-GitHub-Delivery, same bytes) returns the same runs and writes nothing', async () => {
    const [first] = await h.triggers.findDeliveries('github', DELIVERY, '0'.repeat(64), new Date());
    assert.ok(first);
    // Rebuild the very same bytes: the first delivery's timestamp is in the record of its runs.
    const body = JSON.stringify(deploymentStatus({ at: new Date(h.clock.now - 30_000) }));
    const before = await snapshotTables(h.sql);
    const res = await send(body, githubHeaders(body, { delivery: DELIVERY }));
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().duplicate, true);
    assert.deepEqual(res.json().runs.map((r: { id: string }) => r.id), startedIds);
    assert.ok(res.json().runs.every((r: { created: boolean }) => r.created === false));
    assert.deepEqual(await snapshotTables(h.sql), before);
  });

  it('tampered: a body changed after signing is 401 and writes nothing', async () => {
    const original = JSON.stringify(deploymentStatus({ environment: 'staging' }));
    const tampered = original.replace('"environment":"staging"', '"environment":"production"');
    assert.notEqual(tampered, original);
    await refused(tampered, githubHeaders(original, { delivery: 'tampered-1' }), 401, 'bad_signature');
    // One flipped byte anywhere is enough.
    await refused(`${original} `, githubHeaders(original, { delivery: 'tampered-2' }), 401, 'bad_signature');
    // The same JSON re-serialised (what a framework's parsed body would give) is not what was signed.
    const pretty = JSON.stringify(JSON.parse(original), null, 2);
    await refused(pretty, githubHeaders(original, { delivery: 'tampered-3' }), 401, 'bad_signature');
  });

  it('unsigned or signed with another secret: 401, nothing written', async () => {
    const body = JSON.stringify(deploymentStatus({ environment: 'staging' }));
    await refused(body, githubHeaders(body, { delivery: 'unsigned-1', signature: null }), 401, 'missing_signature');
    await refused(body, githubHeaders(body, { delivery: 'wrong-secret', secret: 'not the secret at all' }), 401, 'bad_signature');
    // The SHA-1 header alone (X-Hub-Signature) is not accepted.
    const sha1Only = { ...githubHeaders(body, { delivery: 'sha1-only', signature: null }), 'x-hub-signature': 'sha1=0123456789abcdef0123456789abcdef01234567' };
    await refused(body, sha1Only, 401, 'missing_signature');
    await refused(body, githubHeaders(body, { delivery: 'garbage-sig', signature: 'sha256=zz' }), 401, 'bad_signature');
  });

  it('replayed: the signed body of an accepted delivery under a new delivery id is 409, nothing written', async () => {
    const body = JSON.stringify(deploymentStatus({ at: new Date(h.clock.now - 30_000) }));
    await refused(body, githubHeaders(body, { delivery: 'attacker-chosen-guid' }), 409, 'replayed_delivery');
    // And a known delivery id with another (validly signed) body.
    const other = JSON.stringify(deploymentStatus({ at: new Date(h.clock.now - 20_000), statusId: 42 }));
    await refused(other, githubHeaders(other, { delivery: DELIVERY }), 409, 'replayed_delivery');
  });

  it('stale: a deploy older than an hour (or from the future) is 422, nothing written', async () => {
    const old = JSON.stringify(deploymentStatus({ at: new Date(h.clock.now - 2 * 3_600_000) }));
    await refused(old, githubHeaders(old, { delivery: 'stale-1' }), 422, 'stale_delivery');
    const future = JSON.stringify(deploymentStatus({ at: new Date(h.clock.now + 10 * 60_000) }));
    await refused(future, githubHeaders(future, { delivery: 'future-1' }), 422, 'stale_delivery');
  });

  it('malformed but signed: bad JSON, missing headers, missing fields → 400, nothing written', async () => {
    const notJson = '{"action": "created", ';
    await refused(notJson, githubHeaders(notJson, { delivery: 'bad-json' }), 400, 'malformed_delivery');
    const body = JSON.stringify(deploymentStatus());
    const noDelivery = githubHeaders(body);
    delete noDelivery['x-github-delivery'];
    await refused(body, noDelivery, 400, 'malformed_delivery');
    const noEvent = githubHeaders(body, { delivery: 'no-event' });
    delete noEvent['x-github-event'];
    await refused(body, noEvent, 400, 'malformed_delivery');
    const payload = deploymentStatus();
    delete payload.deployment;
    const missing = JSON.stringify(payload);
    await refused(missing, githubHeaders(missing, { delivery: 'no-deployment' }), 400, 'malformed_delivery');
    await refused('', githubHeaders('', { delivery: 'empty' }), 400, 'malformed_delivery');
    const spaced = githubHeaders(body, { delivery: 'has space' });
    await refused(body, spaced, 400, 'malformed_delivery');
  });

  it('a body over the size limit is 413, nothing written', async () => {
    const big = JSON.stringify({ ...deploymentStatus(), padding: 'x'.repeat(h.config.limits.maxBodyBytes) });
    await refused(big, githubHeaders(big, { delivery: 'too-big' }), 413);
  });

  it('unknown or disabled providers are 404 and write nothing', async () => {
    const body = JSON.stringify(deploymentStatus());
    await refused(body, githubHeaders(body, { delivery: 'unknown-provider' }), 404, 'not_found', 'gitlab');
    const disabled = await startHookHarness({ STEADYSTATE_WEBHOOK_SECRET_GENERIC: 'only-generic-is-enabled-here' });
    try {
      const before = await snapshotTables(disabled.sql);
      const res = await disabled.app.inject({ method: 'POST', url: '/hooks/deploy/github', headers: githubHeaders(body), payload: body });
      assert.equal(res.statusCode, 404, res.body);
      assert.deepEqual(await snapshotTables(disabled.sql), before);
    } finally {
      await disabled.close();
    }
  });

  it('authentic but nothing to run (ping, another event, a non-success state, no matching experiment): 200, nothing written', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [];
    const ping = JSON.stringify({ zen: 'Design for failure.', hook_id: 292430182 });
    cases.push([ping, githubHeaders(ping, { delivery: 'ping-1', event: 'ping' }), /event "ping"/]);
    const push = JSON.stringify({ ref: 'refs/heads/main' });
    cases.push([push, githubHeaders(push, { delivery: 'push-1', event: 'push' }), /event "push"/]);
    for (const state of ['pending', 'in_progress', 'queued', 'failure', 'error', 'inactive']) {
      const body = JSON.stringify(deploymentStatus({ state }));
      cases.push([body, githubHeaders(body, { delivery: `state-${state}` }), new RegExp(`"${state}", not success`)]);
    }
    const qa = JSON.stringify(deploymentStatus({ environment: 'qa' }));
    cases.push([qa, githubHeaders(qa, { delivery: 'qa-1' }), /no experiment has/]);
    for (const [body, headers, reason] of cases) {
      const before = await snapshotTables(h.sql);
      const res = await send(body, headers);
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.json().ignored, reason);
      assert.deepEqual(res.json().runs, []);
      assert.deepEqual(await snapshotTables(h.sql), before);
    }
  });

  it('maps deployment.payload.service, when the workflow sets it, over the repository name', async () => {
    h.clock.now = Date.now();
    const body = JSON.stringify(deploymentStatus({ service: 'billing', statusId: 777, at: new Date(h.clock.now - 1000) }));
    const res = await send(body, githubHeaders(body, { delivery: 'billing-1' }));
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(res.json().runs.map((r: { experiment: string }) => r.experiment), ['billing']);
    await Promise.all(res.json().runs.map((r: { id: string }) => h.runs.settled(r.id)));
  });

  it('a matching experiment that cannot start now is listed as skipped, with the reason', async () => {
    h.clock.now = Date.now();
    await h.store.settings.setHaltAll('test');
    try {
      const body = JSON.stringify(deploymentStatus({ statusId: 888, at: new Date(h.clock.now - 1000) }));
      const before = await snapshotTables(h.sql);
      const res = await send(body, githubHeaders(body, { delivery: 'halt-all-1' }));
      assert.equal(res.statusCode, 202, res.body);
      assert.deepEqual(res.json().runs, []);
      assert.deepEqual(res.json().skipped.map((s: { error: string }) => s.error), ['halt_all_active', 'halt_all_active']);
      // Nothing started, but the delivery is recorded as consumed (issue #14): one row, no runs.
      const afterSkip = await snapshotTables(h.sql);
      assert.equal(afterSkip.webhook_deliveries?.rows, (before.webhook_deliveries?.rows ?? 0) + 1);
      assert.deepEqual(afterSkip.runs, before.runs);
    } finally {
      await h.store.settings.clearHaltAll('test');
    }
  });

  it('a delivery skipped during halt-all cannot be replayed once halt-all is cleared', async () => {
    h.clock.now = Date.now();
    const body = JSON.stringify(deploymentStatus({ statusId: 889, at: new Date(h.clock.now - 1000) }));
    await h.store.settings.setHaltAll('test');
    try {
      const first = await send(body, githubHeaders(body, { delivery: 'halt-all-replay' }));
      assert.equal(first.statusCode, 202, first.body);
      assert.deepEqual(first.json().runs, []);
    } finally {
      await h.store.settings.clearHaltAll('test');
    }
    h.clock.now += 10 * 60_000;
    const before = await snapshotTables(h.sql);
    // The same delivery again, ten minutes later, halt-all off: a duplicate, nothing started.
    const again = await send(body, githubHeaders(body, { delivery: 'halt-all-replay' }));
    assert.equal(again.statusCode, 202, again.body);
    assert.equal(again.json().duplicate, true);
    assert.deepEqual(again.json().runs, []);
    assert.deepEqual(again.json().skipped.map((s: { error: string }) => s.error), ['halt_all_active', 'halt_all_active']);
    // The same body under a fresh delivery id: a replay, refused.
    await refused(body, githubHeaders(body, { delivery: 'halt-all-replay-2' }), 409, 'replayed_delivery');
    assert.deepEqual(await snapshotTables(h.sql), before);
  });

  it('the signature in a repeated X-Hub-Signature-256 header is refused (ambiguous)', async () => {
    const body = JSON.stringify(deploymentStatus());
    const before = await snapshotTables(h.sql);
    const res = await h.app.inject({
      method: 'POST',
      url: '/hooks/deploy/github',
      headers: { ...githubHeaders(body, { delivery: 'dup-header' }), 'x-hub-signature-256': [githubSignature(body), githubSignature(body)] as unknown as string },
      payload: body,
    });
    assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.body}`);
    assert.deepEqual(await snapshotTables(h.sql), before);
  });
});

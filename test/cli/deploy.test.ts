/**
 * `steadystate deploy` against the real service app (the deploy hook routes, the run API, an
 * in-memory PGlite store) on a loopback port: the signature it makes is the one the generic
 * webhook checks, runs start and are found again by delivery id, every refusal has its exit code
 * and sends nothing it should not, and `--wait` exits with the run's verdict.
 * (test/package/pack.check.ts runs the same command from the installed package, through the action.)
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { deployCommand, registerDeployCommand, signDeploy, type DeployOptions } from '../../src/cli/deploy-command.ts';
import { EXIT_CODES } from '../../src/engine/types.ts';
import { addExperiment, GENERIC_SECRET, startHookHarness, type HookHarness } from '../triggers/helpers.ts';

describe('steadystate deploy', () => {
  let h: HookHarness;
  let url: string;
  let viewer: string;
  const requests: { path: string; headers: Headers; body: string }[] = [];
  /** Records what the command sent, then sends it. */
  const recordingFetch: typeof fetch = async (input, init) => {
    const u = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    requests.push({ path: u.pathname, headers: new Headers(init?.headers), body: typeof init?.body === 'string' ? init.body : '' });
    return fetch(input, init);
  };

  before(async () => {
    h = await startHookHarness();
    await addExperiment(h.store, 'checkout', { service: 'shop', environment: 'staging' });
    viewer = (await h.store.tokens.create({ name: 'ci', role: 'viewer' })).token;
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => h?.close());

  async function deploy(opts: Partial<DeployOptions>, env: NodeJS.ProcessEnv = { STEADYSTATE_WEBHOOK_SECRET_GENERIC: GENERIC_SECRET }) {
    h.clock.now = Date.now();
    requests.length = 0;
    const out: string[] = [];
    const err: string[] = [];
    const code = await deployCommand(
      { server: url, timeout: '1m', service: 'shop', environment: 'staging', ...opts },
      { env: { XDG_CONFIG_HOME: '/nonexistent', ...env }, stdout: (s) => out.push(s), stderr: (s) => err.push(s), fetch: recordingFetch, wait: { minIntervalMs: 50, maxIntervalMs: 200 } },
    );
    return { code, out: out.join(''), err: err.join('') };
  }
  const runCount = async (): Promise<number> => (await h.store.runs.list({})).length;

  it('signs "<timestamp>.<body>" with HMAC-SHA256 as the generic webhook expects', () => {
    const body = '{"service":"shop","environment":"staging"}';
    const headers = signDeploy('It\'s a Secret to Everybody', body, 1_700_000_000_999);
    assert.equal(headers['x-steadystate-timestamp'], '1700000000');
    const expected = createHmac('sha256', "It's a Secret to Everybody").update(`1700000000.${body}`).digest('hex');
    assert.equal(headers['x-steadystate-signature'], `sha256=${expected}`);
  });

  it('starts the matching experiment, prints its run id; the same --id again finds the same run', async () => {
    const before = await runCount();
    const first = await deploy({ id: 'pipeline-1', revision: 'abc123' });
    assert.equal(first.code, 0, first.err);
    const ids = first.out.trim().split('\n');
    assert.equal(ids.length, 1);
    const run = await h.store.runs.get(ids[0]!);
    assert.equal(run?.experiment, 'checkout');
    assert.equal(await runCount(), before + 1);
    // What went over the wire: exactly the signed bytes, no API token.
    const sent = requests.find((r) => r.path === '/hooks/deploy/generic')!;
    assert.deepEqual(JSON.parse(sent.body), { service: 'shop', environment: 'staging', revision: 'abc123', id: 'pipeline-1' });
    assert.equal(sent.headers.get('authorization'), null);
    const ts = sent.headers.get('x-steadystate-timestamp')!;
    assert.equal(sent.headers.get('x-steadystate-signature'), `sha256=${createHmac('sha256', GENERIC_SECRET).update(`${ts}.${sent.body}`).digest('hex')}`);

    const again = await deploy({ id: 'pipeline-1', revision: 'abc123', json: true });
    assert.equal(again.code, 0, again.err);
    const answer = JSON.parse(again.out);
    assert.equal(answer.duplicate, true);
    assert.deepEqual(answer.runs.map((r: { id: string }) => r.id), ids);
    assert.equal(await runCount(), before + 1);
  });

  it('no matching experiment: 64 naming service and environment; --allow-none: 0', async () => {
    const none = await deploy({ service: 'nothing-here' });
    assert.equal(none.code, 64, none.err);
    assert.match(none.err, /nothing to run: .*metadata\.service "nothing-here"/);
    const allowed = await deploy({ service: 'nothing-here', allowNone: true });
    assert.equal(allowed.code, 0, allowed.err);
    assert.equal(allowed.out, '');
  });

  it('refusals: no secret (nothing sent), a wrong secret (401 → 64), --wait without a token (nothing sent)', async () => {
    const before = await runCount();
    const missing = await deploy({}, {});
    assert.equal(missing.code, 64);
    assert.match(missing.err, /set STEADYSTATE_WEBHOOK_SECRET_GENERIC/);
    assert.equal(requests.length, 0);

    const wrong = await deploy({}, { STEADYSTATE_WEBHOOK_SECRET_GENERIC: 'a-wrong-secret-of-some-length' });
    assert.equal(wrong.code, 64);
    assert.match(wrong.err, /answered 401: bad_signature/);
    assert.ok(!wrong.err.includes('a-wrong-secret-of-some-length') && !wrong.out.includes('a-wrong-secret-of-some-length'));

    const noToken = await deploy({ wait: true });
    assert.equal(noToken.code, 64);
    assert.match(noToken.err, /no token/);
    assert.equal(requests.length, 0);
    assert.equal(await runCount(), before);
  });

  it('--wait --json: follows the run it started and exits with its code', async () => {
    const r = await deploy({ wait: true, json: true, id: 'pipeline-wait' }, { STEADYSTATE_WEBHOOK_SECRET_GENERIC: GENERIC_SECRET, STEADYSTATE_TOKEN: viewer });
    const parsed = JSON.parse(r.out);
    assert.equal(parsed.deploy.delivery, 'pipeline-wait');
    assert.equal(parsed.runs.length, 1);
    const stored = await h.store.runs.get(parsed.runs[0].id);
    // Its metric source is a closed port: preflight fails, the run ends aborted (exit 4).
    assert.equal(parsed.runs[0].state, stored!.state);
    assert.equal(r.code, EXIT_CODES[stored!.state as keyof typeof EXIT_CODES], r.err);
    assert.equal(parsed.exitCode, r.code);
    // The viewer token went to the run API only, never to the webhook.
    assert.ok(requests.some((q) => q.path.startsWith('/api/v1/runs/') && q.headers.get('authorization') === `Bearer ${viewer}`));
    assert.equal(requests.find((q) => q.path === '/hooks/deploy/generic')!.headers.get('authorization'), null);
  });

  it('commander: --service and --environment are required', async () => {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined });
    registerDeployCommand(program);
    await assert.rejects(program.parseAsync(['node', 'x', 'deploy', '--environment', 'staging']), /--service/);
  });
});

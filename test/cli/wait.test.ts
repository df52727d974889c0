/**
 * `steadystate wait`: exit codes per final state, the worst of several runs,
 * bounded backoff, riding out transient errors, bad input (64), the timeout,
 * the commander wiring, and one run end to end against the real service.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { EXIT_BAD_INPUT } from '../../src/engine/types.ts';
import { registerWaitCommand, waitCommand, waitForRuns, worstExitCode } from '../../src/cli/wait-command.ts';
import { freePort } from '../helpers/ports.ts';
import { startContractServer, type ContractServer } from '../helpers/contract-server.ts';
import { addExperiment, genericHeaders, startHookHarness } from '../triggers/helpers.ts';

const TOKEN = 'sst_test-token';

describe('steadystate wait', () => {
  let api: ContractServer;
  let sleeps: number[];

  /** Serve each run's states in order (the last one repeats). */
  const script = (states: Record<string, (string | number)[]>) => {
    api.reset();
    sleeps = [];
    const left = new Map(Object.entries(states).map(([id, s]) => [id, [...s]]));
    api.route('GET', '/api/v1/runs/:id', (req) => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return { status: 401, body: { error: 'unauthorized' } };
      const queue = left.get(req.params.id!);
      if (!queue) return { status: 404, body: { error: 'not_found' } };
      const next = (queue.length > 1 ? queue.shift() : queue[0])!;
      if (typeof next === 'number') return { status: next, body: { error: 'boom' } };
      return { status: 200, body: { run: { id: req.params.id, experiment: `exp-${req.params.id}`, state: next, verdict: null, reason: `it was ${next}` } } };
    });
  };

  const opts = (extra: Partial<Parameters<typeof waitForRuns>[1]> = {}) => ({
    server: api.url,
    token: TOKEN,
    timeoutMs: 60_000,
    sleep: async (ms: number) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });

  /** A loopback port nobody listens on (fetch refuses port 9 itself, so not that one). */
  let closedPort: number;

  before(async () => {
    api = await startContractServer();
    closedPort = await freePort();
  });
  after(async () => api?.stop());
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('the worst exit code wins, in the documented order 4 > 2 > 1 > 3 > 0', () => {
    assert.equal(worstExitCode([0, 3, 1, 2, 4]), 4);
    assert.equal(worstExitCode([0, 3, 1, 2]), 2);
    assert.equal(worstExitCode([3, 1, 0]), 1);
    assert.equal(worstExitCode([0, 3]), 3);
    assert.equal(worstExitCode([0, 0]), 0);
  });

  it('maps each final state to the run exit code', async () => {
    const cases: [string, number][] = [['passed', 0], ['failed', 1], ['halted', 2], ['inconclusive', 3], ['errored', 4], ['aborted', 4], ['halt_failed', 4]];
    for (const [state, code] of cases) {
      script({ r1: ['pending', 'injecting', state] });
      const result = await waitForRuns(['r1'], opts());
      assert.equal(result.exitCode, code, state);
      assert.equal(result.runs[0]!.state, state);
      assert.equal(api.sent('GET').length, 3);
    }
  });

  it('waits for every run and answers with the worst', async () => {
    script({ a: ['injecting', 'passed'], b: ['baseline', 'injecting', 'analyzing', 'halted'], c: ['inconclusive'] });
    const result = await waitForRuns(['a', 'b', 'c'], opts());
    assert.equal(result.exitCode, 2);
    assert.deepEqual(result.runs.map((r) => [r.id, r.exitCode]), [['a', 0], ['b', 2], ['c', 3]]);
    // Finished runs are not polled again.
    assert.equal(api.sent('GET', '/api/v1/runs/c').length, 1);
    assert.equal(api.sent('GET', '/api/v1/runs/b').length, 4);
  });

  it('backs off ×1.5 from 1 s to at most 10 s', async () => {
    script({ slow: [...Array(10).fill('injecting'), 'passed'] });
    await waitForRuns(['slow'], opts());
    assert.deepEqual(sleeps, [1000, 1500, 2250, 3375, 5063, 7595, 10000, 10000, 10000, 10000]);
  });

  it('rides out 5xx and 429 (the server is there) until the run ends', async () => {
    script({ r: [503, 429, 500, 502, 'passed'] });
    const result = await waitForRuns(['r'], opts());
    assert.equal(result.exitCode, 0);
    assert.equal(api.sent('GET').length, 5);
  });

  it('a refused connection fails with exit 4 once nothing answered for 10 s, not at the 30-minute timeout', async () => {
    sleeps = [];
    const dead = await waitForRuns(['r'], opts({ server: `http://127.0.0.1:${closedPort}`, timeoutMs: 30 * 60_000, now: fakeNow(sleepsTotal) }));
    assert.equal(dead.exitCode, 4);
    assert.equal(dead.unreachable, true);
    assert.equal(dead.timedOut, false);
    assert.match(dead.error ?? '', /cannot reach the server: nothing listens at 127\.0\.0\.1:\d+ \(connection refused\) \(no answer for 1\d s\)/);
    const slept = sleepsTotal();
    assert.ok(slept >= 10_000 && slept < 20_000, `slept ${slept} ms before giving up`);
  });

  it('an unknown host fails at once (exit 4), without retrying', async () => {
    sleeps = [];
    let calls = 0;
    const noSuchHost: typeof fetch = async () => {
      calls++;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND steadystate.invalid'), { code: 'ENOTFOUND' }) });
    };
    const dead = await waitForRuns(['r'], opts({ server: 'http://steadystate.invalid', fetch: noSuchHost }));
    assert.equal(dead.exitCode, 4);
    assert.equal(calls, 1);
    assert.deepEqual(sleeps, []);
    assert.match(dead.error ?? '', /cannot resolve "steadystate\.invalid"/);
  });

  it('an answer between silences resets the 10 s: a restarting server is waited for', async () => {
    script({ r: [...Array(6).fill('injecting'), 'passed'] });
    let n = 0;
    // Refused, answered, refused, answered… : never 10 s without an answer.
    const flaky: typeof fetch = async (input, init) => {
      if (n++ % 2 === 0) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      return fetch(input, init);
    };
    const result = await waitForRuns(['r'], opts({ fetch: flaky, now: fakeNow(sleepsTotal), maxIntervalMs: 3_000 }));
    assert.equal(result.exitCode, 0, JSON.stringify(result));
    assert.ok(sleepsTotal() > 20_000, `the refusals spread over ${sleepsTotal()} ms, more than 10 s`);
  });

  it('the command says which server it could not reach, and returns 4 within seconds (real clock)', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const code = await waitCommand(['r'], { server: `http://127.0.0.1:${closedPort}`, token: TOKEN, timeout: '30m' }, { stdout: (s) => lines.push(s), stderr: (s) => lines.push(s), env: {}, wait: { unreachableMs: 2_000 } });
    assert.equal(code, 4);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    assert.match(lines.join(''), /^steadystate wait: cannot reach the server: nothing listens at 127\.0\.0\.1:\d+ .*check --server or STEADYSTATE_SERVER\n$/);
  });

  it('times out with exit 4, naming the runs still active', async () => {
    script({ r: ['injecting'] });
    const out: string[] = [];
    const code = await waitCommand(['r'], { server: api.url, token: TOKEN, timeout: '20s' }, { stdout: (s) => out.push(s), stderr: (s) => out.push(s), wait: { sleep: async (ms) => void sleeps.push(ms), now: fakeNow(sleepsTotal), random: () => 0.5 } });
    assert.equal(code, 4);
    assert.match(out.join(''), /timed out after 20s; still active: r/);
    assert.ok(sleeps.reduce((a, b) => a + b, 0) <= 20_000, 'never sleeps past the deadline');
  });

  it('bad input is 64: no ids, an unknown run, a refused token, a bad server or timeout', async () => {
    script({ known: ['passed'] });
    const quiet = { stdout: () => undefined, stderr: () => undefined, env: {} };
    assert.equal(await waitCommand([], { server: api.url, token: TOKEN, timeout: '1m' }, quiet), EXIT_BAD_INPUT);
    assert.equal(await waitCommand(['missing'], { server: api.url, token: TOKEN, timeout: '1m' }, quiet), EXIT_BAD_INPUT);
    assert.equal(await waitCommand(['known'], { server: api.url, token: 'wrong', timeout: '1m' }, quiet), EXIT_BAD_INPUT);
    assert.equal(await waitCommand(['known'], { server: 'ftp://x', token: TOKEN, timeout: '1m' }, quiet), EXIT_BAD_INPUT);
    assert.equal(await waitCommand(['known'], { server: api.url, token: TOKEN, timeout: 'soon' }, quiet), EXIT_BAD_INPUT);
    assert.equal(await waitCommand(['known'], { server: api.url, timeout: '1m' }, quiet), EXIT_BAD_INPUT);
    assert.equal(await waitCommand(['known'], { timeout: '1m' }, { ...quiet, env: { STEADYSTATE_SERVER: api.url, STEADYSTATE_TOKEN: TOKEN } }), 0);
  });

  it('--json prints one object with every run', async () => {
    script({ a: ['failed'], b: ['passed'] });
    const out: string[] = [];
    const code = await waitCommand(['a', 'b', 'a'], { server: api.url, token: TOKEN, timeout: '1m', json: true }, { stdout: (s) => out.push(s), stderr: () => undefined });
    assert.equal(code, 1);
    const parsed = JSON.parse(out.join(''));
    assert.equal(parsed.exitCode, 1);
    assert.deepEqual(parsed.runs.map((r: { id: string; state: string }) => [r.id, r.state]), [['a', 'failed'], ['b', 'passed']]);
  });

  it('is wired into commander as `wait RUN_ID... --server --token [--timeout]`', async () => {
    script({ r: ['inconclusive'] });
    const program = new Command('steadystate').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    const out: string[] = [];
    registerWaitCommand(program, { stdout: (s) => out.push(s), stderr: () => undefined });
    await program.parseAsync(['node', 'steadystate', 'wait', 'r', '--server', api.url, '--token', TOKEN, '--timeout', '1m']);
    assert.match(out.join(''), /^r exp-r: INCONCLUSIVE \(exit 3\) — it was inconclusive\n$/);
    assert.equal(process.exitCode, 3);
  });

  it('end to end: a run started by a deploy webhook, waited for through the real API', async () => {
    const h = await startHookHarness();
    try {
      await addExperiment(h.store, 'e2e', { service: 'shop', environment: 'staging' });
      const viewer = await h.store.tokens.create({ name: 'ci', role: 'viewer' });
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const address = h.app.server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      h.clock.now = Date.now();
      const body = JSON.stringify({ service: 'shop', environment: 'staging' });
      const res = await fetch(`${url}/hooks/deploy/generic`, { method: 'POST', headers: genericHeaders(body), body });
      assert.equal(res.status, 202);
      const { runs } = (await res.json()) as { runs: { id: string; url: string }[] };
      assert.equal(runs.length, 1);
      const out: string[] = [];
      const code = await waitCommand([runs[0]!.id], { server: url, token: viewer.token, timeout: '1m', json: true }, {
        stdout: (s) => out.push(s),
        stderr: () => undefined,
        wait: { minIntervalMs: 50, maxIntervalMs: 200 },
      });
      // Its metric source is a closed port: preflight fails and the run ends aborted (exit 4).
      const parsed = JSON.parse(out.join(''));
      assert.equal(parsed.runs[0].state, (await h.store.runs.get(runs[0]!.id))!.state);
      assert.equal(code, 4);
    } finally {
      await h.close();
    }
  });

  /** A clock that advances by what was slept (so timeouts pass without waiting). */
  function fakeNow(total: () => number): () => number {
    const start = Date.now();
    return () => start + total();
  }
  function sleepsTotal(): number {
    return sleeps.reduce((a, b) => a + b, 0);
  }
});

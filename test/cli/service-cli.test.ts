/**
 * The service CLI end to end, as a user runs it: `node bin/steadystate.js
 * serve` on a free loopback port with a temporary PGlite data dir, an admin
 * token bootstrapped with `steadystate token create` (the README's way), and
 * then every service command spawned as its own process with
 * XDG_CONFIG_HOME in a temp dir: login, apply (create, unchanged, update),
 * start --wait (exit code = verdict), get, describe, abort --reason,
 * halt-all --reason / --clear, tokens create/list/revoke, and a server that
 * cannot be reached (exit 4 within seconds).
 *
 * The runs use a webhook injector and a Prometheus fake that follows the
 * HTTP API (buildinfo 404 → /-/ready, query_range matrices): control at
 * about 100/s, experiment at about 50/s, so a 5 s window is judged quickly.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, type TerminalState } from '../../src/engine/types.ts';
import { startFakePrometheus, matrix, type FakePrometheus } from '../metric-sources/fake-prometheus.ts';
import { freePort } from '../helpers/ports.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Values per step: control about 100, experiment about 50 (a halved KPI). */
function series(query: string, start: number, end: number, step: number): [number, string][] {
  const base = query.includes('"experiment"') ? 50 : 100;
  const values: [number, string][] = [];
  for (let t = Math.ceil(start / step) * step, i = 0; t <= end && i < 10_000; t += step, i++) values.push([t, String(base + ((t * 7) % 5) / 10)]);
  return values;
}

const spec = (name: string, backend: string, duration: string, labels = ''): string => `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: ${name}, service: shop, environment: test${labels} }
spec:
  source: { kind: prometheus, url: "${backend}", step: 1s }
  steadyState:
    - name: checkout-sps
      query: shop_checkouts_per_second{group="$group"}
      direction: decrease
      tolerance: 5%
  fault:
    injector: webhook
    params: { open: { url: "${backend}/fault/open" }, close: { url: "${backend}/fault/close" } }
    duration: ${duration}
  analysis: { interval: 1s, minSamples: 3 }
`;

describe('steadystate CLI against a real `steadystate serve`', { timeout: 900_000 }, () => {
  let work: string;
  let dataDir: string;
  let configHome: string;
  let port: number;
  let backend: FakePrometheus;
  let server: ChildProcess | undefined;
  let serverLog = '';
  let adminToken = '';
  const url = (): string => `http://127.0.0.1:${port}`;

  /** One CLI process; no inherited server or token, so only flags, the login and `env` count. */
  function cli(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
    const started = Date.now();
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: configHome, STEADYSTATE_DATA_DIR: dataDir, STEADYSTATE_LOG_LEVEL: 'warn', ...opts.env };
    if (!opts.env?.STEADYSTATE_TOKEN) delete env.STEADYSTATE_TOKEN;
    if (!opts.env?.STEADYSTATE_SERVER) delete env.STEADYSTATE_SERVER;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env, cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Generous: a loaded CI machine makes tsx and PGlite start slowly; the assertions bound what matters.
      const timer = setTimeout(() => {
        stderr += '\n[killed by the test after 240 s]';
        child.kill('SIGKILL');
      }, 240_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      });
      child.stdin.end(opts.stdin ?? '');
    });
  }

  const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

  async function api(path: string): Promise<any> {
    const res = await fetch(`${url()}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res.json();
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (let i = 0; i < 1_000 && Date.now() < end; i++) {
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      await delay(200);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${serverLog.slice(-2000)}`);
  }

  const runState = async (id: string): Promise<string> => ((await api(`/api/v1/runs/${id}`)) as { run: { state: string } }).run.state;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'steadystate-cli-'));
    dataDir = join(work, 'data');
    configHome = join(work, 'config');
    port = await freePort();
    backend = await startFakePrometheus((req) => {
      if (req.path === '/api/v1/status/buildinfo') return { status: 404, text: 'not found' };
      if (req.path === '/-/ready') return { text: 'Prometheus Server is Ready.' };
      if (req.path.startsWith('/fault/')) return { json: { ok: true } };
      if (req.path === '/api/v1/query_range') {
        const p = req.method === 'POST' ? req.form : req.query;
        const query = p.get('query') ?? '';
        const values = series(query, Number(p.get('start')), Number(p.get('end')), Number(p.get('step') ?? '1'));
        return { json: matrix([{ metric: {}, values }]) };
      }
      return { status: 404, text: 'not found' };
    });
    await writeFile(join(work, 'quick.yaml'), spec('quick', backend.url, '5s'));
    await writeFile(join(work, 'slow.yaml'), spec('slow', backend.url, '2m'));

    // Bootstrap, as the README says: a token in the data dir, then the server on it.
    const boot = await cli(['token', 'create', '--role', 'admin', '--name', 'bootstrap']);
    assert.equal(boot.code, 0, show(boot));
    adminToken = boot.stdout.trim();
    assert.match(adminToken, /^\S{20,}$/);
    assert.match(boot.stderr, new RegExp(`written to the data directory ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(PGlite\\)`));
    assert.match(boot.stderr, /steadystate tokens create --server URL/);

    server = spawn(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${port}`], {
      env: { ...process.env, STEADYSTATE_DATA_DIR: dataDir, STEADYSTATE_LOG_LEVEL: 'warn', STEADYSTATE_SCHEDULER: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
    await until('the service to answer /healthz', async () => ((await fetch(`${url()}/healthz`)).ok ? true : undefined), 60_000);
  });

  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await Promise.race([new Promise((r) => server?.once('exit', r)), delay(20_000)]);
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
    }
    await backend?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('login: a wrong token is refused (64); the right one is saved 0600 and never printed', async () => {
    const wrong = await cli(['login', '--server', url()], { stdin: 'sst_not-a-real-token\n' });
    assert.equal(wrong.code, 64, show(wrong));
    assert.match(wrong.stderr, /refused the token \(401\)/);

    const ok = await cli(['login', '--server', url()], { stdin: `${adminToken}\n` });
    assert.equal(ok.code, 0, show(ok));
    assert.equal(ok.stdout, '');
    assert.ok(!ok.stderr.includes(adminToken), 'the token is not printed');
    const file = join(configHome, 'steadystate', 'credentials.json');
    assert.match(ok.stderr, new RegExp(`logged in to ${url()}`));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(configHome, 'steadystate'))).mode & 0o777, 0o700);
    const saved = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(saved.current, url());
    assert.equal(saved.servers[url()].token, adminToken);
  });

  it('apply -f: created, then unchanged, then configured (a new version) — no --server needed after login', async () => {
    const first = await cli(['apply', '-f', 'quick.yaml', 'slow.yaml']);
    assert.equal(first.code, 0, show(first));
    assert.equal(first.stdout, 'experiment/quick created (version 1)\nexperiment/slow created (version 1)\n');
    const again = await cli(['apply', '-f', 'quick.yaml', '--json']);
    assert.equal(again.code, 0, show(again));
    assert.deepEqual(JSON.parse(again.stdout), { applied: [{ file: 'quick.yaml', name: 'quick', action: 'unchanged', version: 1 }] });
    await writeFile(join(work, 'quick.yaml'), spec('quick', backend.url, '5s', ', labels: { team: payments }'));
    const changed = await cli(['apply', '-f', 'quick.yaml']);
    assert.equal(changed.code, 0, show(changed));
    assert.equal(changed.stdout, 'experiment/quick configured (version 2)\n');
    const stored = await api('/api/v1/experiments/quick');
    assert.equal(stored.experiment.version, 2);
    assert.equal(stored.experiment.spec.metadata.labels.team, 'payments');
  });

  it('apply -f with a bad spec: FILE:LINE messages, exit 64, nothing sent', async () => {
    await writeFile(join(work, 'bad.yaml'), spec('bad', backend.url, 'forever'));
    const r = await cli(['apply', '-f', 'bad.yaml', 'quick.yaml']);
    assert.equal(r.code, 64, show(r));
    assert.match(r.stderr, /^bad\.yaml:\d+ spec\.fault\.duration: /m);
    assert.match(r.stderr, /nothing applied/);
    const missing = await fetch(`${url()}/api/v1/experiments/bad`, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(missing.status, 404);
  });

  let quickRunId = '';

  it('start --wait --json: progress on stderr, the run on stdout, the exit code is the verdict', async () => {
    const r = await cli(['start', 'quick', '--wait', '--json', '--timeout', '3m']);
    const out = JSON.parse(r.stdout) as { run: { id: string; state: TerminalState; verdict: string; actor: string; metrics: { name: string }[] } };
    quickRunId = out.run.id;
    assert.ok(['passed', 'failed', 'inconclusive'].includes(out.run.state), `judged, not ${out.run.state}: ${show(r)}\n${serverLog.slice(-2000)}`);
    assert.equal(r.code, EXIT_CODES[out.run.state], show(r));
    assert.deepEqual(out.run.metrics.map((m) => m.name), ['checkout-sps']);
    assert.match(r.stderr, new RegExp(`run ${quickRunId} of quick \\(version 2\\) started`));
    assert.match(r.stderr, /: injecting\n/);
    assert.equal(out.run.actor, 'bootstrap (admin)');
    // A halved checkout rate with 5% tolerance: this fake's run fails (exit 1).
    assert.equal(out.run.state, 'failed', show(r));
    assert.equal(r.code, 1);
  });

  it('get experiments / get runs: tables, and the API JSON with --json', async () => {
    const exps = await cli(['get', 'experiments']);
    assert.equal(exps.code, 0, show(exps));
    assert.match(exps.stdout, /^NAME\s+VERSION\s+SERVICE\s+ENVIRONMENT\s+INJECTOR\s+UPDATED\s+BY\n/);
    assert.match(exps.stdout, /^quick\s+2\s+shop\s+test\s+webhook\s/m);
    const runs = await cli(['get', 'runs', '--experiment', 'quick', '--json']);
    assert.equal(runs.code, 0, show(runs));
    assert.deepEqual((JSON.parse(runs.stdout) as { runs: { id: string }[] }).runs.map((x) => x.id), [quickRunId]);
    const one = await cli(['get', 'run', quickRunId]);
    assert.match(one.stdout, new RegExp(`^${quickRunId}\\s+quick\\s+failed\\s+fail\\s`, 'm'));
    const bad = await cli(['get', 'pods']);
    assert.equal(bad.code, 64, show(bad));
    assert.match(bad.stderr, /"pods" is not a kind; use experiments or runs/);
  });

  it('describe run: state, who started it, metrics and the event timeline', async () => {
    const r = await cli(['describe', 'run', quickRunId]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^Run:\\s+${quickRunId}$`, 'm'));
    assert.match(r.stdout, /^Experiment:\s+quick \(version 2\)$/m);
    assert.match(r.stdout, /^Started by:\s+bootstrap \(admin\)$/m);
    assert.match(r.stdout, /^State:\s+failed$/m);
    assert.match(r.stdout, /^ {2}checkout-sps: fail \(effect /m);
    assert.match(r.stdout, /state\.injecting: /);
    const json = JSON.parse((await cli(['describe', 'run', quickRunId, '--json'])).stdout) as { run: { id: string; series?: unknown }; events: unknown[] };
    assert.equal(json.run.id, quickRunId);
    assert.equal(json.run.series, undefined, 'the raw series stay out of describe');
    assert.ok(json.events.length >= 5);
    const missing = await cli(['describe', 'run', 'run-nope']);
    assert.equal(missing.code, 64, show(missing));
    assert.match(missing.stderr, /answered 404: run "run-nope" not found/);
  });

  let abortedId = '';

  it('abort --reason: the window closes and the run ends aborted; no reason is bad input', async () => {
    const started = await cli(['start', 'slow']);
    assert.equal(started.code, 0, show(started));
    abortedId = started.stdout.trim();
    assert.match(abortedId, /^run-\S+$/);
    await until('the slow run to inject', async () => ((await runState(abortedId)) === 'injecting' ? true : undefined), 60_000);
    const noReason = await cli(['abort', abortedId]);
    assert.equal(noReason.code, 64, show(noReason));
    assert.match(noReason.stderr, /--reason must be 1 to 500 characters/);
    const r = await cli(['abort', abortedId, '--reason', 'db maintenance window']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^run/${abortedId} aborted`));
    assert.equal(await runState(abortedId), 'aborted');
    assert.ok(backend.requests.some((q) => q.path === '/fault/close'), 'the webhook close was called');
  });

  it('abort --reason: the reason shows on the run', async () => {
    const detail = JSON.stringify(await api(`/api/v1/runs/${abortedId}`)) + JSON.stringify(await api(`/api/v1/runs/${abortedId}/events`));
    assert.match(detail, /db maintenance window/);
  });

  let haltedId = '';

  it('halt-all --reason: every open window closes, new starts are refused (exit 4) until --clear', async () => {
    const started = await cli(['start', 'slow']);
    assert.equal(started.code, 0, show(started));
    haltedId = started.stdout.trim();
    await until('the slow run to inject', async () => ((await runState(haltedId)) === 'injecting' ? true : undefined), 60_000);
    const r = await cli(['halt-all', '--reason', 'incident 42', '--json']);
    assert.equal(r.code, 0, show(r));
    const out = JSON.parse(r.stdout) as { haltAll: { active: boolean }; halted: string[] };
    assert.equal(out.haltAll.active, true);
    assert.deepEqual(out.halted, [haltedId]);
    assert.equal(await runState(haltedId), 'aborted');
    const refused = await cli(['start', 'quick']);
    assert.equal(refused.code, 4, show(refused));
    assert.match(refused.stderr, /answered 409/);
    const cleared = await cli(['halt-all', '--clear']);
    assert.equal(cleared.code, 0, show(cleared));
    assert.match(cleared.stdout, /halt-all cleared/);
  });

  it('halt-all --reason: the reason is recorded', async () => {
    const detail = JSON.stringify(await api(`/api/v1/runs/${haltedId}/events`)) + JSON.stringify(await api('/api/v1/halt-all'));
    assert.match(detail, /incident 42/);
  });

  it('tokens create / list / revoke: the token once on stdout, never in the list; a revoked token is refused', async () => {
    const created = await cli(['tokens', 'create', '--role', 'viewer', '--name', 'ci-viewer', '--json']);
    assert.equal(created.code, 0, show(created));
    const token = (JSON.parse(created.stdout) as { token: { id: string; token: string; role: string } }).token;
    assert.equal(token.role, 'viewer');
    assert.match(created.stderr, /shown only this once/);
    const asViewer = await cli(['get', 'runs', '--server', url()], { env: { STEADYSTATE_TOKEN: token.token } });
    assert.equal(asViewer.code, 0, show(asViewer));
    const forbidden = await cli(['tokens', 'list', '--server', url()], { env: { STEADYSTATE_TOKEN: token.token } });
    assert.equal(forbidden.code, 64, show(forbidden));
    assert.match(forbidden.stderr, /needs the admin role; your token has viewer/);

    const list = await cli(['tokens', 'list']);
    assert.equal(list.code, 0, show(list));
    assert.match(list.stdout, new RegExp(`^${token.id}\\s+ci-viewer\\s+viewer\\s`, 'm'));
    assert.ok(!list.stdout.includes(token.token) && !list.stdout.includes(adminToken), 'no token in the list');

    const revoked = await cli(['tokens', 'revoke', token.id]);
    assert.equal(revoked.code, 0, show(revoked));
    assert.match(revoked.stdout, new RegExp(`^token/${token.id} \\(ci-viewer\\) revoked at `));
    const after = await cli(['get', 'runs', '--server', url()], { env: { STEADYSTATE_TOKEN: token.token } });
    assert.equal(after.code, 64, show(after));
    assert.match(after.stderr, /refused the token \(401\)/);
  });

  it('a server that cannot be reached: exit 4 within seconds, naming it; wait too', async () => {
    const closed = await freePort();
    const r = await cli(['get', 'runs', '--server', `http://127.0.0.1:${closed}`], { env: { STEADYSTATE_TOKEN: adminToken } });
    assert.equal(r.code, 4, show(r));
    assert.match(r.stderr, new RegExp(`^steadystate get: cannot reach the server: nothing listens at 127\\.0\\.0\\.1:${closed} \\(connection refused\\) \\(3 attempts\\)`));
    const w = await cli(['wait', quickRunId, '--server', `http://127.0.0.1:${closed}`], { env: { STEADYSTATE_TOKEN: adminToken } });
    assert.equal(w.code, 4, show(w));
    assert.match(w.stderr, /cannot reach the server/);
    // Process start-up (tsx) is part of `ms`; the wait itself gives up after 10 s without an answer.
    assert.ok(w.ms < 60_000, `wait took ${w.ms} ms`);
  });

  it('run --json (no server): the run on stdout, progress on stderr, the actor cli:USER@HOST; --help names the HTML report', async () => {
    const r = await cli(['run', 'quick.yaml', '--json', '--report-dir', 'local-reports']);
    const out = JSON.parse(r.stdout) as { run: { id: string; state: TerminalState } };
    assert.equal(r.code, EXIT_CODES[out.run.state], show(r));
    assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\] /m, 'progress lines on stderr with --json');
    const report = await readFile(join(work, 'local-reports', `${out.run.id}.json`), 'utf8');
    assert.match(report, new RegExp(`run started by cli:${userInfo().username}@${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const help = await cli(['run', '--help']);
    assert.match(help.stdout, /HTML, Markdown and JSON reports/);
  });

  it('logout forgets the token; then the commands ask for a login (64)', async () => {
    const r = await cli(['logout']);
    assert.equal(r.code, 0, show(r));
    const saved = JSON.parse(await readFile(join(configHome, 'steadystate', 'credentials.json'), 'utf8'));
    assert.deepEqual(saved.servers, {});
    const get = await cli(['get', 'runs', '--server', url()]);
    assert.equal(get.code, 64, show(get));
    assert.match(get.stderr, /no token for http:\/\/127\.0\.0\.1:\d+: run `steadystate login --server/);
  });
});

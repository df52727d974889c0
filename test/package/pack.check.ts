/**
 * The package as a user installs it: `npm pack` (its `prepack` builds dist/), the tarball installed
 * with `npm install --global --prefix` into a temporary directory outside the checkout, and the
 * installed `steadystate` run from there: --help, --version, validate, queries, compare, demo --help,
 * a store (the SQL migrations) and `serve`. No TypeScript is compiled at run time: the installed
 * package has no src/ and no tsx.
 *
 * Then the GitHub Action's step (action/gate.js, with the env action.yml gives it) against that
 * `serve`: the signed deploy is accepted, the run it starts is followed, and the step exits with
 * the run's verdict (a halved KPI: failed, 1); a wrong secret is refused (64) and starts nothing.
 * The secret never appears in what the step prints or writes.
 *
 * The pack runs in a copy of the checkout (node_modules linked, for the compiler), so the build
 * cannot leave a dist/ in the working tree. The install needs the npm registry or a cache holding
 * the dependencies' metadata (`npm ci` caches tarballs, not metadata): `--prefer-offline` uses the
 * cache where it can. Every child gets a minimal environment (PATH, HOME, and how to reach the registry), and runs in a temporary
 * directory under the OS's, so nothing can resolve modules from the checkout.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, lstatSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { EXIT_CODES, type TerminalState } from '../../src/engine/types.ts';
import { freePort } from '../helpers/ports.ts';
import { matrix, startFakePrometheus, type FakePrometheus } from '../metric-sources/fake-prometheus.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const SECRET = 'gate-test-secret-0123456789abcdef';
/** The environment that says how to reach the npm registry: CA certificates, proxies, registry and CA settings. */
const NETWORK_ENV = /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy|npm_config_(registry|cafile|ca|proxy|https_proxy|noproxy|strict_ssl))$/;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** One process with argv, a fixed environment, a cwd, and a hard time limit. */
function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[killed by the test after ${opts.timeoutMs ?? 120_000} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const show = (r: Result): string => `exit ${r.code} after ${r.ms} ms\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;

/** Values per step: control about 100/s, experiment about 50/s — a halved KPI. */
function series(group: string, start: number, end: number, step: number): [number, string][] {
  const base = group === 'experiment' ? 50 : 100;
  const values: [number, string][] = [];
  for (let t = Math.ceil(start / step) * step, i = 0; t <= end && i < 10_000; t += step, i++) values.push([t, String(base + ((t * 7) % 5) / 10)]);
  return values;
}

const spec = (backend: string): string => `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: gate, service: shop, environment: staging }
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
    duration: 5s
  analysis: { interval: 1s, minSamples: 3 }
`;

describe('the npm package, installed outside the checkout', { timeout: 600_000 }, () => {
  let tmp: string;
  let work: string;
  let prefix: string;
  let pkgDir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;
  const timings: Record<string, number> = {};

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'steadystate-pack-'));
    const outside = relative(REPO, tmp);
    assert.ok(outside.startsWith('..'), `the temporary directory ${tmp} must be outside the checkout ${REPO}`);
    work = join(tmp, 'work');
    prefix = join(tmp, 'prefix');
    mkdirSync(work);
    // Only what a user's machine has: no NODE_OPTIONS, NODE_PATH, npm_* or STEADYSTATE_* of the suite.
    // PATH: the install's bin, this Node, and the machine's PATH without the checkout's node_modules/.bin
    // (npm test puts it first), wherever npm itself lives on this machine.
    const machinePath = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter).filter((d) => d !== '' && relative(REPO, d).startsWith('..'));
    const path = [join(prefix, 'bin'), dirname(process.execPath), ...machinePath].join(delimiter);
    // How this machine reaches the registry is part of the user's machine too: a TLS-inspecting proxy's CA
    // (NODE_EXTRA_CA_CERTS; without it every fetch fails with SELF_SIGNED_CERT_IN_CHAIN and npm retries for
    // minutes), proxies, and a registry or CA file set in the environment.
    const network = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && NETWORK_ENV.test(k)));
    env = { ...network, PATH: path, HOME: process.env.HOME ?? tmp, LANG: 'C.UTF-8', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

    // A copy of the checkout to pack (the build replaces dist/ there, never in the working tree).
    const copy = join(tmp, 'checkout');
    const skip = new Set(['node_modules', 'dist', '.git', 'reports', 'data', 'coverage']);
    cpSync(REPO, copy, { recursive: true, filter: (src) => !skip.has(relative(REPO, src).split(sep)[0] ?? '') });
    symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
    const pack = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: copy, env, timeoutMs: 240_000 });
    timings.pack = pack.ms;
    assert.equal(pack.code, 0, show(pack));
    // npm prints the build's output before the JSON array.
    const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('\n[') + 1)) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    const info = packed[0]!;
    timings.tarballBytes = info.size;
    const paths = info.files.map((f) => f.path);
    assert.ok(paths.includes('dist/cli/main.js') && paths.includes('dist/store/migrations/001_initial.sql'), paths.join('\n'));
    assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('test/') || p.endsWith('.ts') || p.endsWith('.map')), 'no sources, tests or maps in the tarball');
    assert.ok(info.size < 1_000_000, `a lean tarball: ${info.size} bytes`);

    const install = await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=http', join(tmp, info.filename)], {
      cwd: work,
      env,
      timeoutMs: 300_000,
    });
    timings.install = install.ms;
    assert.equal(install.code, 0, show(install));
    pkgDir = join(prefix, 'lib', 'node_modules', 'steadystate');
    bin = join(prefix, 'bin', 'steadystate');
    assert.ok(existsSync(bin), `npm linked the bin: ${readdirSync(join(prefix, 'bin')).join(', ')}`);
  });

  after(async () => {
    process.stderr.write(`package test timings: ${JSON.stringify(timings)}\n`);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Result> => run(bin, args, { cwd: work, env: { ...env, ...extra }, timeoutMs: 120_000 });

  it('installs compiled JavaScript only: no src/, no tsx, nothing linked back to the checkout', () => {
    assert.ok(existsSync(join(pkgDir, 'dist', 'cli', 'main.js')));
    assert.ok(!existsSync(join(pkgDir, 'src')), 'no TypeScript sources');
    assert.ok(!existsSync(join(pkgDir, 'node_modules', 'tsx')) && !existsSync(join(prefix, 'lib', 'node_modules', 'tsx')), 'tsx is not installed');
    assert.ok(!lstatSync(pkgDir).isSymbolicLink() && relative(REPO, pkgDir).startsWith('..'), 'a real copy, outside the checkout');
  });

  it('--help and --version', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0, show(help));
    assert.match(help.stdout, /^Usage: steadystate /);
    assert.match(help.stdout, /\bdeploy\b/);
    const version = await cli(['--version']);
    assert.equal(version.code, 0, show(version));
    assert.equal(version.stdout.trim(), VERSION);
  });

  it('validate: a copied example is valid (0); a broken one names FILE:LINE (64)', async () => {
    cpSync(join(REPO, 'examples', 'checkout-latency.yaml'), join(work, 'checkout-latency.yaml'));
    const ok = await cli(['validate', 'checkout-latency.yaml']);
    assert.equal(ok.code, 0, show(ok));
    assert.match(ok.stdout, /checkout-latency\.yaml: valid \(checkout-latency\)/);
    writeFileSync(join(work, 'broken.yaml'), readFileSync(join(work, 'checkout-latency.yaml'), 'utf8').replace(/duration: \S+/, 'duration: forever'));
    const bad = await cli(['validate', 'broken.yaml']);
    assert.equal(bad.code, 64, show(bad));
    assert.match(bad.stdout, /^broken\.yaml:\d+ spec\.fault\.duration: /m);
  });

  it('queries list and compare: the query library and the judge from the package', async () => {
    const queries = await cli(['queries', 'list']);
    assert.equal(queries.code, 0, show(queries));
    assert.match(queries.stdout, /throughput/);
    const control = Array.from({ length: 40 }, (_, i) => 100 + (i % 5));
    writeFileSync(join(work, 'c.json'), JSON.stringify(control));
    writeFileSync(join(work, 'e.json'), JSON.stringify(control.map((v) => v / 2)));
    const compare = await cli(['compare', '--method', 'mann-whitney', '--control', 'c.json', '--experiment', 'e.json', '--direction', 'decrease', '--tolerance', '5%', '--json']);
    assert.equal(compare.code, 1, show(compare));
    assert.equal(JSON.parse(compare.stdout).verdict, 'fail');
    const demo = await cli(['demo', '--help']);
    assert.equal(demo.code, 0, show(demo));
    assert.match(demo.stdout, /--source/);
  });

  describe('serve from the package, and the GitHub Action step against it', () => {
    let backend: FakePrometheus;
    let server: ChildProcess | undefined;
    let serverLog = '';
    let port: number;
    let token: string;
    let stepEnv: Record<string, string>;
    const dataDir = (): string => join(tmp, 'data');
    const url = (): string => `http://127.0.0.1:${port}`;

    before(async () => {
      backend = await startFakePrometheus((req) => {
        if (req.path === '/api/v1/status/buildinfo') return { status: 404, text: 'not found' };
        if (req.path === '/-/ready') return { text: 'Prometheus Server is Ready.' };
        if (req.path.startsWith('/fault/')) return { json: { ok: true } };
        if (req.path === '/api/v1/query_range') {
          const p = req.method === 'POST' ? req.form : req.query;
          const query = p.get('query') ?? '';
          const [start, end, step] = [Number(p.get('start')), Number(p.get('end')), Number(p.get('step') ?? '1')];
          // One query for both groups (group=~"a|b") gets one labelled series per group.
          const both = /group=~"([^"]+)"/.exec(query);
          if (both) return { json: matrix(both[1]!.split('|').map((group) => ({ metric: { group }, values: series(group, start, end, step) }))) };
          return { json: matrix([{ metric: {}, values: series(query.includes('"experiment"') ? 'experiment' : 'control', start, end, step) }]) };
        }
        return { status: 404, text: 'not found' };
      });
      writeFileSync(join(work, 'gate.yaml'), spec(backend.url));

      // A store from the package: the migrations must be found beside the compiled code.
      const boot = await cli(['token', 'create', '--role', 'admin', '--name', 'ci'], { STEADYSTATE_DATA_DIR: dataDir() });
      assert.equal(boot.code, 0, show(boot));
      token = boot.stdout.trim();
      port = await freePort();
      server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`], {
        cwd: work,
        env: { ...env, STEADYSTATE_DATA_DIR: dataDir(), STEADYSTATE_LOG_LEVEL: 'warn', STEADYSTATE_SCHEDULER: 'off', STEADYSTATE_WEBHOOK_SECRET_GENERIC: SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
      server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
      const end = Date.now() + 90_000;
      for (;;) {
        if ((await fetch(`${url()}/healthz`).then((r) => r.ok, () => false)) === true) break;
        assert.ok(Date.now() < end && server.exitCode === null, `serve did not answer /healthz\n${serverLog}`);
        await delay(250);
      }
      const applied = await cli(['apply', '-f', 'gate.yaml', '--server', url()], { STEADYSTATE_TOKEN: token });
      assert.equal(applied.code, 0, show(applied));

      // The step's environment exactly as action.yml builds it, `${{ inputs.X }}` filled in.
      const action = parseYaml(readFileSync(join(pkgDir, 'action.yml'), 'utf8')) as {
        inputs: Record<string, { default?: string }>;
        runs: { using: string; steps: { id?: string; run: string; env: Record<string, string> }[] };
      };
      assert.equal(action.runs.using, 'composite');
      const step = action.runs.steps.find((s) => s.id === 'gate')!;
      assert.equal(step.run, 'node "$GITHUB_ACTION_PATH/action/gate.js"');
      const given: Record<string, string> = { server: url(), secret: SECRET, token, service: 'shop', environment: 'staging' };
      stepEnv = {};
      for (const [name, value] of Object.entries(step.env)) {
        const m = /^\$\{\{ inputs\.([a-z-]+) \}\}$/.exec(value);
        assert.ok(m && m[1]! in action.inputs, `${name}: ${value} is an input of action.yml`);
        stepEnv[name] = given[m[1]!] ?? action.inputs[m[1]!]!.default ?? '';
      }
    });

    after(async () => {
      if (server && server.exitCode === null && server.signalCode === null) {
        server.kill('SIGTERM');
        await Promise.race([new Promise((r) => server?.once('exit', r)), delay(20_000)]);
        if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      }
      await backend?.stop();
    });

    /** action/gate.js as the runner starts it: from the action's directory, with the step's env. */
    const gate = (overrides: Record<string, string>, files: { output: string; summary: string }): Promise<Result> =>
      run(process.execPath, [join(pkgDir, 'action', 'gate.js')], {
        cwd: work,
        env: {
          ...env,
          ...stepEnv,
          ...overrides,
          GITHUB_ACTION_PATH: pkgDir,
          GITHUB_OUTPUT: files.output,
          GITHUB_STEP_SUMMARY: files.summary,
          GITHUB_SHA: 'a'.repeat(40),
          GITHUB_RUN_ID: '4242',
          GITHUB_RUN_ATTEMPT: '1',
          GITHUB_JOB: 'deploy',
        },
        timeoutMs: 240_000,
      });

    it('the action posts a signed deploy, waits, and exits with the verdict (failed: 1); the secret is never printed', async () => {
      const files = { output: join(tmp, 'output.txt'), summary: join(tmp, 'summary.md') };
      const r = await gate({}, files);
      const output = readFileSync(files.output, 'utf8');
      const summary = readFileSync(files.summary, 'utf8');
      const runs = /^runs=(.*)$/m.exec(output)?.[1]?.split(' ') ?? [];
      assert.equal(runs.length, 1, `${show(r)}\noutput: ${output}\n${serverLog.slice(-2000)}`);
      const res = await fetch(`${url()}/api/v1/runs/${runs[0]}`, { headers: { authorization: `Bearer ${token}` } });
      const stored = ((await res.json()) as { run: { state: TerminalState; experiment: string } }).run;
      assert.equal(stored.experiment, 'gate');
      assert.equal(stored.state, 'failed', `a halved KPI fails\n${show(r)}`);
      assert.equal(r.code, EXIT_CODES.failed, show(r));
      assert.match(output, /^exit-code=1$/m);
      const result = JSON.parse(/^result=(.*)$/m.exec(output)![1]!) as { deploy: { delivery: string }; exitCode: number };
      assert.equal(result.exitCode, 1);
      assert.equal(result.deploy.delivery, 'github-4242-1-deploy-shop-staging');
      assert.match(summary, /\| failed \| 1 \|/);

      // The step again in the same job attempt: a redelivery, answered with the same run, nothing new.
      const again = await gate({}, { output: join(tmp, 'output-again.txt'), summary: join(tmp, 'summary-again.md') });
      assert.equal(again.code, EXIT_CODES.failed, show(again));
      const repeated = JSON.parse(/^result=(.*)$/m.exec(readFileSync(join(tmp, 'output-again.txt'), 'utf8'))![1]!) as { deploy: { duplicate: boolean; runs: { id: string }[] } };
      assert.equal(repeated.deploy.duplicate, true);
      assert.deepEqual(repeated.deploy.runs.map((x) => x.id), runs);

      for (const text of [r.stdout, r.stderr, output, summary, again.stdout, again.stderr]) {
        assert.ok(!text.includes(SECRET), 'the webhook secret is not printed');
        assert.ok(!text.includes(token), 'the API token is not printed');
      }
    });

    it('a wrong secret: the server refuses the signature (64) and no run starts', async () => {
      const before = ((await (await fetch(`${url()}/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { runs: unknown[] }).runs.length;
      const files = { output: join(tmp, 'output-bad.txt'), summary: join(tmp, 'summary-bad.md') };
      const wrong = 'not-the-secret-but-long-enough';
      const r = await gate({ STEADYSTATE_WEBHOOK_SECRET_GENERIC: wrong, GITHUB_RUN_ATTEMPT: '2' }, files);
      assert.equal(r.code, 64, show(r));
      assert.match(r.stderr, /POST \/hooks\/deploy\/generic answered 401: bad_signature: .*; check STEADYSTATE_WEBHOOK_SECRET_GENERIC/);
      assert.ok(!r.stderr.includes(wrong) && !r.stdout.includes(wrong));
      const afterCount = ((await (await fetch(`${url()}/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).json()) as { runs: unknown[] }).runs.length;
      assert.equal(afterCount, before);
    });
  });
});

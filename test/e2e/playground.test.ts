/**
 * `steadystate playground` as users start it (the CLI in a child process, a
 * real Prometheus), and every file of examples/ run through `steadystate run`
 * against it, each expected to end as its header says (`# expect: STATE`,
 * optionally `# expect-metrics: NAME=VERDICT …`, a verdict may be `a|b`).
 *
 * Ports: the playground's defaults (Prometheus 9090, proxy admin 9101, …) are
 * what examples/ say, and the first test checks exactly that; but CI machines
 * may have 9090 busy, and one proxy holds one fault window at a time, so the
 * runs here use several playgrounds on free loopback ports (flags) and each
 * example is copied with only its two URLs rewritten (source.url and
 * fault.params.admin). Runs on different playgrounds go concurrently.
 *
 * Shortened copies: an example whose fault lasts longer than LONG_FAULT_S
 * (slo-rehearsal.yaml is 10 minutes) runs with fault.duration cut to
 * MAX_FAULT_S (and analysis.minSamples lowered to what that holds, or
 * validate refuses it), and must then say what that copy ends as in
 * `# expect-short: STATE` — the test fails if it does not.
 *
 * Then SIGINT to every playground: each exits by itself, and its pid, its
 * load process and its Prometheus are gone, its ports free again.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { PLAYGROUND_DEFAULTS } from '../../src/cli/playground-command.ts';
import { EXIT_CODES, type TerminalState } from '../../src/engine/types.ts';
import { freePort } from '../../src/lib/ports.ts';
import { checkBinary } from '../helpers/skip.ts';

const prometheus = checkBinary('prometheus', '/usr/bin/prometheus');
const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
/** Examples whose fault lasts longer than LONG_FAULT_S run with it cut to MAX_FAULT_S. */
const LONG_FAULT_S = 60;
const MAX_FAULT_S = 30;
const RULES_DIR = fileURLToPath(new URL('../../examples/rules/', import.meta.url));
/** Every rule file shipped beside the examples, as their headers tell a user to load them. */
const RULES = readdirSync(RULES_DIR).filter((f) => f.endsWith('.yml')).sort().map((f) => join(RULES_DIR, f));
/**
 * Playgrounds side by side: each is ~0.4 of a core at 400 req/s. Measured on a shared 2-core machine:
 * 2 lanes 115 s, every example as expected; 3 lanes 153 s and 4 lanes 91 s, but with the A/A's p95
 * (tolerance 50 ms) inconclusive from the extra latency noise. STEADYSTATE_PLAYGROUND_LANES overrides.
 */
const MAX_LANES = Math.max(1, Math.min(8, Number(process.env.STEADYSTATE_PLAYGROUND_LANES ?? 2) || 2));

interface Example {
  file: string;
  text: string;
  /** One state, or alternatives (`failed|inconclusive`): either is right. */
  expect: TerminalState[];
  metrics: Map<string, string>;
  faultS: number;
  shortened: boolean;
}

interface Running {
  child: ChildProcess;
  ready: { listen: string; admin: string; shop: string; source: { url: string }; pid: number; pids: { load: number; prometheus?: number } };
  stderr: string[];
}

function seconds(text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  assert.ok(m, `duration "${text}"`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2] as string]!;
}

interface FaultShape {
  duration?: string;
  stepDuration?: string;
  steps?: { duration?: string }[];
}

/** The fault window's length: `duration`, or a ladder's steps (each its own `duration` or `stepDuration`). */
function faultSeconds(doc: { spec?: { fault?: FaultShape } }): number {
  const fault = doc.spec?.fault ?? {};
  if (fault.duration !== undefined) return seconds(String(fault.duration));
  assert.ok(fault.steps && fault.steps.length > 0, 'a fault has a duration or steps');
  return fault.steps.reduce((s, step) => s + seconds(String(step.duration ?? fault.stepDuration)), 0);
}

async function readExamples(): Promise<Example[]> {
  const files = (await readdir(EXAMPLES)).filter((f) => /\.ya?ml$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(EXAMPLES, file), 'utf8');
      const faultS = faultSeconds(parseDocument(text).toJS() as { spec?: { fault?: FaultShape } });
      const shortened = faultS > LONG_FAULT_S;
      const header = (key: string): string | undefined => new RegExp(`^# ${key}: *([a-z_|]+)`, 'm').exec(text)?.[1];
      const expect = header(shortened ? 'expect-short' : 'expect');
      assert.ok(
        expect !== undefined && expect.split('|').every((s) => s in EXIT_CODES),
        `${file}: its header must say "# ${shortened ? 'expect-short' : 'expect'}: STATE"${shortened ? ` (its fault lasts ${faultS} s; this test cuts it to ${MAX_FAULT_S} s)` : ''}`,
      );
      // `name=verdict` or `name=verdict|verdict` (either is right).
      const metrics = new Map([...(/^# expect-metrics: *(.*)$/m.exec(text)?.[1] ?? '').matchAll(/([\w-]+)=([\w|]+)/g)].map((m) => [m[1] as string, m[2] as string]));
      return { file, text, expect: expect.split('|') as TerminalState[], metrics, faultS, shortened };
    }),
  );
}

async function startPlayground(): Promise<Running> {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const [shop, listen, admin, prom] = ports.map((p) => `127.0.0.1:${p}`) as [string, string, string, string];
  // The alert rules shipped beside the examples, as the examples' headers tell a user to load them.
  const child = spawn(process.execPath, [BIN, 'playground', '--json', '--shop', shop, '--listen', listen, '--admin', admin, '--prometheus', prom, '--rules', ...RULES], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => stderr.push(l));
  // SIGTERM: the playground then stops what it started (SIGKILL would orphan its Prometheus).
  const timer = setTimeout(() => child.kill('SIGTERM'), 150_000);
  try {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      child.stdout?.resume();
      return { child, ready: JSON.parse(line) as Running['ready'], stderr };
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`the playground exited before it was ready:\n${stderr.join('\n')}`);
}

interface RunOutcome {
  code: number | null;
  run: { state: string; metrics: { name: string; verdict: string; reason?: string }[]; halt?: unknown };
  stderr: string;
}

async function runExample(example: Example, on: Running, dir: string): Promise<RunOutcome> {
  // Only the two URLs change (and, for a long example, the fault's duration).
  const text = example.text
    .replaceAll(`http://${PLAYGROUND_DEFAULTS.prometheus}`, on.ready.source.url)
    .replaceAll(`http://${PLAYGROUND_DEFAULTS.admin}`, on.ready.admin);
  const doc = parseDocument(text);
  if (example.shortened) {
    // A ladder is cut step by step (each step an equal share), a plain fault as a whole.
    const steps = (doc.toJS() as { spec: { fault: FaultShape } }).spec.fault.steps;
    const holdS = steps ? Math.floor(MAX_FAULT_S / steps.length) : MAX_FAULT_S;
    if (steps) {
      doc.setIn(['spec', 'fault', 'stepDuration'], `${holdS}s`);
      steps.forEach((_, i) => doc.deleteIn(['spec', 'fault', 'steps', i, 'duration']));
      doc.deleteIn(['spec', 'fault', 'duration']);
    } else doc.setIn(['spec', 'fault', 'duration'], `${MAX_FAULT_S}s`);
    // Alert rules over 30 s and 1 m windows cannot fire within a step cut to seconds, and the run would
    // watch for them up to a minute past the window: the cut run is judged on its metrics only (the
    // rules' loading is checked on every lane).
    doc.deleteIn(['spec', 'expect']);
    // validate refuses a fault (or a ladder step) too short for minSamples: ask for what it can hold.
    const step = doc.getIn(['spec', 'source', 'step']);
    const stepS = seconds(typeof step === 'string' ? step : '1s');
    const minSamples = Number(doc.getIn(['spec', 'analysis', 'minSamples']) ?? 0);
    if (minSamples > holdS / stepS) doc.setIn(['spec', 'analysis', 'minSamples'], Math.floor(holdS / stepS));
  }
  const file = join(dir, example.file);
  await writeFile(file, doc.toString());
  const child = spawn(process.execPath, [BIN, 'run', file, '--json', '--report-dir', join(dir, 'reports', example.file)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += String(c)));
  child.stderr?.on('data', (c: Buffer) => (stderr += String(c)));
  const timer = setTimeout(() => child.kill('SIGINT'), ((example.shortened ? MAX_FAULT_S : example.faultS) + 90) * 1000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  let run: RunOutcome['run'];
  try {
    run = (JSON.parse(stdout) as { run: RunOutcome['run'] }).run;
  } catch {
    throw new Error(`${example.file}: no JSON from steadystate run (exit ${code}):\n${stdout}\n${stderr.slice(-3000)}`);
  }
  return { code, run, stderr };
}

async function loadRate(prometheusUrl: string): Promise<number> {
  const q = encodeURIComponent('sum(rate(steadystate_proxy_requests_total[10s]))');
  const body = (await (await fetch(`${prometheusUrl}/api/v1/query?query=${q}`)).json()) as { data?: { result?: { value: [number, string] }[] } };
  return Number(body.data?.result?.[0]?.value[1] ?? Number.NaN);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function portFree(hostPort: string): Promise<boolean> {
  const url = new URL(hostPort.includes('://') ? hostPort : `http://${hostPort}`);
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: url.hostname, port: Number(url.port), exclusive: true }, () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    if (server.listening) await new Promise((r) => server.close(r));
  }
}

describe('examples/ use the playground defaults', () => {
  test('every example points at the playground default source and admin URLs, and says what it should end as', async () => {
    const examples = await readExamples();
    assert.ok(examples.length >= 5, examples.map((e) => e.file).join(', '));
    for (const e of examples) {
      const doc = parseDocument(e.text);
      assert.equal(doc.getIn(['spec', 'source', 'url']), `http://${PLAYGROUND_DEFAULTS.prometheus}`, e.file);
      assert.equal(doc.getIn(['spec', 'fault', 'params', 'admin']), `http://${PLAYGROUND_DEFAULTS.admin}`, e.file);
    }
    assert.ok(examples.some((e) => e.text.includes('template: latency-percentile') && /path: \/checkout/.test(e.text)), 'a per-path example');
  });
});

/** `steadystate playground ARGS` that must refuse to start: its exit code and stderr. */
async function refusedPlayground(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'playground', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += String(c)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr };
}

describe('--rules', () => {
  test('an unreadable rule file, or rules with the scrape source, is exit 64 naming --rules, nothing started', async () => {
    for (const args of [['--rules', '/nonexistent/burn.yml'], ['--rules', ...RULES, '--source', 'scrape']]) {
      const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
      const { code, stderr } = await refusedPlayground(['--shop', `127.0.0.1:${ports[0]}`, '--listen', `127.0.0.1:${ports[1]}`, '--prometheus', `127.0.0.1:${ports[2]}`, '--admin', `127.0.0.1:${ports[3]}`, ...args]);
      assert.equal(code, 64, stderr);
      assert.match(stderr, /--rules: (cannot read \/nonexistent\/burn\.yml: ENOENT|rule files need a real Prometheus)/);
      assert.ok(await portFree(`127.0.0.1:${ports[0]}`), 'nothing was started');
    }
  });
});

describe('a taken port is a clear error', () => {
  test('exit 64 naming the flag, nothing started', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const taken = (holder.address() as { port: number }).port;
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    try {
      const { code, stderr } = await refusedPlayground(['--shop', `127.0.0.1:${ports[0]}`, '--listen', `127.0.0.1:${ports[1]}`, '--prometheus', `127.0.0.1:${ports[2]}`, '--admin', `127.0.0.1:${taken}`]);
      assert.equal(code, 64, stderr);
      assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${taken} \\(--admin\\) is in use`));
      // Checked before anything started: the shop's port was never taken.
      assert.ok(await portFree(`127.0.0.1:${ports[0]}`));
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });
});

describe('steadystate playground runs every example to its expected end', { skip: prometheus.skip, timeout: 300_000 }, () => {
  let dir: string;
  let examples: Example[];
  const lanes: Running[] = [];
  const outcomes = new Map<string, Promise<RunOutcome>>();
  /** Requests per second each playground's load reached, as its Prometheus saw them (the examples assume ~400). */
  const achieved: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'steadystate-playground-'));
    examples = await readExamples();
    const n = Math.min(MAX_LANES, examples.length);
    lanes.push(...(await Promise.all(Array.from({ length: n }, () => startPlayground()))));
    achieved.push(...(await Promise.all(lanes.map((l) => loadRate(l.ready.source.url)))));
    // --rules reached Prometheus: the alerting rules the SLO rehearsal ladder expects are there.
    for (const l of lanes) {
      const body = (await (await fetch(`${l.ready.source.url}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: { name: string }[] }[] } };
      const names = body.data.groups.flatMap((g) => g.rules.map((r) => r.name)).sort();
      assert.deepEqual(names, ['CheckoutErrorBudgetBurnFast', 'CheckoutErrorBudgetBurnSlow', 'CheckoutLatencyHigh'], 'the rules of examples/rules/ are loaded');
    }
    // Longest first, each to the lane with the least work: the test lasts about as long as its longest lane.
    const work = lanes.map(() => ({ s: 0, queue: [] as Example[] }));
    // A run takes its fault's duration and ~15 s more; a halt, a few seconds.
    const cost = (e: Example): number => (e.expect.includes('halted') ? 15 : Math.min(e.faultS, e.shortened ? MAX_FAULT_S : e.faultS) + 15);
    for (const e of [...examples].sort((a, b) => cost(b) - cost(a))) {
      const lane = work.reduce((best, w) => (w.s < best.s ? w : best));
      lane.queue.push(e);
      lane.s += cost(e);
    }
    work.forEach((w, i) => {
      let chain: Promise<unknown> = Promise.resolve();
      for (const e of w.queue) {
        const p = chain.then(() => runExample(e, lanes[i] as Running, dir));
        outcomes.set(e.file, p);
        chain = p.catch(() => undefined);
      }
    });
  });

  after(async () => {
    for (const l of lanes) {
      if (l.child.exitCode === null) l.child.kill('SIGKILL');
      // A failed test must not leave a Prometheus or a load behind (a SIGKILLed playground cannot stop them).
      for (const pid of [l.ready.pids.load, l.ready.pids.prometheus]) if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('each example ends as its header says, with the exit code of that state', async () => {
    const failures: string[] = [];
    for (const e of examples) {
      let outcome: RunOutcome;
      try {
        outcome = await (outcomes.get(e.file) as Promise<RunOutcome>);
      } catch (err) {
        failures.push(String(err));
        continue;
      }
      const { code, run, stderr } = outcome;
      const got = `${run.state} (exit ${code}; ${run.metrics.map((m) => `${m.name}=${m.verdict}`).join(' ')}) — ${JSON.stringify(run.metrics.map((m) => m.reason))}`;
      if (!e.expect.includes(run.state as TerminalState) || code !== EXIT_CODES[run.state as TerminalState]) {
        failures.push(`${e.file}${e.shortened ? ` (cut to ${MAX_FAULT_S} s)` : ''}: expected ${e.expect.join(' or ')}, got ${got}\n${stderr.slice(-1500)}`);
      }
      for (const [name, verdict] of e.metrics) {
        const m = run.metrics.find((x) => x.name === name);
        if (!verdict.split('|').includes(m?.verdict ?? 'none')) failures.push(`${e.file}: metric ${name} expected ${verdict}, got ${m?.verdict ?? 'none'} — ${got}`);
      }
    }
    // A machine too busy to produce the load starves every example of power: say so beside the verdicts.
    const note = `load reached ${achieved.map((r) => r.toFixed(0)).join(', ')} of ${PLAYGROUND_DEFAULTS.rate} req/s per playground`;
    assert.deepEqual(failures, [], note);
  });

  test('per path: a fault on /checkout shows on /checkout only', async () => {
    const perPath = examples.filter((e) => /path: \/checkout/.test(e.text) && e.metrics.size > 0);
    assert.ok(perPath.length > 0);
    for (const e of perPath) {
      const { run } = await (outcomes.get(e.file) as Promise<RunOutcome>);
      const metric = (name: string): { verdict: string; effect: number; ci: [number, number] } => {
        const m = run.metrics.find((x) => x.name === name) as { verdict: string; effect: number; ci: [number, number] } | undefined;
        assert.ok(m, `${name} in ${JSON.stringify(run.metrics)}`);
        return m;
      };
      const checkout = metric('p95-checkout');
      const browse = metric('p95-browse');
      // 400 ± 20 ms are injected on /checkout only: its p95 rises beyond the band, and /browse's
      // moves by a fraction of that. Every slowed request lands in the
      // proxy's 0.3–0.5 s bucket, so the experiment's p95 reads ~0.49 s in every window (at 300 ms
      // the requests straddled the 0.3 s edge and the p95 jumped between 0.3 and 0.49 s, which once
      // widened the interval down to -0.003 s in CI). The verdict may still be inconclusive on a
      // machine so loaded that the proxy's own delay pushes requests past 0.5 s.
      assert.ok(['fail', 'inconclusive'].includes(checkout.verdict), JSON.stringify(run.metrics));
      // The estimate, not its interval: on a saturated 2-core machine the control's p95 spikes now and
      // then (CPU stalls), and the paired interval then reached below zero (−0.02…+0.84 s on Node 24 in
      // a full run) while the estimate stayed far beyond the band.
      assert.ok(checkout.effect > 0.1, `p95-checkout rose ${checkout.effect} s`);
      assert.notEqual(browse.verdict, 'fail', JSON.stringify(run.metrics));
      // /browse moves by none of the 400 ms: on a saturated machine both groups' /browse p95 wander by
      // ~0.1 s (−0.112 s seen in a full run), so "none" is read as less than a third of /checkout's rise.
      assert.ok(Math.abs(browse.effect) < checkout.effect / 3, `p95-browse moved ${browse.effect} s against /checkout's ${checkout.effect} s`);
    }
  });

  test('SIGINT stops every playground and everything it started', async () => {
    await Promise.all([...outcomes.values()].map((p) => p.catch(() => undefined)));
    await Promise.all(
      lanes.map(async (l) => {
        const exited = once(l.child, 'exit');
        l.child.kill('SIGINT');
        const timer = setTimeout(() => l.child.kill('SIGKILL'), 45_000);
        const [code, signal] = (await exited) as [number | null, string | null];
        clearTimeout(timer);
        assert.equal(signal, null, `the playground ended by itself (not SIGKILLed): ${l.stderr.slice(-5).join('\n')}`);
        assert.equal(code, 0);
        const pids = [l.ready.pid, l.ready.pids.load, l.ready.pids.prometheus ?? 0];
        assert.ok(l.ready.pids.prometheus, 'a real Prometheus was started');
        // Children reaped by the playground before it exited: no pid is left.
        assert.deepEqual(pids.filter(alive), [], `processes left behind of ${JSON.stringify(pids)}`);
        for (const hp of [l.ready.shop, l.ready.listen, l.ready.admin, l.ready.source.url]) assert.ok(await portFree(hp), `${hp} is free again`);
      }),
    );
  });
});

/**
 * `steadystate compare`, spawned as users and scripts run it
 * (`node bin/steadystate.js compare …`): results on stdout as JSON, one line
 * per comparison, exit codes like `run` (0 pass, 1 fail, 3 inconclusive; the
 * worst of a batch) and 64 on bad input with a message naming the flag or the line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../bench/stats/prng.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'steadystate-compare-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'compare', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const json = (stdout: string): Record<string, any> => JSON.parse(stdout.trim()) as Record<string, any>;

interface GoldenCase {
  name: string;
  alternative: string;
  confLevel: number;
  x: number[];
  y: number[];
  r: { pValue: number };
  exact: { estimate: number; confInt: [number | null, number | null] };
}
const golden = (JSON.parse(readFileSync(new URL('../stats/golden/mann-whitney.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] }).cases;

void describe('compare --method mann-whitney', { concurrency: true }, () => {
  for (const c of golden.filter((g) => g.alternative === 'two.sided').slice(0, 1)) {
    void it(`reports R's p-value and Hodges–Lehmann shift and interval (${c.name})`, async () => {
      const r = await run(['--method', 'mann-whitney', '--experiment', file(`x-${c.name}.json`, c.x), '--control', file(`y-${c.name}.json`, c.y), '--alpha', String(1 - c.confLevel), '--json']);
      const out = json(r.stdout);
      assert.equal(r.code, { pass: 0, fail: 1, inconclusive: 3 }[out.verdict as string], r.stderr);
      assert.equal(out.method, 'mann-whitney');
      assert.equal(out.n, c.x.length + c.y.length);
      assert.ok(Math.abs(out.pValue / c.r.pValue - 1) <= 1e-6, `p ${out.pValue} vs R ${c.r.pValue}`);
      assert.ok(Math.abs(out.estimate - c.exact.estimate) <= 1e-12 * Math.max(1, Math.abs(c.exact.estimate)));
      assert.ok(Math.abs(out.ci[0] - c.exact.confInt[0]!) <= 1e-12 * Math.max(1, Math.abs(c.exact.confInt[0]!)));
      assert.ok(Math.abs(out.ci[1] - c.exact.confInt[1]!) <= 1e-12 * Math.max(1, Math.abs(c.exact.confInt[1]!)));
      assert.ok(['pass', 'fail', 'inconclusive'].includes(out.verdict));
      assert.equal('stoppedAt' in out, false);
    });
  }

  void it('judges with the band and direction: a clear rise fails `increase`, passes `decrease`', async () => {
    const control = Array.from({ length: 50 }, (_, i) => 200 + ((i * 7) % 11));
    const experiment = control.map((v) => v + 30);
    const c = file('mw-c.json', control);
    const e = file('mw-e.json', experiment);
    const upRun = await run(['--method', 'mann-whitney', '--control', c, '--experiment', e, '--direction', 'increase', '--tolerance', '5%', '--json']);
    const up = json(upRun.stdout);
    assert.equal(up.verdict, 'fail');
    assert.equal(up.estimate, 30);
    assert.equal(upRun.code, 1, 'a fail exits 1, like run');
    const downRun = await run(['--method', 'mann-whitney', '--control', c, '--experiment', e, '--direction', 'decrease', '--tolerance', '5%', '--json']);
    assert.equal(json(downRun.stdout).verdict, 'pass');
    assert.equal(downRun.code, 0, 'a pass exits 0');
  });
});

void describe('compare, sequential methods', { concurrency: true }, () => {
  const rng = new Rng(42);
  const control = Array.from({ length: 120 }, () => rng.poisson(100));
  const dropped = Array.from({ length: 120 }, () => rng.poisson(80));

  void it('sequential-rate: a 20% drop fails and says at which look it stopped', async () => {
    const r = await run(['--method', 'sequential-rate', '--control', file('r-c.json', control), '--experiment', file('r-e.json', dropped), '--direction', 'decrease', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const out = json(r.stdout);
    assert.equal(out.method, 'sequential-rate');
    assert.equal(out.n, 120);
    assert.equal(out.verdict, 'fail');
    assert.equal(typeof out.stoppedAt, 'number');
    assert.ok(out.stoppedAt >= 19 && out.stoppedAt < 60, `stoppedAt ${out.stoppedAt}`);
    assert.ok(Math.abs(out.estimate - 0.8) < 0.03);
    assert.ok(out.ci[0] < 0.8 && out.ci[1] > 0.8 && out.ci[1] < 1);
    assert.ok(out.pValue <= 0.05);
  });

  void it('sequential-rate: the split is the null (25% of the traffic, a quarter of the events)', async () => {
    const quarter = control.map((v) => Math.round(v / 3));
    const out = json((await run(['--method', 'sequential-rate', '--control', file('s-c.json', control), '--experiment', file('s-e.json', quarter), '--split', '25%', '--json'])).stdout);
    assert.equal(out.stoppedAt, null);
    assert.ok(Math.abs(out.estimate - 1) < 0.05, `estimate ${out.estimate}`);
  });

  void it('sequential-mean: a shift on per-step latencies fails `increase`', async () => {
    const base = Array.from({ length: 200 }, () => 100 + 5 * rng.normal());
    const out = json((await run(['--method', 'sequential-mean', '--control', file('m-c.json', base.map((v) => v + rng.normal())), '--experiment', file('m-e.json', base.map((v) => v + 3 + rng.normal())), '--direction', 'increase', '--json'])).stdout);
    assert.equal(out.verdict, 'fail');
    assert.ok(Math.abs(out.estimate - 3) < 0.5);
    assert.equal(typeof out.stoppedAt, 'number');
  });

  void it('proportion: [errors, total] pairs; an infinite ratio prints as null', async () => {
    const c = Array.from({ length: 100 }, () => [0, 1000]);
    const e = Array.from({ length: 100 }, (_, i) => [i % 3, 1000]);
    const out = json((await run(['--method', 'proportion', '--control', file('p-c.json', c), '--experiment', file('p-e.json', e), '--direction', 'increase', '--json'])).stdout);
    assert.equal(out.method, 'proportion');
    assert.equal(out.estimate, null); // Infinity: errors in the experiment only
    assert.equal(out.verdict, 'fail');
    assert.equal(out.ci[1], null);
  });

  void it('without --json prints one human line', async () => {
    const r = await run(['--method', 'sequential-rate', '--control', file('h-c.json', control), '--experiment', file('h-e.json', dropped), '--direction', 'decrease']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^sequential-rate: fail — estimate 0\.\d+, 95% CI .*stopped at look \d+\n$/);
  });
});

void describe('compare --batch', { concurrency: true }, () => {
  void it('one result per line with the same id; a bad line is an error result with its line number, exit 64', async () => {
    const rng = new Rng(7);
    const good = (id: string, ratio: number): string =>
      JSON.stringify({ id, control: Array.from({ length: 80 }, () => rng.poisson(100)), experiment: Array.from({ length: 80 }, () => rng.poisson(100 * ratio)) });
    const batch = file('batch.jsonl', [good('a', 1), '{not json', '', JSON.stringify({ id: 'c', control: [1, 2], experiment: [1] }), good('d', 0.7), JSON.stringify({ id: 'e', control: [1, 'x'], experiment: [1, 2] })].join('\n'));
    const r = await run(['--method', 'sequential-rate', '--batch', batch, '--direction', 'decrease']);
    assert.equal(r.code, 64);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    assert.deepEqual(lines.map((l) => l.id), ['a', null, 'c', 'd', 'e']);
    assert.equal(lines[0]!.verdict !== undefined && lines[0]!.error === undefined, true);
    assert.equal(lines[1]!.line, 2);
    assert.match(lines[1]!.error, /not JSON/);
    assert.equal(lines[2]!.line, 4);
    assert.match(lines[2]!.error, /experiment: has 1 looks and control has 2/);
    assert.equal(lines[3]!.verdict, 'fail');
    assert.equal(lines[4]!.line, 6);
    assert.match(lines[4]!.error, /control: element 1 is "x", not a finite number/);
    assert.match(r.stderr, /batch\.jsonl:2: /);
    assert.match(r.stderr, /batch\.jsonl:6: /);
  });

  void it('all lines good → the worst verdict: inconclusive (3) with too few samples, fail (1) over it, pass (0) alone', async () => {
    const few = JSON.stringify({ id: 1, control: [1, 2, 3, 4, 5, 6], experiment: [2, 3, 4, 5, 6, 7] });
    const control = Array.from({ length: 50 }, (_, i) => 200 + ((i * 7) % 11));
    const worse = JSON.stringify({ id: 2, control, experiment: control.map((v) => v + 30) });
    const same = JSON.stringify({ id: 3, control, experiment: control });
    const r = await run(['--method', 'mann-whitney', '--batch', file('ok.jsonl', `${few}\n`)]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(json(r.stdout).id, 1);
    const mixed = await run(['--method', 'mann-whitney', '--direction', 'increase', '--tolerance', '5%', '--batch', file('mixed.jsonl', `${few}\n${worse}\n${same}\n`)]);
    assert.deepEqual(mixed.stdout.trim().split('\n').map((l) => JSON.parse(l).verdict), ['inconclusive', 'fail', 'pass']);
    assert.equal(mixed.code, 1, mixed.stderr);
    const good = await run(['--method', 'mann-whitney', '--direction', 'increase', '--tolerance', '5%', '--batch', file('good.jsonl', `${same}\n`)]);
    assert.equal(good.code, 0, good.stderr);
  });
});

void describe('compare: bad input exits 64 and names the flag', { concurrency: true }, () => {
  const c = file('bad-c.json', [1, 2, 3]);
  const cases: [string, string[], RegExp][] = [
    ['alpha out of range', ['--method', 'mann-whitney', '--control', c, '--experiment', c, '--alpha', '1.5'], /--alpha: must be a number strictly between 0 and 1/],
    ['unknown method', ['--method', 'ttest', '--control', c, '--experiment', c], /--method/],
    ['missing file', ['--method', 'mann-whitney', '--control', join(dir, 'nope.json'), '--experiment', c], /--control: .*nope\.json: file not found/],
    ['not numbers', ['--method', 'mann-whitney', '--control', c, '--experiment', file('strs.json', [1, 'two'])], /--experiment: element 1 is "two", not a finite number/],
    ['unequal looks', ['--method', 'sequential-mean', '--control', c, '--experiment', file('two.json', [1, 2])], /--experiment: has 2 looks and --control has 3/],
    ['absolute tolerance on a ratio', ['--method', 'sequential-rate', '--control', c, '--experiment', c, '--tolerance', '3'], /--tolerance: .*must be relative/],
    ['bad pair', ['--method', 'proportion', '--control', file('pairs.json', [[1, 10], [5, 2]]), '--experiment', file('pairs2.json', [[1, 10], [1, 10]])], /--control: element 1 is \[5, 2\]: need 0 ≤ errors ≤ total/],
    ['no files', ['--method', 'mann-whitney'], /--control: required/],
    ['batch and files', ['--method', 'mann-whitney', '--batch', c, '--control', c], /--batch: use either/],
  ];
  for (const [label, args, message] of cases) {
    void it(label, async () => {
      const r = await run(args);
      assert.equal(r.code, 64, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    });
  }
});

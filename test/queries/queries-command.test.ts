import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { listQueries, showQuery } from '../../src/cli/queries-run.ts';
import { BUILTIN_QUERY_DIR, loadQueryLibrary } from '../../src/queries/library.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));

function cli(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steadystate-queries-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('steadystate queries', () => {
  const library = loadQueryLibrary([BUILTIN_QUERY_DIR]);

  void test('list shows every template with each backend\'s variables, defaults and required ones', () => {
    let text = '';
    assert.equal(listQueries(library, false, (s) => (text += s)), 0);
    for (const name of library.templates.keys()) assert.match(text, new RegExp(`^${name}  \\(`, 'm'));
    assert.match(text, /^ {2}prometheus:\n {4}metric +name +required \(e\.g\. shop_checkouts_total\)/m);
    assert.match(text, /^ {4}window +duration += 1m +— rate\(\) window/m);
    assert.match(text, /^ {4}errorCodes +tag += 5\*/m);
    assert.match(text, /5 template\(s\) from /);
  });

  void test('list --json is one object with the variables of every variant', () => {
    let text = '';
    listQueries(library, true, (s) => (text += s));
    const out = JSON.parse(text);
    assert.deepEqual(out.errors, []);
    const availability = out.templates.find((t: any) => t.name === 'availability');
    assert.equal(availability.direction, 'decrease');
    assert.deepEqual(Object.keys(availability.variants).sort(), ['datadog', 'prometheus']);
    const metric = availability.variants.datadog.vars.find((v: any) => v.name === 'metric');
    assert.deepEqual(metric, {
      name: 'metric',
      type: 'name',
      required: true,
      description: 'request counter labelled with the status code',
      example: 'shop.requests',
    });
    const window = availability.variants.prometheus.vars.find((v: any) => v.name === 'window');
    assert.equal(window.default, '1m');
    assert.equal(window.required, false);
  });

  void test('show renders one template, or prints the issues (exit 64)', () => {
    let text = '';
    assert.equal(showQuery(library, 'throughput', 'datadog', ['metric=shop.checkouts', 'service=shop'], (s) => (text += s)), 0);
    assert.equal(text, 'sum:shop.checkouts{group:$group,service:shop}.as_rate()\n');
    assert.equal(showQuery(library, 'throughput', 'datadog', ['pth=/x'], () => undefined), 64);
  });

  void test('the CLI lists user directories first and exits 64 when a template file is broken', async () => {
    await writeFile(join(dir, 'orders.yaml'), 'description: orders\nprometheus:\n  query: sum(rate(orders_total{group="$group"}[1m]))\n');
    const ok = cli(['queries', 'list', '--json'], { STEADYSTATE_QUERY_DIRS: dir });
    assert.equal(ok.status, 0, ok.stderr);
    const out = JSON.parse(ok.stdout);
    assert.equal(out.dirs[0], dir);
    assert.ok(out.templates.some((t: any) => t.name === 'orders' && t.file === join(dir, 'orders.yaml')));

    await writeFile(join(dir, 'broken.yaml'), 'description: broken\nprometheus:\n  query: sum(x{a="$nope"})\n');
    const bad = cli(['queries', 'list'], { STEADYSTATE_QUERY_DIRS: dir });
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /broken\.yaml: prometheus: \$nope is not declared in vars/);
    assert.match(bad.stdout, /^orders/m, 'the good templates are still listed');
  });
});

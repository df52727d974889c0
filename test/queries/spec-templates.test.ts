/**
 * Templates in specs: `query: { template, vars }` is rendered at validation for
 * spec.source.kind; the parsed spec holds the rendered string; problems are
 * reported with the field path and line, together with the spec's other problems.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { parseExperiment, validateExperiment } from '../../src/spec/load.ts';
import { renderQuery } from '../../src/spec/template.ts';

const BIN = fileURLToPath(new URL('../../bin/steadystate.js', import.meta.url));

function spec(source: string, steadyState: string, guardrails = ''): string {
  return `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: templated, service: shop }
spec:
  source: ${source}
  groups: { control: ctl, experiment: exp }
  steadyState:
${steadyState}
  fault:
    injector: command
    params: { open: [node, -e, ""], close: [node, -e, ""] }
    duration: 10m
${guardrails}
`;
}

const PROM = '{ kind: prometheus, url: "http://127.0.0.1:9090", step: 1s }';
const DD = '{ kind: datadog, site: eu }';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steadystate-spec-templates-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('query templates in specs', () => {
  void test('rendered for prometheus; the parsed spec holds strings with $group left for the engine', () => {
    const r = parseExperiment(
      spec(
        PROM,
        `    - name: availability
      query: { template: availability, vars: { path: /update, window: 30s } }
      direction: decrease
    - name: sps
      query: { template: throughput, vars: { metric: shop_checkouts_total } }`,
        `  guardrails:
    - name: burn
      query: { template: error-budget-burn }
      max: 14.4`,
      ),
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    const [availability, sps] = r.experiment.spec.steadyState;
    assert.equal(
      availability!.query,
      '(sum(rate(steadystate_proxy_requests_total{group="$group", route=~"/update", code!~"5..|aborted"}[30s])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="$group", route=~"/update"}[30s]))',
    );
    assert.equal(sps!.query, 'sum(rate(shop_checkouts_total{group="$group"}[1m]))');
    const burn = r.experiment.spec.guardrails[0]!;
    assert.equal(burn.kind, 'threshold');
    assert.match(burn.kind === 'threshold' ? burn.query : '', /^\(\(sum\(rate\(steadystate_proxy_requests_total\{group="\$group", code=~"5\.\.\|aborted"\}/);
    // The groups mapping applies to template output as to any query.
    assert.equal(renderQuery(sps!.query, { group: r.experiment.spec.groups.experiment }), 'sum(rate(shop_checkouts_total{group="exp"}[1m]))');
  });

  void test('the same spec on datadog picks the datadog variant', () => {
    const r = parseExperiment(
      spec(
        DD,
        `    - name: availability
      query: { template: availability, vars: { metric: shop.requests, service: shop, path: /update } }`,
      ),
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    const query = r.experiment.spec.steadyState[0]!.query;
    assert.equal(
      query,
      'sum:shop.requests{group:$group,service:shop,route:/update,!code:5*}.as_count().fill(zero) / sum:shop.requests{group:$group,service:shop,route:/update}.as_count()',
    );
    assert.equal(
      renderQuery(query, { group: 'ctl' }),
      'sum:shop.requests{group:ctl,service:shop,route:/update,!code:5*}.as_count().fill(zero) / sum:shop.requests{group:ctl,service:shop,route:/update}.as_count()',
    );
  });

  void test('unknown and missing variables are issues at …query.vars.<name>, on their line, with the spec\'s other issues', () => {
    const r = parseExperiment(
      spec(
        DD,
        `    - name: availability
      query:
        template: availability
        vars:
          service: shop
          pth: /update
      tolerance: lots`,
        `  guardrails:
    - name: burn
      query: { template: error-budget-burn, vars: { metric: shop.requests, objective: 2 } }
      max: 14.4
    - name: nope
      query: { template: no-such-template }
      max: 1`,
      ),
    );
    assert.ok(!r.ok);
    const byPath = new Map(r.issues.map((i) => [i.path, i]));
    const pth = byPath.get('spec.steadyState[0].query.vars.pth');
    assert.match(pth?.message ?? '', /unknown variable "pth" for template "availability" \(datadog\)/);
    assert.equal(pth?.line, 13);
    const metric = byPath.get('spec.steadyState[0].query.vars.metric');
    assert.match(metric?.message ?? '', /missing required variable "metric"/);
    assert.equal(metric?.line, 11, 'a missing variable points at vars');
    assert.match(byPath.get('spec.steadyState[0].tolerance')?.message ?? '', /not a tolerance/);
    assert.match(byPath.get('spec.guardrails[0].query.vars.objective')?.message ?? '', /strictly between 0 and 1/);
    assert.match(byPath.get('spec.guardrails[1].query.template')?.message ?? '', /unknown query template "no-such-template"; known: availability/);
  });

  void test('a malformed reference is an issue of the query field, not a crash', () => {
    const r = validateExperiment({
      apiVersion: 'steadystate.dev/v1alpha1',
      kind: 'Experiment',
      metadata: { name: 'malformed' },
      spec: {
        source: { kind: 'prometheus', url: 'http://127.0.0.1:9090', step: '1s' },
        steadyState: [{ name: 'a', query: { tempate: 'availability', vars: [] } }],
        fault: { injector: 'command', params: { open: ['node', '-e', ''], close: ['node', '-e', ''] }, duration: '1m' },
      },
    });
    assert.ok(!r.ok);
    assert.deepEqual(
      r.issues.map((i) => i.path).sort(),
      // The misspelled key is named at its own path (src/spec/load.ts), as an unknown field.
      ['spec.steadyState[0].query.tempate', 'spec.steadyState[0].query.template', 'spec.steadyState[0].query.vars'],
    );
    assert.equal(r.issues.find((i) => i.path === 'spec.steadyState[0].query.tempate')?.message, 'unknown field (did you mean "template"?)');
  });

  void test('STEADYSTATE_QUERY_DIRS adds a team\'s own templates', async () => {
    const teamDir = join(dir, 'team');
    await mkdir(teamDir, { recursive: true });
    await writeFile(
      join(teamDir, 'orders.yaml'),
      `description: orders per second\ndirection: decrease\nvars: { region: { type: regex, default: ".*" } }\nprometheus:\n  query: sum(rate(orders_total{variant="$group", region=~"$region"}[1m]))\n`,
    );
    const previous = process.env.STEADYSTATE_QUERY_DIRS;
    process.env.STEADYSTATE_QUERY_DIRS = teamDir;
    try {
      const r = parseExperiment(spec(PROM, '    - { name: orders, query: { template: orders, vars: { region: eu } } }'));
      assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
      assert.equal(r.experiment.spec.steadyState[0]!.query, 'sum(rate(orders_total{variant="$group", region=~"eu"}[1m]))');
    } finally {
      if (previous === undefined) delete process.env.STEADYSTATE_QUERY_DIRS;
      else process.env.STEADYSTATE_QUERY_DIRS = previous;
    }
    // Without the directory the template is unknown again.
    const r = parseExperiment(spec(PROM, '    - { name: orders, query: { template: orders } }'));
    assert.ok(!r.ok && /unknown query template "orders"/.test(r.issues[0]!.message));
  });

  void test('`steadystate validate` prints FILE:LINE path: message for template problems (exit 64)', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, spec(DD, '    - name: a\n      query: { template: throughput, vars: { metric: shop.checkouts, pth: /x } }'));
    const res = spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.status, 64, res.stderr);
    assert.match(res.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9 spec\\.steadyState\\[0\\]\\.query\\.vars\\.pth: unknown variable "pth"`, 'm'));
  });
});

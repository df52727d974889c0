import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BUILTIN_QUERY_DIR,
  defaultQueryLibrary,
  loadQueryLibrary,
  parseTemplateFile,
  queryDirs,
  QUERY_DIRS_ENV,
} from '../../src/queries/library.ts';
import { normalizeDatadogScopes, normalizePromSelectors, renderFromLibrary, renderTemplate, typeProblem } from '../../src/queries/render.ts';

const BUILTIN = ['availability', 'error-budget-burn', 'latency-percentile', 'latency-under-threshold', 'throughput'];

const MINIMAL = `
description: a test template
vars:
  metric: { type: name }
prometheus:
  query: sum(rate($metric{group="$group"}[1m]))
`;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steadystate-queries-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void describe('the built-in library', () => {
  const library = loadQueryLibrary([BUILTIN_QUERY_DIR]);

  void test('loads without errors: five templates, each for prometheus and datadog', () => {
    assert.deepEqual(library.errors, []);
    assert.deepEqual([...library.templates.keys()].sort(), BUILTIN);
    for (const t of library.templates.values()) {
      assert.deepEqual(Object.keys(t.variants).sort(), ['datadog', 'prometheus'], t.name);
      assert.ok(t.direction, `${t.name} says which change is bad`);
      for (const v of Object.values(t.variants)) {
        const names = v.vars.map((x) => x.name);
        // Per critical user journey: every template can be narrowed by service, path and method.
        for (const cuj of ['service', 'path', 'method']) assert.ok(names.includes(cuj), `${t.name}/${v.backend} lacks ${cuj}`);
      }
    }
  });

  void test('Prometheus defaults target the metrics the fault proxy really exports', () => {
    const render = (name: string) => renderFromLibrary(library, name, 'prometheus', name === 'throughput' ? { metric: 'shop_checkouts_total' } : {});
    assert.deepEqual(render('availability'), {
      ok: true,
      query:
        '(sum(rate(steadystate_proxy_requests_total{group="$group", code!~"5..|aborted"}[1m])) or vector(0)) / sum(rate(steadystate_proxy_requests_total{group="$group"}[1m]))',
    });
    assert.deepEqual(render('latency-percentile'), {
      ok: true,
      query: 'histogram_quantile(0.95, sum by (le) (rate(steadystate_proxy_request_duration_seconds_bucket{group="$group"}[1m])))',
    });
    assert.deepEqual(render('throughput'), { ok: true, query: 'sum(rate(shop_checkouts_total{group="$group"}[1m]))' });
  });

  void test('a critical user journey of the sample shop: route and label names as vars', () => {
    assert.deepEqual(
      renderFromLibrary(library, 'latency-under-threshold', 'prometheus', {
        metric: 'shop_request_duration_seconds',
        path: '/checkout',
        threshold: 0.25,
        window: '15s',
      }),
      {
        ok: true,
        query:
          'sum(rate(shop_request_duration_seconds_bucket{group="$group", route=~"/checkout", le="0.25"}[15s])) / sum(rate(shop_request_duration_seconds_count{group="$group", route=~"/checkout"}[15s]))',
      },
    );
  });

  void test('the issue\'s example, for Datadog: service and path become tags, unset filters disappear', () => {
    assert.deepEqual(renderFromLibrary(library, 'availability', 'datadog', { metric: 'shop.requests', service: 'shop', path: '/update' }), {
      ok: true,
      query:
        'sum:shop.requests{group:$group,service:shop,route:/update,!code:5*}.as_count().fill(zero) / sum:shop.requests{group:$group,service:shop,route:/update}.as_count()',
    });
    assert.deepEqual(renderFromLibrary(library, 'latency-percentile', 'datadog', { metric: 'trace.http.request', quantile: 0.999, pathTag: 'resource_name', path: 'get_/update' }), {
      ok: true,
      query: 'p99.9:trace.http.request{group:$group,resource_name:get_/update}',
    });
  });
});

void describe('template files', () => {
  void test('a minimal file: name from the file name, text variables, required without default', () => {
    const t = parseTemplateFile('/x/my-kpi.yaml', MINIMAL);
    assert.equal(t.name, 'my-kpi');
    assert.deepEqual(t.variants.prometheus?.vars, [{ name: 'metric', type: 'name' }]);
  });

  void test('mistakes in a template are load errors, each named', () => {
    const bad = (text: string) => () => parseTemplateFile('/x/bad.yaml', text);
    assert.throws(bad(`description: d\nprometheus:\n  query: sum(x{group="$group", a="$undeclared"})`), /\$undeclared is not declared/);
    assert.throws(bad(`description: d\nvars: { group: {} }\nprometheus:\n  query: x{group="$group"}`), /"group" is filled per group/);
    assert.throws(bad(`description: d\nprometheus:\n  query: sum(x)`), /must use \$group/);
    assert.throws(bad(`description: d\ngraphite:\n  query: x.$group`), /"graphite" is neither a field .* nor a backend \(datadog, prometheus, scrape\)/);
    assert.throws(bad(`description: d\nvars: { w: { type: number } }\nprometheus:\n  query: x{group="$group"}[\${w:seconds}s]`), /needs a duration variable/);
    assert.throws(bad(`description: d\nvars: { w: { type: weird } }\nprometheus:\n  query: x{group="$group"}`), /vars\.w\.type/);
    assert.throws(bad(`description: d`), /no backend variant/);
    assert.throws(bad(`description: d\ndescription: e\nprometheus: { query: 'x{group="$group"}' }`), /not valid YAML/);
  });

  void test('engine variables may be used undeclared: they are left for the run', () => {
    const t = parseTemplateFile('/x/env.yaml', `description: d\nprometheus:\n  query: x{group="$group", env="$environment"}`);
    assert.deepEqual(renderTemplate(t, 'prometheus', {}), { ok: true, query: 'x{group="$group", env="$environment"}' });
  });
});

void describe('user directories (STEADYSTATE_QUERY_DIRS)', () => {
  void test('searched before the built-in one; the first of a name wins and the rest are listed as hidden', async () => {
    const mine = join(dir, 'mine');
    await import('node:fs/promises').then((fs) => fs.mkdir(mine, { recursive: true }));
    await writeFile(join(mine, 'throughput.yaml'), MINIMAL);
    await writeFile(join(mine, 'orders.yml'), MINIMAL);
    await writeFile(join(mine, 'broken.yaml'), 'description: [unclosed');
    await writeFile(join(mine, 'notes.txt'), 'ignored');
    const env = { [QUERY_DIRS_ENV]: `${mine}::${join(dir, 'missing')}` };
    assert.deepEqual(queryDirs(env), [mine, join(dir, 'missing'), BUILTIN_QUERY_DIR]);

    const library = defaultQueryLibrary(env);
    assert.equal(library.templates.get('throughput')?.file, join(mine, 'throughput.yaml'));
    assert.deepEqual(library.templates.get('throughput')?.shadows, [join(BUILTIN_QUERY_DIR, 'throughput.yaml')]);
    assert.ok(library.templates.has('orders'));
    assert.ok(library.templates.has('availability'), 'built-ins still there');
    assert.deepEqual(
      library.errors.map((e) => e.file),
      [join(mine, 'broken.yaml'), join(dir, 'missing')],
    );
    // An unknown name mentions the files that failed, since the template may be in one of them.
    const r = renderFromLibrary(library, 'ordrs', 'prometheus', {});
    assert.ok(!r.ok);
    assert.match(r.issues[0]!.message, /unknown query template "ordrs"; known: availability, .*orders.*; 2 template file\(s\) could not be loaded/);
  });
});

void describe('rendering', () => {
  const library = loadQueryLibrary([BUILTIN_QUERY_DIR]);
  const issues = (name: string, backend: string, vars: Record<string, string | number | boolean>) => {
    const r = renderFromLibrary(library, name, backend, vars);
    assert.ok(!r.ok, `expected issues, got ${JSON.stringify(r)}`);
    return r.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  void test('unknown and missing variables are issues at vars.<name>', () => {
    const got = issues('throughput', 'prometheus', { pth: '/x', service: 'shop' });
    assert.equal(got.length, 2);
    assert.match(got[0]!, /^vars\.pth: unknown variable "pth" for template "throughput" \(prometheus\); known: metric, service, path/);
    assert.match(got[1]!, /^vars\.metric: missing required variable "metric" \(name\).*e\.g\. shop_checkouts_total/);
  });

  void test('values that would change the query\'s meaning are refused', () => {
    assert.match(issues('availability', 'prometheus', { path: '/a"} or vector(1) #' })[0]!, /^vars\.path: .*double quote/);
    assert.match(issues('availability', 'prometheus', { path: '$group' })[0]!, /"\$" \(it would start a variable\)/);
    assert.match(issues('availability', 'prometheus', { service: '(' })[0]!, /valid regular expression/);
    assert.match(issues('availability', 'prometheus', { path: '/a b' })[0]!, /^vars\.path: .*path pattern/);
    assert.match(issues('availability', 'prometheus', { path: '/a\\b' })[0]!, /^vars\.path: .*backslashes/);
    assert.match(issues('availability', 'datadog', { metric: 'x', path: '/a,env:prod' })[0]!, /Datadog tag value/);
    assert.match(issues('availability', 'prometheus', { metric: 'x-y' })[0]!, /metric, label or tag name/);
    assert.match(issues('availability', 'prometheus', { window: 'soon' })[0]!, /duration/);
    assert.match(issues('error-budget-burn', 'prometheus', { objective: 1 })[0]!, /strictly between 0 and 1/);
    assert.match(issues('latency-under-threshold', 'prometheus', { threshold: 'fast' })[0]!, /must be a number/);
  });

  void test('path is a glob as the proxy\'s --route takes it: * any run, | alternatives, the rest literal', () => {
    const selector = (path: string): string => {
      const r = renderFromLibrary(library, 'latency-percentile', 'prometheus', { path });
      assert.ok(r.ok, JSON.stringify(r));
      return /route=~"((?:[^"\\]|\\.)*)"/.exec(r.query)?.[1] ?? '(no route matcher)';
    };
    assert.equal(selector('/checkout'), '/checkout');
    assert.equal(selector('/api/*'), '/api/.*');
    assert.equal(selector('/static/app.js'), '/static/app\\\\.js');
    assert.equal(selector('/a(1)|/b*'), '/a\\\\(1\\\\)|/b.*');
    // The default `*` is "any path", and the matcher is dropped altogether.
    const any = renderFromLibrary(library, 'latency-percentile', 'prometheus', {});
    assert.ok(any.ok && !any.query.includes('route'), JSON.stringify(any));
    // Datadog keeps its own wildcard syntax.
    const dd = renderFromLibrary(library, 'latency-percentile', 'datadog', { metric: 'shop.request.duration', path: '/api/*' });
    assert.ok(dd.ok && dd.query.includes('route:/api/*'), JSON.stringify(dd));
  });

  void test('numbers are written in their shortest form (le="0.3", not "0.30")', () => {
    const r = renderFromLibrary(library, 'latency-under-threshold', 'prometheus', { threshold: '0.30' });
    assert.ok(r.ok && r.query.includes('le="0.3"'), JSON.stringify(r));
  });

  void test('a template without a variant for the backend says which it has', () => {
    const t = parseTemplateFile('/x/only-prom.yaml', MINIMAL);
    const r = renderTemplate(t, 'datadog', { metric: 'x' });
    assert.deepEqual(r, {
      ok: false,
      issues: [{ path: ['template'], message: 'template "only-prom" has no datadog variant (it has: prometheus); source.kind is datadog' }],
    });
  });

  void test('modifiers: ${d:seconds} and ${q:percent}', () => {
    const t = parseTemplateFile(
      '/x/mod.yaml',
      `description: d\nvars: { d: { type: duration, default: 2m }, q: { type: fraction, default: 0.99 } }\ndatadog:\n  query: p\${q:percent}:m{g:$group}.rollup(avg, \${d:seconds})`,
    );
    assert.deepEqual(renderTemplate(t, 'datadog', {}), { ok: true, query: 'p99:m{g:$group}.rollup(avg, 120)' });
    assert.deepEqual(renderTemplate(t, 'datadog', { q: 0.999, d: '1m30s' }), { ok: true, query: 'p99.9:m{g:$group}.rollup(avg, 90)' });
    const r = renderTemplate(t, 'datadog', { d: '1500ms' });
    assert.ok(!r.ok && /cannot be written as seconds/.test(r.issues[0]!.message));
  });

  void test('type checks on their own', () => {
    assert.equal(typeProblem('regex', '5..|aborted'), undefined);
    assert.match(typeProblem('regex', 'a\\') ?? '', /unpaired backslash/);
    assert.equal(typeProblem('regex', 'a\\\\'), undefined);
    assert.equal(typeProblem('tag', 'get_/update'), undefined);
    assert.equal(typeProblem('name', 'http.method'), undefined);
  });

  void test('scope and selector normalisation drop only "any" filters', () => {
    assert.equal(normalizeDatadogScopes('sum:a{group:$group,service:*,*,!code:5*}.as_count()'), 'sum:a{group:$group,!code:5*}.as_count()');
    assert.equal(normalizeDatadogScopes('sum:a{service:*} by {host}'), 'sum:a{*} by {host}');
    assert.equal(normalizeDatadogScopes('avg:a{env:prod AND host IN (a, b)}'), 'avg:a{env:prod AND host IN (a, b)}');
    assert.equal(normalizeDatadogScopes('avg:a{service:web-*}'), 'avg:a{service:web-*}');
    assert.equal(normalizePromSelectors('x{a=~".*", b="1", c=~".+"}'), 'x{b="1", c=~".+"}');
    assert.equal(normalizePromSelectors('x{a=~".*"} / y{weird}'), 'x{} / y{weird}');
  });
});

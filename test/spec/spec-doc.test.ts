/**
 * docs/spec.md and schema/experiment.schema.json say what the zod schema
 * accepts: they are regenerated here and compared with the committed files;
 * every field has a description; the JSON Schema (checked by a real JSON
 * Schema validator, Ajv) accepts the examples and rejects a misspelled field
 * wherever `steadystate validate` does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { FIELD_DOCS } from '../../src/spec/field-docs.ts';
import { buildSpecSchema, experimentOpenApiSchema, SCHEMA_FILE } from '../../src/spec/json-schema.ts';
import { parseExperiment } from '../../src/spec/load.ts';
import { generatedFiles, renderSpecReference } from '../../src/spec/spec-reference.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

const { schema, fields } = buildSpecSchema('draft-7');
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false });
const validateJson = ajv.compile(schema);

describe('spec reference and JSON Schema', () => {
  it('docs/spec.md and schema/experiment.schema.json are what `npm run docs:spec` generates', async () => {
    for (const [file, text] of Object.entries(generatedFiles())) {
      const committed = await readFile(path.join(root, file), 'utf8').catch(() => '(missing)');
      assert.ok(committed === text, `${file} differs from the schema: run npm run docs:spec and commit the result`);
    }
  });

  it('finds the fields at all: core, per source kind, per injector, per guardrail kind', () => {
    const keys = new Set(fields.map((f) => f.key));
    for (const key of ['metadata.name', 'spec.steadyState[].tolerance', 'spec.source<prometheus>.url', 'spec.fault<http-proxy>.params.latencyMs', 'spec.guardrails[]<slo>.burnRate', 'spec.guardrails[]<threshold>.max', 'spec.analysis.alpha', 'spec.notify.slack.channel']) {
      assert.ok(keys.has(key), `no field ${key}`);
    }
    assert.ok(fields.length >= 150, `only ${fields.length} fields`);
  });

  it('every field has a description, and every description names a field', () => {
    const undocumented = fields.filter((f) => !f.doc?.description).map((f) => f.key);
    assert.deepEqual(undocumented, [], `add these to src/spec/field-docs.ts: ${undocumented.join(', ')}`);
    const keys = new Set(fields.map((f) => f.key));
    const orphans = Object.keys(FIELD_DOCS).filter((k) => !keys.has(k));
    assert.deepEqual(orphans, [], `src/spec/field-docs.ts documents fields the schema does not have: ${orphans.join(', ')}`);
  });

  it('every value field has an example that the schema accepts in place', () => {
    const missing = fields.filter((f) => !/^(object|list of object)/.test(f.type) && f.key !== 'spec' && f.doc?.example === undefined).map((f) => f.key);
    assert.deepEqual(missing, []);
    let checked = 0;
    for (const row of fields) {
      if (row.doc?.example === undefined) continue;
      // The field's own schema, with the root's definitions its $refs point into.
      const check = ajv.compile({ ...row.schema, definitions: schema.definitions });
      assert.ok(check(parseYaml(row.doc.example)), `${row.key}: example ${row.doc.example} is rejected: ${JSON.stringify(check.errors)}`);
      checked += 1;
    }
    assert.ok(checked >= 140, `${checked} examples checked`);
    const doc = renderSpecReference(fields);
    // The rendered table holds each field with its type and example.
    assert.match(doc, /\| `spec\.analysis\.interval` \| duration \| `5s` \| ms when a bare number .* \| `5s` \|/);
    assert.match(doc, /\| `spec\.source\.url` \| string \| \*\*required\*\* \|/);
  });

  it('a field missing from field-docs.ts would fail the description check', () => {
    const { fields: again } = buildSpecSchema('draft-7');
    const row = again.find((f) => f.key === 'spec.analysis.alpha');
    assert.ok(row?.doc);
    delete row.doc;
    assert.equal(again.filter((f) => !f.doc?.description).length, 1);
  });

  it('every object the zod schema keeps closed is closed in the JSON Schema (additionalProperties: false)', () => {
    const open: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`));
      if (!node || typeof node !== 'object' || Array.isArray(node)) return;
      const obj = node as Record<string, unknown>;
      if (obj.properties && obj.additionalProperties !== false) open.push(at);
      for (const [k, v] of Object.entries(obj)) walk(v, `${at}/${k}`);
    };
    walk(schema, '#');
    // The only open ones: `if` conditions, the base of spec.source and the injector branches (each
    // kind's own branch is closed), and Litmus's ChaosEngine spec, which Litmus defines (loose in zod too).
    const allowed = [/\/allOf\/\d+\/if$/, /^#\/properties\/spec\/properties\/source$/, /^#\/properties\/spec\/properties\/fault\/allOf\/\d+\/then$/, /\/params\/properties\/spec(\/|$)/];
    const unexpected = open.filter((at) => !allowed.some((re) => re.test(at)));
    assert.deepEqual(unexpected, []);
    assert.ok(open.length > 10, 'the walk found the branches');
  });

  it('descriptions and examples reach the JSON Schema (editors show them on hover)', () => {
    const analysis = ((schema.properties as any).spec.properties.analysis.properties.interval) as Record<string, unknown>;
    assert.match(String(analysis.description), /guardrails are evaluated/);
    assert.deepEqual(analysis.examples, ['5s']);
    assert.equal(analysis.default, '5s');
  });

  it('the OpenAPI flavour builds from the same schema, with descriptions', () => {
    const openapi = experimentOpenApiSchema();
    assert.equal(openapi.$schema, undefined);
    assert.match(JSON.stringify(openapi), /Steady-state metrics \(KPIs\)/);
  });
});

describe('the JSON Schema agrees with `validate`', () => {
  it('accepts every example in examples/, whose modeline points at the committed schema', async () => {
    const files = (await readdir(path.join(root, 'examples'))).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 4);
    for (const f of files) {
      const text = await readFile(path.join(root, 'examples', f), 'utf8');
      const modeline = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text);
      assert.ok(modeline, `${f}: no yaml-language-server modeline`);
      assert.equal(path.resolve(root, 'examples', modeline[1]!), path.join(root, SCHEMA_FILE), `${f}: modeline points elsewhere`);
      assert.ok(parseExperiment(text).ok, `${f}: invalid for validate`);
      assert.ok(validateJson(parseYaml(text)), `${f}: ${JSON.stringify(validateJson.errors)}`);
    }
  });

  // Each mistake is a misspelled field somewhere else in the spec: both must reject it, at that field.
  const base = (over: { metric?: string; source?: string; params?: string; guardrail?: string; top?: string }): string => `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: typo }
spec:
  source: { kind: prometheus, url: "http://127.0.0.1:9090", step: 1s${over.source ?? ''} }
  steadyState:
    - name: sps
      query: sum(rate(shop_checkouts_total{group="$group"}[15s]))
      direction: decrease
      ${over.metric ?? 'tolerance'}: 5%
  fault:
    injector: http-proxy
    params: { admin: "http://127.0.0.1:8081", latencyMs: 300${over.params ?? ''} }
    duration: 2m
  guardrails:
    - { name: errors, query: 'sum(rate(x{group="experiment"}[15s]))', ${over.guardrail ?? 'max'}: 0.02 }
    - { name: budget, slo: { good: 'sum(rate(g[$window]))', total: 'sum(rate(t[$window]))', objective: 99.9% }, burnRate: 14.4 }
${over.top ?? ''}`;

  // where, spec, the issue's path, its line, the field validate suggests
  const mistakes: [string, string, string, number, string][] = [
    ['metric', base({ metric: 'tolerence' }), 'spec.steadyState[0].tolerence', 10, 'tolerance'],
    ['source', base({ source: ', timout: 5s' }), 'spec.source.timout', 5, 'timeout'],
    ['params', base({ params: ', latencyMS: 5' }), 'spec.fault.params.latencyMS', 13, 'latencyMs'],
    ['guardrail', base({ guardrail: 'maxx' }), 'spec.guardrails[0].maxx', 16, 'max'],
    ['top', base({ top: '  onNodata: halt\n' }), 'spec.onNodata', 18, 'onNoData'],
  ];

  it('accepts the spec without mistakes', () => {
    const text = base({});
    assert.ok(parseExperiment(text).ok);
    assert.ok(validateJson(parseYaml(text)), JSON.stringify(validateJson.errors));
  });

  for (const [where, text, zodPath, line, meant] of mistakes) {
    it(`rejects a misspelled field in ${where}: the JSON Schema (additionalProperties) and validate (FILE:LINE path: message, exit 64)`, async () => {
      assert.equal(validateJson(parseYaml(text)), false);
      const extra = (validateJson.errors ?? []).filter((e) => e.keyword === 'additionalProperties');
      assert.ok(extra.length > 0, JSON.stringify(validateJson.errors));
      const result = parseExperiment(text);
      assert.ok(!result.ok);
      if (result.ok) return;
      assert.ok(result.issues.some((i) => i.path === zodPath && i.message === `unknown field (did you mean "${meant}"?)` && i.line === line), JSON.stringify(result.issues));
      if (where !== 'metric') return; // the CLI once is enough: it prints what parseExperiment found
      const dir = await mkdtemp(path.join(tmpdir(), 'spec-typo-'));
      try {
        const file = path.join(dir, 'typo.yaml');
        await writeFile(file, text);
        const err = await run(process.execPath, [path.join(root, 'bin/steadystate.js'), 'validate', file]).then(
          () => assert.fail('validate exited 0'),
          (e: { code: number; stdout: string }) => e,
        );
        assert.equal(err.code, 64);
        assert.equal(err.stdout, `${file}:10 spec.steadyState[0].tolerence: unknown field (did you mean "tolerance"?)\n`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

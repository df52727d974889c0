/** A misspelled field: the fields allowed where it sits, for the kind the user wrote, and the nearest one. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { experimentJsonSchema } from '../../src/spec/json-schema.ts';
import { closest, knownFields } from '../../src/spec/suggest-field.ts';
import { validateExperiment } from '../../src/spec/load.ts';

const schema = experimentJsonSchema();
const spec = (over: Record<string, unknown>) => ({
  apiVersion: 'steadystate.dev/v1alpha1',
  kind: 'Experiment',
  metadata: { name: 'x' },
  spec: {
    source: { kind: 'prometheus', url: 'http://127.0.0.1:9090' },
    steadyState: [{ name: 'a', query: 'sum(rate(x{group="$group"}[15s]))' }],
    fault: { injector: 'http-proxy', params: { admin: 'http://127.0.0.1:8081', latencyMs: 5 }, duration: '2m' },
    ...over,
  },
});

describe('known fields and suggestions for a misspelled one', () => {
  it('follows the source kind, the injector and the guardrail kind the spec names', () => {
    const dd = { spec: { source: { kind: 'datadog' } } };
    assert.ok(knownFields(schema, dd, ['spec', 'source']).includes('maxRateLimitWait'));
    assert.ok(!knownFields(schema, dd, ['spec', 'source']).includes('headers'));
    const toxic = { spec: { fault: { injector: 'toxiproxy', params: {} } } };
    assert.deepEqual(knownFields(schema, toxic, ['spec', 'fault', 'params']).sort(), ['attributes', 'proxy', 'stream', 'toxicity', 'type', 'url']);
    const guardrails = { spec: { guardrails: [{ slo: {} }, { compare: 'a' }, { query: 'q' }] } };
    assert.ok(knownFields(schema, guardrails, ['spec', 'guardrails', 0]).includes('burnRate'));
    assert.deepEqual(knownFields(schema, guardrails, ['spec', 'guardrails', 1]).sort(), ['alpha', 'compare', 'name']);
    assert.ok(knownFields(schema, guardrails, ['spec', 'guardrails', 2]).includes('max'));
    assert.ok(knownFields(schema, {}, ['spec', 'steadyState', 0, 'query']).includes('template'));
  });

  it('suggests only what is close', () => {
    assert.equal(closest('burnrate', ['name', 'burnRate', 'slo']), 'burnRate');
    assert.equal(closest('tolerence', ['tolerance', 'direction']), 'tolerance');
    assert.equal(closest('foo', ['tolerance', 'direction']), undefined);
    assert.equal(closest('ab', ['a', 'b']), undefined);
  });

  it('validate says it, or lists the known fields when nothing is close', () => {
    const slo = validateExperiment(spec({ guardrails: [{ name: 'b', slo: { good: 'g[$window]', total: 't[$window]', objective: '99%' }, burnrate: 2 }] }));
    assert.ok(!slo.ok);
    assert.ok(!slo.ok && slo.issues.some((i) => i.path === 'spec.guardrails[0].burnrate' && i.message === 'unknown field (did you mean "burnRate"?)'), JSON.stringify(slo));
    const far = validateExperiment(spec({ groups: { control: 'a', experiment: 'b', canary: 'c' } }));
    assert.ok(!far.ok && far.issues.some((i) => i.path === 'spec.groups.canary' && i.message === 'unknown field; known: control, experiment'), JSON.stringify(far));
  });
});

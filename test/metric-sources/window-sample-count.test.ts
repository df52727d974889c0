/**
 * Validation promises what collection gives (issue 13 point 5): a fault window
 * of d at step s is queried as [⌈open/s⌉·s, ⌊close/s⌋·s]; Datadog's v2 API
 * leaves out the bucket at `to`, so the window yields one sample fewer there
 * than on Prometheus. `guaranteedSamples` counts it that way, and validation
 * uses it: a 30 s window at 1 s through Datadog guarantees 29, not 30.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DatadogSource, datadogConfigSchema } from '../../src/metric-sources/datadog.ts';
import { guaranteedSamples } from '../../src/metric-sources/types.ts';
import { parseExperiment } from '../../src/spec/load.ts';
import { startDatadogServer, TEST_API_KEY, TEST_APP_KEY, type DatadogServer } from '../helpers/datadog-server.ts';

const servers: DatadogServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

void describe('samples per fault window: validation and collection count the edges the same way', () => {
  void it('Datadog: an off-step window of 30 s at 1 s yields exactly the guaranteed 29; an on-step one no fewer', async () => {
    const dd = await startDatadogServer({ data: () => 1 });
    servers.push(dd);
    const src = new DatadogSource(datadogConfigSchema.parse({ kind: 'datadog', url: dd.url, step: '1s' }), {
      env: { DD_API_KEY: TEST_API_KEY, DD_APP_KEY: TEST_APP_KEY },
    });
    const step = 1_000;
    const guaranteed = guaranteedSamples(30_000, step, true);
    assert.equal(guaranteed, 29);
    for (const openMs of [Date.parse('2026-12-01T10:00:00.300Z'), Date.parse('2026-12-01T10:00:00.000Z')]) {
      const closeMs = openMs + 30_000;
      const range = { start: new Date(Math.ceil(openMs / step) * step), end: new Date(Math.floor(closeMs / step) * step), stepMs: step };
      const result = await src.queryRange('sum:shop.checkouts{group:control}.as_count()', range);
      const n = result.series[0]?.samples.length ?? 0;
      if (openMs % step !== 0) assert.equal(n, guaranteed, `off-step open: ${n}`);
      else assert.ok(n >= guaranteed, `on-step open: ${n}`);
    }
  });

  void it('validation refuses a Datadog spec whose window cannot give minSamples, and says why', () => {
    const spec = (duration: string): string => `
apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata: { name: dd }
spec:
  source: { kind: datadog, step: 1s }
  steadyState:
    - { name: sps, query: 'sum:shop.checkouts{group:$group}.as_count()' }
  fault: { injector: webhook, params: { open: { url: 'http://127.0.0.1:9/open' }, close: { url: 'http://127.0.0.1:9/close' } }, duration: ${duration} }
  analysis: { minSamples: 30 }
`;
    const short = parseExperiment(spec('30s'));
    assert.equal(short.ok, false);
    if (!short.ok) {
      const issue = short.issues.find((i) => i.path === 'spec.fault.duration');
      assert.match(issue?.message ?? '', /guarantees 29 samples per group at step 1000ms \(datadog leaves out the point at the window's end\), below minSamples 30/);
    }
    const enough = parseExperiment(spec('31s'));
    assert.equal(enough.ok, true, enough.ok ? '' : JSON.stringify(enough.issues));
  });
});

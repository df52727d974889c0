/**
 * The service's write-behind for samples and guardrail evaluations
 * (src/service/run-writer.ts) on a real PGlite store: nothing is written
 * until a flush, a run's flush writes that run only, a batch with one bad run
 * still stores the others, a dropped run's rows are forgotten, and the bound
 * on buffered rows makes writers wait for a flush.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { CollectedSeries } from '../../src/engine/types.ts';
import { loadExperiment } from '../../src/spec/load.ts';
import { RunWriter } from '../../src/service/run-writer.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';

const T0 = Date.UTC(2026, 0, 1);
const chunk = (t: number, v = 1): CollectedSeries => ({ metric: 'sps', group: 'control', query: 'q', samples: [{ t, v }] });
const stored = async (store: Store, runId: string): Promise<number> => (await store.runs.series(runId)).reduce((n, s) => n + s.samples.length, 0);

describe('run writer', () => {
  let store: Store;
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });

  before(async () => {
    store = await openStore({ memory: true });
    const spec = loadExperiment(readFileSync(new URL('../../examples/aa-no-fault.yaml', import.meta.url), 'utf8'));
    await store.experiments.create({ name: 'checkout', spec: { ...spec, metadata: { ...spec.metadata, name: 'checkout' } }, source: '{}', format: 'json', actor: 'test' });
    for (const id of ['r1', 'r2', 'r3']) await store.runs.create({ id, experiment: 'checkout', version: 1, target: `shop-${id}`, actor: 'test' });
  });
  after(async () => store.close());

  it('buffers until a flush; a run flush writes that run only; close writes the rest', async () => {
    const writer = new RunWriter(store.runs, log, { flushMs: 3_600_000 });
    await writer.samples('r1', chunk(T0));
    await writer.samples('r2', chunk(T0));
    await writer.evaluations('r1', [{ guardrail: 'errors', at: T0, value: 0.01, breached: false }]);
    assert.equal(await stored(store, 'r1'), 0, 'nothing written before a flush');
    await writer.flush('r1');
    assert.equal(await stored(store, 'r1'), 1);
    assert.equal((await store.runs.guardrailEvaluations('r1')).length, 1);
    assert.equal(await stored(store, 'r2'), 0, "another run's rows wait for the next flush");
    await writer.close();
    assert.equal(await stored(store, 'r2'), 1);
  });

  it('writes on its own every flushMs', async () => {
    const writer = new RunWriter(store.runs, log, { flushMs: 50 });
    await writer.samples('r1', chunk(T0 + 1000));
    for (let i = 0; i < 100 && (await stored(store, 'r1')) < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await stored(store, 'r1'), 2);
    await writer.close();
  });

  it('a run that cannot be written costs the others nothing, and is logged', async () => {
    const writer = new RunWriter(store.runs, log, { flushMs: 3_600_000 });
    await writer.samples('gone', chunk(T0));
    await writer.samples('r2', chunk(T0 + 1000));
    await writer.samples('r3', { ...chunk(T0), query: 'q' });
    await writer.flush();
    assert.equal(await stored(store, 'r2'), 2);
    assert.equal(await stored(store, 'r3'), 1);
    assert.ok(lines.some((l) => /"runId":"gone"/.test(l) && /could not record/.test(l)), lines.join('\n'));
    await writer.close();
  });

  it('a dropped run (lease lost) is forgotten', async () => {
    const writer = new RunWriter(store.runs, log, { flushMs: 3_600_000 });
    await writer.samples('r3', chunk(T0 + 5000));
    writer.drop('r3');
    await writer.close();
    assert.equal(await stored(store, 'r3'), 1);
  });

  it('past maxPendingRows a writer waits for the flush', async () => {
    const writer = new RunWriter(store.runs, log, { flushMs: 3_600_000, maxPendingRows: 2 });
    await writer.samples('r3', chunk(T0 + 6000));
    await writer.samples('r3', chunk(T0 + 7000));
    assert.equal(await stored(store, 'r3'), 1, 'at the bound, still buffered');
    await writer.samples('r3', chunk(T0 + 8000));
    assert.equal(await stored(store, 'r3'), 4, 'over the bound: written before the call returned');
    await writer.close();
  });
});

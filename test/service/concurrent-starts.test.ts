/**
 * 100 starts at once through RunService.start, on PGlite (in memory, and in
 * a data directory, served by its own thread) and on a real PostgreSQL: each is answered once, with the run `pending` (preflight goes on
 * in the background); the one-active-run-per-target lock and the concurrency
 * cap hold under the race (80 distinct targets for 100 starts, a cap of 70:
 * exactly 70 runs, no target twice). Correctness only; the timings are printed
 * (`npm run bench:starts` measures them).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { ACTIVE_STATES } from '../../src/engine/types.ts';
import { AppError } from '../../src/lib/errors.ts';
import { RunService } from '../../src/service/run-service.ts';
import { validateExperiment } from '../../src/spec/load.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';
import { startFakePrometheus, type FakePrometheus } from '../metric-sources/fake-prometheus.ts';
import { checkPostgres, startPostgres, type RunningPostgres } from '../helpers/postgres.ts';

const STARTS = 100;
const CAP = 70;
const postgres = checkPostgres();

let prom: FakePrometheus;
before(async () => {
  // Preflight's source check never gets an answer: started runs stay active while the test looks.
  prom = await startFakePrometheus(() => 'hang');
});
after(() => prom?.stop());

async function startAtOnce(store: Store, t: { diagnostic(m: string): void }): Promise<void> {
  const config = loadConfig({ STEADYSTATE_MAX_CONCURRENT_RUNS: String(CAP) });
  const runs = new RunService(store, config, pino({ level: 'silent' }), { instanceId: 'replica-a' });
  try {
    // Experiments 0–59 have a target each; 60–99 share 20 targets two by two: 80 targets in all.
    const targetOf = (i: number): number => (i < 60 ? i : 60 + Math.floor((i - 60) / 2));
    for (let i = 0; i < STARTS; i++) {
      const parsed = validateExperiment({
        apiVersion: 'steadystate.dev/v1alpha1',
        kind: 'Experiment',
        metadata: { name: `exp-${i}` },
        spec: {
          source: { kind: 'prometheus', url: prom.url, step: '1s' },
          steadyState: [{ name: 'kpi', query: 'sum(kpi{group="$group"})' }],
          fault: { injector: 'webhook', params: { open: { url: `http://127.0.0.1:9/open/${targetOf(i)}` }, close: { url: `http://127.0.0.1:9/close/${targetOf(i)}` } }, duration: '1m' },
        },
      });
      assert.ok(parsed.ok);
      await store.experiments.create({ name: `exp-${i}`, spec: parsed.experiment, source: '{}', format: 'json', actor: 'test' });
    }

    const answers = await Promise.all(
      Array.from({ length: STARTS }, async (_, i) => {
        const at = performance.now();
        try {
          const { run, created } = await runs.start(`exp-${i}`, { actor: 'test' });
          return { i, ms: performance.now() - at, run, created };
        } catch (err) {
          return { i, ms: performance.now() - at, error: err };
        }
      }),
    );
    const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
    t.diagnostic(`${STARTS} starts at once on ${store.kind}: p50 ${ms[49]!.toFixed(0)} ms, p95 ${ms[94]!.toFixed(0)} ms, max ${ms[99]!.toFixed(0)} ms`);

    const started = answers.filter((a) => 'run' in a && a.created);
    const refused = answers.filter((a) => 'error' in a);
    assert.equal(started.length + refused.length, STARTS, 'every start answered once');
    for (const a of refused) {
      assert.ok(a.error instanceof AppError, String(a.error));
      assert.ok(['target_locked', 'too_many_runs'].includes(a.error.code), `${a.error.code}: ${a.error.message}`);
    }
    assert.equal(started.length, CAP, `the cap (${CAP}) is reached and held: ${started.length} runs`);
    for (const a of started) assert.equal(a.run!.state, 'pending', 'answered pending: preflight runs in the background');
    const targets = started.map((a) => a.run!.target);
    assert.equal(new Set(targets).size, targets.length, 'no target has two runs');

    const active = await store.runs.list({ state: ACTIVE_STATES, limit: 500 });
    assert.equal(active.length, CAP);
    assert.equal(await store.runs.countActive(), CAP);
    assert.ok(active.every((r) => r.owner === 'replica-a' && r.heartbeatAt !== null), 'leased at creation');
  } finally {
    await runs.shutdown(10_000);
  }
  // Every run started once: one run.started each (or none, for one aborted before its start-up).
  for (const run of await store.runs.list({ limit: 500 })) {
    const startedEvents = (await store.runs.events(run.id)).filter((e) => e.type === 'run.started');
    assert.ok(startedEvents.length <= 1, `${run.id}: ${startedEvents.length} run.started events`);
  }
}

test('100 starts at once on PGlite: answered pending, the cap and the per-target lock hold', async (t) => {
  const store = await openStore({ memory: true });
  try {
    await startAtOnce(store, t);
  } finally {
    await store.close();
  }
});

test('100 starts at once on PGlite in a data directory (its own thread, as `serve` runs it)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'steadystate-starts-'));
  const store = await openStore({ dataDir: dir });
  try {
    await startAtOnce(store, t);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

describe('on PostgreSQL', { skip: postgres.skip }, () => {
  let server: RunningPostgres;
  before(async () => {
    server = await startPostgres({ install: postgres.install });
  });
  after(() => server?.stop());

  test('100 starts at once: answered pending, the cap and the per-target lock hold', async (t) => {
    const store = await openStore({ databaseUrl: await server.createDatabase() });
    try {
      await startAtOnce(store, t);
    } finally {
      await store.close();
    }
  });
});

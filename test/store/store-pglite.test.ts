/**
 * The store suite on embedded PGlite, in memory (each PGlite start costs a few
 * seconds, so the full suite runs once), plus what only a data directory has:
 * everything survives close and reopen, and a lock keeps a second process out.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataDirInUseError } from '../../src/store/errors.ts';
import { migrate } from '../../src/store/migrate.ts';
import { createStore, openStore } from '../../src/store/open-store.ts';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import { specFor, storeSuite } from './store.suite.ts';

storeSuite('PGlite in memory', async () => ({ freshSql: () => createPgliteSql() }), { replicas: false });

// A data directory's PGlite runs in a worker thread (ADR 027): the whole suite again through it.
storeSuite(
  'PGlite in a data directory (its own thread)',
  async () => {
    const root = await mkdtemp(join(tmpdir(), 'steadystate-pglite-thread-'));
    let n = 0;
    return {
      freshSql: () => createPgliteSql({ dataDir: join(root, String(n++)) }),
      teardown: () => rm(root, { recursive: true, force: true }),
    };
  },
  { replicas: false },
);

describe('PGlite data directory', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'steadystate-pglite-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps everything across close and reopen, and the reopen applies no migration', async () => {
    const dataDir = join(root, 'persist');
    const first = await openStore({ dataDir });
    assert.equal(first.kind, 'pglite');
    await first.experiments.create({ name: 'checkout', actor: 'alice', ...specFor('checkout') });
    await first.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'alice', idempotencyKey: 'k' });
    await first.runs.update('r1', { state: 'injecting', window: { openedAt: '2026-01-01T00:00:00.000Z', deadline: '2026-01-01T00:02:00.000Z', handle: { injector: 'command', id: 'h1' } } });
    await first.runs.appendEvent('r1', { type: 'state', message: 'pending → injecting', data: { actor: 'alice' } });
    await first.runs.appendSamples('r1', { metric: 'sps', group: 'control', query: 'q', samples: [{ t: 1000, v: 1.5 }] });
    const token = await first.tokens.create({ name: 'ci', role: 'operator' });
    await first.settings.setHaltAll('alice');
    const before = {
      experiment: await first.experiments.get('checkout'),
      run: await first.runs.get('r1'),
      events: await first.runs.events('r1'),
      series: await first.runs.series('r1'),
      halt: await first.settings.haltAll(),
    };
    await first.close();
    assert.equal(existsSync(join(dataDir, 'pglite.lock')), false, 'close releases the lock');

    const sql = await createPgliteSql({ dataDir });
    assert.deepEqual(await migrate(sql), [], 'a second start applies nothing');
    const second = await createStore(sql);
    try {
      assert.deepEqual(await second.experiments.get('checkout'), before.experiment);
      assert.deepEqual(await second.runs.get('r1'), before.run);
      assert.deepEqual(await second.runs.listActive().then((runs) => runs.map((r) => r.window?.handle)), [{ injector: 'command', id: 'h1' }]);
      assert.deepEqual(await second.runs.events('r1'), before.events);
      assert.deepEqual(await second.runs.series('r1'), before.series);
      assert.deepEqual(await second.settings.haltAll(), before.halt);
      assert.equal((await second.tokens.verify(token.token))?.name, 'ci');
      // Sequences continue after a restart: new events come after the old ones.
      const next = await second.runs.appendEvent('r1', { type: 'state', message: 'restarted' });
      assert.ok(next.seq > before.events.at(-1)!.seq);
    } finally {
      await second.close();
    }
  });

  it('refuses a second open while the first is live, and takes over a lock left by a dead process', async () => {
    const dataDir = join(root, 'locked');
    const first = await openStore({ dataDir });
    await assert.rejects(openStore({ dataDir }), (err) => err instanceof DataDirInUseError);
    await first.close();

    // A lock held by another live process (our parent) is respected…
    await writeFile(join(dataDir, 'pglite.lock'), `${process.ppid}\n`);
    await assert.rejects(openStore({ dataDir }), (err) => err instanceof DataDirInUseError && err.message.includes(String(process.ppid)));

    // …one left by a process that is gone (kill -9, crash) is taken over.
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']);
    assert.ok(dead.pid > 0);
    await writeFile(join(dataDir, 'pglite.lock'), `${dead.pid}\n`);
    const reopened = await openStore({ dataDir });
    await reopened.close();
  });

  it('openStore({ memory: true }) keeps nothing on disk', async () => {
    const store = await openStore({ memory: true });
    try {
      assert.equal(store.kind, 'pglite');
      await store.ping();
    } finally {
      await store.close();
    }
  });
});

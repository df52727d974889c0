/**
 * The store's test suite: ONE set of tests, run against every adapter of the
 * SQL port (store-pglite.test.ts, store-postgres.test.ts). A repository that
 * passes here behaves the same on embedded PGlite and on PostgreSQL.
 *
 * The suite shares one migrated database between its tests and empties every
 * table (but schema_migrations) before each, because starting PGlite costs
 * seconds. Tests that need an untouched database (migrations) ask the harness
 * for a fresh one.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ACTIVE_STATES, TERMINAL_STATES, type FaultWindow, type RunState } from '../../src/engine/types.ts';
import { ValidationError } from '../../src/lib/errors.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { loadExperiment } from '../../src/spec/load.ts';
import { ConflictError, LockedError, MigrationError, NotFoundError } from '../../src/store/errors.ts';
import { loadMigrations, migrate, type Migration } from '../../src/store/migrate.ts';
import { createStore } from '../../src/store/open-store.ts';
import { SQLSTATE, databaseError, type Sql } from '../../src/store/sql.ts';
import { MAX_SAMPLES_PER_APPEND, type ExperimentInput, type Store } from '../../src/store/types.ts';
import type { RunDataItem } from '../../src/store/run-data.ts';
import { createGuardrailEvaluationRepository, MAX_EVALUATIONS_PER_APPEND, MAX_EVALUATIONS_PER_GUARDRAIL } from '../../src/store/guardrail-evaluations.ts';

export interface StoreHarness {
  /** An SQL port on a new, empty database (not migrated). The suite closes it. */
  freshSql(): Promise<Sql>;
  /**
   * Several independent SQL ports (own pools) on one new, empty database, for
   * races between replicas. Required when the suite runs with `replicas: true`.
   */
  concurrentSqls?(count: number): Promise<Sql[]>;
  /** Called once after the suite. */
  teardown?(): Promise<void>;
}

const VALID_SPEC_TEXT = readFileSync(new URL('../fixtures/specs/valid.yaml', import.meta.url), 'utf8');
const BASE_NAME = 'checkout-latency';

/** A parsed spec and its source text for experiment `name`. */
export function specFor(name: string, tweak?: (spec: Experiment) => void): Pick<ExperimentInput, 'spec' | 'source' | 'format'> {
  const source = VALID_SPEC_TEXT.replace(`name: ${BASE_NAME}`, `name: ${name}`);
  const spec = loadExperiment(source);
  tweak?.(spec);
  return { spec, source, format: 'yaml' };
}

function input(name: string, actor = 'alice', tweak?: (spec: Experiment) => void): ExperimentInput {
  return { name, actor, ...specFor(name, tweak) };
}

const isIso = (s: unknown): boolean => typeof s === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(s);

/** Empties every table but schema_migrations, and restarts sequences. */
async function truncateAll(sql: Sql): Promise<void> {
  const [row] = await sql.query<{ tables: string | null }>(
    `SELECT string_agg(format('%I', tablename), ', ') AS tables FROM pg_tables
     WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`,
  );
  if (row?.tables) await sql.exec(`TRUNCATE ${row.tables} RESTART IDENTITY CASCADE`);
}

function expectError<E extends Error>(type: new (...args: never[]) => E, check?: (err: E) => void): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    check?.(err);
    return true;
  };
}

export interface StoreSuiteOptions {
  /** The database accepts several processes (a server): run the replica races too. */
  replicas: boolean;
}

export function storeSuite(label: string, makeHarness: () => Promise<StoreHarness>, opts: StoreSuiteOptions): void {
  describe(`store on ${label}`, () => {
    let harness: StoreHarness;
    let sql: Sql;
    let store: Store;

    before(async () => {
      harness = await makeHarness();
      sql = await harness.freshSql();
      store = await createStore(sql);
    });
    after(async () => {
      await store?.close();
      await harness?.teardown?.();
    });
    beforeEach(async () => {
      await truncateAll(sql);
    });

    /** An experiment with a pending run; returns the run id. */
    const runOn = async (target: string, id = `run-${target}-${Math.random().toString(36).slice(2, 8)}`, experiment = 'exp'): Promise<string> => {
      if (!(await store.experiments.get(experiment))) await store.experiments.create(input(experiment));
      const { run } = await store.runs.create({ id, experiment, version: 1, target, actor: 'alice' });
      return run.id;
    };

    describe('migrations', () => {
      // One database for these tests, besides the shared one: each PGlite start costs seconds.
      // The second test works on a migrated database as well as on an empty one.
      let scratch: Sql | undefined;
      const fresh = async (): Promise<Sql> => (scratch ??= await harness.freshSql());
      after(async () => {
        await scratch?.close();
      });

      it('a second start applies nothing; every migration is recorded once with its checksum', async () => {
        const db = await fresh();
        const files = await loadMigrations();
        assert.deepEqual(await migrate(db), files.map((m) => m.version));
        assert.deepEqual(await migrate(db), []);
        const again = await createStore(db); // what a restart does
        assert.deepEqual(await migrate(db), []);
        const rows = await db.query<{ version: number; name: string; checksum: string }>(
          'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
        );
        assert.deepEqual(rows, files.map((m) => ({ version: m.version, name: m.name, checksum: m.checksum })));
        assert.equal(again.kind, db.kind);
      });

      it('applies new migrations in order, rolls a failing batch back, and refuses edited or unknown ones', async () => {
        const db = await fresh();
        const files = await loadMigrations();
        await migrate(db, files);
        const extra = (version: number, text: string): Migration => ({ version, name: `extra_${version}`, sql: text, checksum: createHash('sha256').update(text).digest('hex') });

        // 1001 succeeds on its own but 1002 fails: neither is applied.
        await assert.rejects(
          migrate(db, [...files, extra(1001, 'CREATE TABLE extra_a (x int);'), extra(1002, 'CREATE TABLE extra_b (x int); SELECT no_such_function();')]),
          expectError(MigrationError, (e) => assert.match(e.message, /1002/)),
        );
        const [tables] = await db.query<{ n: number }>(`SELECT count(*) AS n FROM pg_tables WHERE tablename IN ('extra_a', 'extra_b')`);
        assert.equal(tables!.n, 0);

        // Out-of-order input is applied in numeric order.
        assert.deepEqual(await migrate(db, [extra(1003, 'CREATE TABLE extra_c (x int);'), ...files, extra(1001, 'CREATE TABLE extra_a (x int);')]), [1001, 1003]);

        const edited = files.map((m) => (m.version === 1 ? { ...m, checksum: 'x'.repeat(64) } : m));
        await assert.rejects(migrate(db, edited), expectError(MigrationError, (e) => assert.match(e.message, /changed after it was applied/)));
        await assert.rejects(migrate(db, files), expectError(MigrationError, (e) => assert.match(e.message, /newer version/)));
      });
    });

    if (opts.replicas) {
      describe('replicas (several processes on one database)', () => {
        it('migrating at the same moment: exactly one applies, the others find nothing to do; then racing for one target: one run wins', async () => {
          const sqls = await harness.concurrentSqls!(4);
          const stores: Store[] = [];
          try {
            const results = await Promise.all(sqls.map((s) => migrate(s)));
            const files = await loadMigrations();
            assert.equal(results.filter((r) => r.length > 0).length, 1, JSON.stringify(results));
            assert.deepEqual(results.find((r) => r.length > 0), files.map((m) => m.version));
            const [count] = await sqls[0]!.query<{ n: number }>('SELECT count(*) AS n FROM schema_migrations');
            assert.equal(count!.n, files.length);

            for (const s of sqls) stores.push(await createStore(s));
            await stores[0]!.experiments.create(input('checkout'));
            const attempts = await Promise.allSettled(
              stores.map((st, i) => st.runs.create({ id: `replica-${i}`, experiment: 'checkout', version: 1, target: 'shop', actor: `replica-${i}` })),
            );
            const won = attempts.filter((a) => a.status === 'fulfilled');
            assert.equal(won.length, 1, JSON.stringify(attempts.map((a) => (a.status === 'rejected' ? String(a.reason) : 'ok'))));
            const winner = (won[0] as PromiseFulfilledResult<{ run: { id: string } }>).value.run.id;
            for (const a of attempts) {
              if (a.status === 'rejected') assert.ok(a.reason instanceof LockedError && a.reason.holder === winner, String(a.reason));
            }
          } finally {
            await Promise.all(sqls.map((s) => s.close()));
          }
        });
      });
    }

    describe('the SQL port', () => {
      beforeEach(async () => {
        await sql.exec('CREATE TABLE IF NOT EXISTS port_probe (id int PRIMARY KEY, note text)');
        await sql.exec('TRUNCATE port_probe');
      });
      after(async () => {
        await sql.exec('DROP TABLE IF EXISTS port_probe');
      });
      const ids = async (): Promise<number[]> => (await sql.query<{ id: number }>('SELECT id FROM port_probe ORDER BY id')).map((r) => r.id);

      it('binds parameters and returns the documented JS types', async () => {
        const [row] = await sql.query<Record<string, unknown>>(
          `SELECT $1::text AS text, 9007199254740991::int8 AS int8, count(*) AS count, 1.5::float8 AS float, 2.5::numeric AS numeric,
                  now() AS ts, $2::jsonb AS json, true AS bool`,
          ["it's $1; DROP TABLE runs; --", JSON.stringify([1, { a: 'b' }])],
        );
        assert.deepEqual({ ...row, ts: undefined }, { text: "it's $1; DROP TABLE runs; --", int8: 9007199254740991, count: 1, float: 1.5, numeric: 2.5, ts: undefined, json: [1, { a: 'b' }], bool: true });
        assert.ok(row!.ts instanceof Date);
      });

      it('commits, rolls back on a throw, and nests with savepoints', async () => {
        assert.equal(await sql.transaction(async (tx) => {
          await tx.query('INSERT INTO port_probe (id) VALUES (1)');
          return 'done';
        }), 'done');
        await assert.rejects(
          sql.transaction(async (tx) => {
            await tx.query('INSERT INTO port_probe (id) VALUES (2)');
            throw new Error('boom');
          }),
          /boom/,
        );
        await sql.transaction(async (tx) => {
          await tx.query('INSERT INTO port_probe (id) VALUES (3)');
          await assert.rejects(tx.transaction(async (inner) => {
            await inner.query('INSERT INTO port_probe (id) VALUES (4)');
            await inner.query('INSERT INTO port_probe (id) VALUES (4)'); // unique violation inside the savepoint
          }));
          await tx.transaction(async (inner) => inner.query('INSERT INTO port_probe (id) VALUES (5)'));
        });
        assert.deepEqual(await ids(), [1, 3, 5]);
      });

      it('a transaction handle cannot be used after its transaction', async () => {
        let leaked: Sql | undefined;
        await sql.transaction(async (tx) => {
          leaked = tx;
        });
        await assert.rejects(leaked!.query('SELECT 1'), /transaction is closed/);
      });

      it('concurrent transactions do not see or break each other', async () => {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            sql
              .transaction(async (tx) => {
                await tx.query('INSERT INTO port_probe (id, note) VALUES ($1, $2)', [i, 'x']);
                if (i % 2 === 1) throw new Error(`odd ${i}`);
              })
              .catch(() => undefined),
          ),
        );
        assert.deepEqual(await ids(), [0, 2, 4, 6, 8]);
      });
    });

    describe('experiments', () => {
      it('create gives version 1 with the spec, the exact source and who wrote it', async () => {
        const given = input('checkout', 'alice');
        const v1 = await store.experiments.create(given);
        assert.equal(v1.name, 'checkout');
        assert.equal(v1.version, 1);
        assert.equal(v1.format, 'yaml');
        assert.equal(v1.createdBy, 'alice');
        assert.ok(isIso(v1.createdAt), v1.createdAt);
        assert.equal(v1.source, given.source);
        assert.deepEqual(v1.spec, given.spec);
        assert.deepEqual(await store.experiments.get('checkout'), v1);
        assert.equal(await store.experiments.get('nope'), undefined);
      });

      it('a taken name is a ConflictError; a spec whose metadata.name differs is a ValidationError', async () => {
        await store.experiments.create(input('checkout'));
        await assert.rejects(store.experiments.create(input('checkout')), expectError(ConflictError, (e) => assert.equal(e.code, 'experiment_exists')));
        await assert.rejects(store.experiments.create({ ...input('checkout'), name: 'other' }), expectError(ValidationError));
      });

      it('update adds a version; earlier versions stay exactly as they were', async () => {
        const v1 = await store.experiments.create(input('checkout'));
        const v2 = await store.experiments.update('checkout', { actor: 'bob', ...specFor('checkout', (s) => (s.spec.fault.duration = 60_000)) });
        assert.equal(v2.version, 2);
        assert.equal(v2.createdBy, 'bob');
        assert.equal(v2.spec.spec.fault.duration, 60_000);
        assert.equal((await store.experiments.get('checkout'))?.version, 2);
        assert.deepEqual(await store.experiments.getVersion('checkout', 1), v1);
        assert.equal(await store.experiments.getVersion('checkout', 3), undefined);
        assert.deepEqual((await store.experiments.versions('checkout')).map((v) => v.version), [1, 2]);
        await assert.rejects(store.experiments.update('missing', { actor: 'bob', ...specFor('missing') }), expectError(NotFoundError));
      });

      it('version rows are immutable in the database itself', async () => {
        await store.experiments.create(input('checkout'));
        for (const statement of [
          `UPDATE experiment_versions SET source = 'changed' WHERE experiment = 'checkout'`,
          `DELETE FROM experiment_versions WHERE experiment = 'checkout'`,
        ]) {
          await assert.rejects(sql.query(statement), (err) => databaseError(err).code === SQLSTATE.immutableRow);
        }
        assert.notEqual((await store.experiments.get('checkout'))?.source, 'changed');
      });

      it('concurrent updates get consecutive, distinct versions', async () => {
        await store.experiments.create(input('checkout'));
        const versions = await Promise.all(Array.from({ length: 6 }, (_, i) => store.experiments.update('checkout', { actor: `u${i}`, ...specFor('checkout') })));
        assert.deepEqual(versions.map((v) => v.version).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7]);
      });

      it('list returns the latest version of each live experiment, by name', async () => {
        await store.experiments.create(input('b-exp'));
        await store.experiments.create(input('a-exp'));
        await store.experiments.update('b-exp', { actor: 'bob', ...specFor('b-exp') });
        await store.experiments.create(input('c-exp'));
        await store.experiments.delete('c-exp', 'carol');
        assert.deepEqual((await store.experiments.list()).map((e) => [e.name, e.version]), [['a-exp', 1], ['b-exp', 2]]);
      });

      it('soft delete hides the experiment, keeps its versions, and a new create continues the numbering', async () => {
        const v1 = await store.experiments.create(input('checkout'));
        await store.experiments.update('checkout', { actor: 'alice', ...specFor('checkout') });
        await store.experiments.delete('checkout', 'carol');
        assert.equal(await store.experiments.get('checkout'), undefined);
        assert.deepEqual(await store.experiments.list(), []);
        assert.deepEqual(await store.experiments.getVersion('checkout', 1), v1);
        await assert.rejects(store.experiments.delete('checkout', 'carol'), expectError(NotFoundError));
        await assert.rejects(store.experiments.update('checkout', { actor: 'bob', ...specFor('checkout') }), expectError(NotFoundError));
        await assert.rejects(store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 't', actor: 'a' }), expectError(NotFoundError));

        const v3 = await store.experiments.create(input('checkout', 'dave'));
        assert.equal(v3.version, 3);
        assert.equal((await store.experiments.get('checkout'))?.createdBy, 'dave');
        assert.deepEqual((await store.experiments.versions('checkout')).map((v) => v.version), [1, 2, 3]);
      });

      it('delete is refused while the experiment has an active run, and allowed once it ended', async () => {
        const id = await runOn('shop', 'r1', 'checkout');
        await assert.rejects(store.experiments.delete('checkout', 'carol'), expectError(ConflictError, (e) => assert.equal(e.code, 'experiment_has_active_run')));
        await store.runs.update(id, { state: 'aborted', reason: 'test' });
        await store.experiments.delete('checkout', 'carol');
        assert.equal((await store.runs.get(id))?.state, 'aborted', 'old runs stay');
      });
    });

    describe('runs', () => {
      beforeEach(async () => {
        await store.experiments.create(input('checkout'));
      });

      it('create inserts a pending run recording version, target and actor', async () => {
        const { run, created } = await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'alice' });
        assert.equal(created, true);
        assert.equal(run.id, 'r1');
        assert.equal(run.state, 'pending');
        assert.equal(run.version, 1);
        assert.equal(run.target, 'shop');
        assert.equal(run.actor, 'alice');
        assert.equal(run.verdict, null);
        assert.equal(run.endedAt, null);
        assert.equal(run.idempotencyKey, null);
        assert.deepEqual(run.metrics, []);
        assert.equal(run.window, null);
        assert.ok(isIso(run.startedAt));
        assert.deepEqual(await store.runs.get('r1'), run);
        assert.equal(await store.runs.get('nope'), undefined);
      });

      it('refuses unknown versions, deleted experiments and duplicate ids', async () => {
        await assert.rejects(store.runs.create({ id: 'r1', experiment: 'checkout', version: 2, target: 'shop', actor: 'a' }), expectError(NotFoundError));
        await assert.rejects(store.runs.create({ id: 'r1', experiment: 'missing', version: 1, target: 'shop', actor: 'a' }), expectError(NotFoundError));
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        await assert.rejects(
          store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'other', actor: 'a' }),
          expectError(ConflictError, (e) => assert.equal(e.code, 'run_exists')),
        );
      });

      it('one active run per target: a second one is a LockedError naming the holder; other targets are free', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        await assert.rejects(
          store.runs.create({ id: 'r2', experiment: 'checkout', version: 1, target: 'shop', actor: 'b' }),
          expectError(LockedError, (e) => {
            assert.equal(e.holder, 'r1');
            assert.equal(e.target, 'shop');
            assert.equal(e.httpStatus, 409);
            assert.equal(e.toJSON().holder, 'r1');
          }),
        );
        assert.equal(await store.runs.get('r2'), undefined);
        const other = await store.runs.create({ id: 'r3', experiment: 'checkout', version: 1, target: 'cart', actor: 'b' });
        assert.equal(other.created, true);
      });

      it('every active state holds the target and every terminal state frees it', async () => {
        for (const state of ACTIVE_STATES) {
          const id = `hold-${state}`;
          await store.runs.create({ id, experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
          await store.runs.update(id, { state });
          await assert.rejects(
            store.runs.create({ id: `other-${state}`, experiment: 'checkout', version: 1, target: 'shop', actor: 'b' }),
            expectError(LockedError, (e) => assert.equal(e.holder, id)),
            `state ${state} must hold the target`,
          );
          await store.runs.update(id, { state: 'aborted' });
        }
        for (const state of TERMINAL_STATES) {
          const id = `free-${state}`;
          await store.runs.create({ id, experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
          const ended = await store.runs.update(id, { state });
          assert.equal(ended.state, state);
        }
        assert.equal(await store.runs.countActive(), 0);
      });

      it('an idempotency key returns the run it created, per experiment', async () => {
        const first = await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a', idempotencyKey: 'k1' });
        assert.equal(first.created, true);
        assert.equal(first.run.idempotencyKey, 'k1');
        // The repeat would hit the target lock (held by r1 itself) — it must still get r1 back.
        const again = await store.runs.create({ id: 'r2', experiment: 'checkout', version: 1, target: 'shop', actor: 'a', idempotencyKey: 'k1' });
        assert.equal(again.created, false);
        assert.deepEqual(again.run, first.run);
        assert.equal(await store.runs.get('r2'), undefined);

        await store.experiments.create(input('other'));
        const elsewhere = await store.runs.create({ id: 'r3', experiment: 'other', version: 1, target: 'cart', actor: 'a', idempotencyKey: 'k1' });
        assert.equal(elsewhere.created, true, 'keys are scoped to an experiment');

        await store.runs.update('r1', { state: 'passed', verdict: 'pass' });
        const afterEnd = await store.runs.create({ id: 'r4', experiment: 'checkout', version: 1, target: 'shop', actor: 'a', idempotencyKey: 'k1' });
        assert.equal(afterEnd.created, false);
        assert.equal(afterEnd.run.id, 'r1');

        // The look-up a retried start makes first: by key, per experiment, at any age.
        assert.equal((await store.runs.findByIdempotencyKey('checkout', 'k1'))?.id, 'r1');
        assert.equal((await store.runs.findByIdempotencyKey('other', 'k1'))?.id, 'r3');
        assert.equal(await store.runs.findByIdempotencyKey('checkout', 'k2'), undefined);
      });

      it('concurrent creates with one idempotency key create one run and all get it', async () => {
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => store.runs.create({ id: `r${i}`, experiment: 'checkout', version: 1, target: 'shop', actor: 'a', idempotencyKey: 'same' })),
        );
        assert.equal(results.filter((r) => r.created).length, 1);
        assert.equal(new Set(results.map((r) => r.run.id)).size, 1);
      });

      it('one batch of creates, each answered for itself: created, locked, its earlier run, no such version, full', async () => {
        await store.runs.create({ id: 'old', experiment: 'checkout', version: 1, target: 'held', actor: 'a', idempotencyKey: 'again' });
        // The first create of a burst runs alone; the six behind it share one transaction (group commit).
        const settled = await Promise.allSettled([
          store.runs.create({ id: 'lead', experiment: 'checkout', version: 1, target: 't0', actor: 'a' }),
          store.runs.create({ id: 'b1', experiment: 'checkout', version: 1, target: 't1', actor: 'a' }),
          store.runs.create({ id: 'b2', experiment: 'checkout', version: 1, target: 't1', actor: 'a' }),
          store.runs.create({ id: 'b3', experiment: 'checkout', version: 1, target: 'held', actor: 'a', idempotencyKey: 'again' }),
          store.runs.create({ id: 'b4', experiment: 'checkout', version: 9, target: 't4', actor: 'a' }),
          store.runs.create({ id: 'b5', experiment: 'checkout', version: 1, target: 'held', actor: 'a' }),
          store.runs.create({ id: 'b6', experiment: 'checkout', version: 1, target: 't6', actor: 'a', owner: 'replica-1' }),
        ]);
        const value = (i: number) => (settled[i] as PromiseFulfilledResult<{ run: { id: string; owner: string | null }; created: boolean }>).value;
        const reason = (i: number) => (settled[i] as PromiseRejectedResult).reason as unknown;
        assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
        assert.equal(value(1).run.id, 'b1');
        assert.ok(reason(2) instanceof LockedError && (reason(2) as LockedError).holder === 'b1', String(reason(2)));
        assert.deepEqual([value(3).run.id, value(3).created], ['old', false], 'a repeated key gets its run, though that run holds the target');
        assert.ok(reason(4) instanceof NotFoundError, String(reason(4)));
        assert.ok(reason(5) instanceof LockedError && (reason(5) as LockedError).holder === 'old', String(reason(5)));
        assert.deepEqual([value(6).run.id, value(6).run.owner], ['b6', 'replica-1']);
        assert.equal(await store.runs.countActive(), 4);

        // Past the cap, a batch is refused run by run: room for one more of three.
        const capped = await Promise.allSettled(
          ['x0', 'x1', 'x2', 'x3'].map((id) => store.runs.create({ id, experiment: 'checkout', version: 1, target: id, actor: 'a', maxActive: 6 })),
        );
        assert.deepEqual(capped.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected']);
        for (const r of capped.slice(2)) assert.equal((r as PromiseRejectedResult).reason.code, 'too_many_runs', String((r as PromiseRejectedResult).reason));
        assert.equal(await store.runs.countActive(), 6);
      });

      it('runs created for one target at the same time: exactly one succeeds, the rest are Locked by it', async () => {
        const attempts = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => store.runs.create({ id: `c${i}`, experiment: 'checkout', version: 1, target: 'shop', actor: 'a' })),
        );
        const won = attempts.filter((a) => a.status === 'fulfilled');
        assert.equal(won.length, 1, JSON.stringify(attempts.map((a) => a.status)));
        const winner = (won[0] as PromiseFulfilledResult<{ run: { id: string } }>).value.run.id;
        for (const a of attempts) {
          if (a.status === 'rejected') {
            assert.ok(a.reason instanceof LockedError, String(a.reason));
            assert.equal(a.reason.holder, winner);
          }
        }
        assert.equal(await store.runs.countActive(), 1);
      });

      it('update persists state, verdict, window with the injector handle, halt and metrics', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const window: FaultWindow = {
          openedAt: '2026-01-02T03:04:05.000Z',
          deadline: '2026-01-02T03:06:05.000Z',
          handle: { injector: 'http-proxy', admin: 'http://127.0.0.1:9101', windowId: 'w-1', paths: ['/checkout*'] },
        };
        const injecting = await store.runs.update('r1', { state: 'injecting', window });
        assert.equal(injecting.state, 'injecting');
        assert.deepEqual(injecting.window, window);
        assert.equal(injecting.endedAt, null);

        const halt = { guardrail: 'checkout-errors', reason: 'error ratio 0.05 > 0.02', at: '2026-01-02T03:05:00.000Z', value: 0.05, threshold: { max: 0.02 } };
        const metrics = [
          {
            name: 'checkout-sps', verdict: 'inconclusive' as const, reason: 'halted', method: 'mann-whitney' as const,
            control: { n: 10, median: 1.5, mean: 1.4 }, experiment: { n: 9, median: 1.2, mean: 1.1 },
            effect: -0.3, relativeEffect: -0.2, ci: [-0.5, 0.1] as [number, number], pValue: 0.12, alpha: 0.05,
            tolerance: { kind: 'relative' as const, value: 0.05 }, allowed: 0.075,
          },
        ];
        const halted = await store.runs.update('r1', { state: 'halted', verdict: null, reason: 'guardrail', halt, metrics, window: { ...window, closedAt: '2026-01-02T03:05:01.000Z', closedBy: 'halt' } });
        assert.equal(halted.state, 'halted');
        assert.equal(halted.reason, 'guardrail');
        assert.deepEqual(halted.halt, halt);
        assert.deepEqual(halted.metrics, metrics);
        assert.equal(halted.window?.closedBy, 'halt');
        assert.ok(isIso(halted.endedAt), 'moving to a terminal state sets endedAt');
        assert.deepEqual(await store.runs.get('r1'), halted);
      });

      it('an explicit endedAt is kept; non-finite numbers and unknown fields are refused', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        await assert.rejects(store.runs.update('r1', { halt: { guardrail: 'g', reason: 'r', at: '2026-01-01T00:00:00.000Z', value: Number.NaN } }), expectError(ValidationError));
        await assert.rejects(store.runs.update('r1', { owner: 'me' } as never), expectError(ValidationError));
        await assert.rejects(store.runs.update('r1', { state: 'exploded' as RunState }), expectError(ValidationError));
        await assert.rejects(store.runs.update('nope', { state: 'preflight' }), expectError(NotFoundError));
        const ended = await store.runs.update('r1', { state: 'errored', endedAt: '2026-01-01T00:00:00.000Z' });
        assert.equal(ended.endedAt, '2026-01-01T00:00:00.000Z');
      });

      it('a terminal state is final: no way back to active, no other terminal state, no new verdict', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const passed = await store.runs.update('r1', { state: 'passed', verdict: 'pass' });
        for (const patch of [{ state: 'injecting' as const }, { state: 'pending' as const }, { state: 'failed' as const }, { verdict: 'fail' as const }, { endedAt: null }]) {
          await assert.rejects(store.runs.update('r1', patch), expectError(ConflictError, (e) => assert.equal(e.code, 'run_final')), JSON.stringify(patch));
        }
        // The same state again (a retried write) and completing the record are fine.
        const again = await store.runs.update('r1', { state: 'passed', verdict: 'pass', endedAt: passed.endedAt, reason: 'all metrics within tolerance' });
        assert.equal(again.endedAt, passed.endedAt);
        assert.equal(again.reason, 'all metrics within tolerance');
        // The database refuses it too, whoever writes.
        await assert.rejects(sql.query(`UPDATE runs SET state = 'injecting' WHERE id = 'r1'`), (err) => databaseError(err).code === SQLSTATE.runFinal);
        assert.equal((await store.runs.get('r1'))?.state, 'passed');
      });

      it('list: newest first, filtered by experiment and state, limited, paged with before', async () => {
        await store.experiments.create(input('other'));
        const ids: string[] = [];
        for (let i = 0; i < 6; i += 1) {
          const experiment = i % 2 === 0 ? 'checkout' : 'other';
          const id = `r${i}`;
          await store.runs.create({ id, experiment, version: 1, target: `t${i}`, actor: 'a' });
          if (i < 4) await store.runs.update(id, { state: i < 2 ? 'passed' : 'failed' });
          ids.push(id);
        }
        const all = await store.runs.list();
        assert.deepEqual(all.map((r) => r.id), [...ids].reverse());
        assert.deepEqual((await store.runs.list({ experiment: 'checkout' })).map((r) => r.id), ['r4', 'r2', 'r0']);
        assert.deepEqual((await store.runs.list({ state: 'failed' })).map((r) => r.id), ['r3', 'r2']);
        assert.deepEqual((await store.runs.list({ state: ['passed', 'pending'] })).map((r) => r.id), ['r5', 'r4', 'r1', 'r0']);
        assert.deepEqual((await store.runs.list({ experiment: 'other', state: 'passed' })).map((r) => r.id), ['r1']);
        assert.deepEqual((await store.runs.list({ limit: 2 })).map((r) => r.id), ['r5', 'r4']);
        assert.deepEqual((await store.runs.list({ limit: 2, before: 'r4' })).map((r) => r.id), ['r3', 'r2']);
        assert.deepEqual((await store.runs.list({ before: 'r0' })).map((r) => r.id), []);
        await assert.rejects(store.runs.list({ before: 'nope' }), expectError(NotFoundError));
        assert.deepEqual((await store.runs.listActive()).map((r) => r.id), ['r4', 'r5']);
        assert.equal(await store.runs.countActive(), 2);
      });

      it('events come back in append order, with their data; they cannot be changed', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const e1 = await store.runs.appendEvent('r1', { at: '2026-01-01T00:00:02.000Z', type: 'state', message: 'pending → preflight', data: { actor: 'alice', nested: { list: [1, 'two', null] } } });
        // An earlier timestamp appended later still comes later: order is append order.
        const e2 = await store.runs.appendEvent('r1', { at: '2026-01-01T00:00:01.000Z', type: 'note', message: 'clock skew' });
        const e3 = await store.runs.appendEvent('r1', { type: 'abort', message: 'aborted by bob', data: { actor: 'bob' } });
        assert.ok(e1.seq < e2.seq && e2.seq < e3.seq);
        assert.ok(isIso(e3.at));
        const events = await store.runs.events('r1');
        assert.deepEqual(events, [e1, e2, e3]);
        assert.deepEqual(events[0], { seq: e1.seq, at: '2026-01-01T00:00:02.000Z', type: 'state', message: 'pending → preflight', data: { actor: 'alice', nested: { list: [1, 'two', null] } } });
        assert.equal('data' in events[1]!, false);
        assert.deepEqual(await store.runs.events('r1', { after: e1.seq }), [e2, e3]);
        assert.deepEqual(await store.runs.events('nope'), []);
        await assert.rejects(store.runs.appendEvent('nope', { type: 'x', message: 'y' }), expectError(NotFoundError));
        await assert.rejects(sql.query(`UPDATE run_events SET message = 'rewritten'`), (err) => databaseError(err).code === SQLSTATE.immutableRow);
        await assert.rejects(sql.query('DELETE FROM run_events'), (err) => databaseError(err).code === SQLSTATE.immutableRow);
      });

      it('samples are appended and merged per (metric, group), ordered by t, exactly as given', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const q = (g: string): string => `sum(rate(x{group="${g}"}[15s]))`;
        const t0 = Date.UTC(2026, 0, 1);
        assert.equal(await store.runs.appendSamples('r1', { metric: 'sps', group: 'control', query: q('control'), samples: [{ t: t0 + 3000, v: 0.1 + 0.2 }, { t: t0 + 4000, v: 1e-300 }] }), 2);
        assert.equal(await store.runs.appendSamples('r1', { metric: 'sps', group: 'experiment', query: q('experiment'), samples: [{ t: t0, v: -5 }] }), 1);
        // Earlier points appended later, and one repeated point: merged in t order, the repeat skipped.
        assert.equal(await store.runs.appendSamples('r1', { metric: 'sps', group: 'control', query: q('control'), samples: [{ t: t0 + 1000, v: Math.PI * 1e8 }, { t: t0 + 3000, v: 99 }] }), 1);
        assert.equal(await store.runs.appendSamples('r1', { metric: 'p95', group: 'control', query: 'p95', samples: [] }), 0);
        assert.deepEqual(await store.runs.series('r1'), [
          { metric: 'sps', group: 'control', query: q('control'), samples: [{ t: t0 + 1000, v: Math.PI * 1e8 }, { t: t0 + 3000, v: 0.1 + 0.2 }, { t: t0 + 4000, v: 1e-300 }] },
          { metric: 'sps', group: 'experiment', query: q('experiment'), samples: [{ t: t0, v: -5 }] },
          { metric: 'p95', group: 'control', query: 'p95', samples: [] },
        ]);
        assert.deepEqual(await store.runs.series('nope'), []);
        await assert.rejects(sql.query('UPDATE run_samples SET v = 0'), (err) => databaseError(err).code === SQLSTATE.immutableRow);
      });

      it("many runs' samples and evaluations in one batch: all or nothing, a retried batch adds nothing", async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        await store.runs.create({ id: 'r2', experiment: 'checkout', version: 1, target: 'shop-2', actor: 'a' });
        const t0 = Date.UTC(2026, 0, 1);
        const item = (runId: string, v: number): RunDataItem => ({
          runId,
          samples: [
            { metric: 'sps', group: 'control', query: 'qc', samples: [{ t: t0, v }, { t: t0 + 1000, v: v + 1 }] },
            { metric: 'sps', group: 'experiment', query: 'qe', samples: [{ t: t0, v: -v }] },
            // The same series twice in one batch (two looks buffered together), one point repeated.
            { metric: 'sps', group: 'control', query: 'qc', samples: [{ t: t0 + 1000, v: 99 }, { t: t0 + 2000, v: v + 2 }] },
          ],
          evaluations: [{ guardrail: 'errors', at: t0, value: v / 100, breached: false }, { guardrail: 'sps-drop', at: t0, value: null, breached: false }],
        });
        assert.deepEqual(await store.runs.appendRunData([item('r1', 1), item('r2', 2)]), { samples: 8, evaluations: 4 });
        assert.deepEqual(await store.runs.appendRunData([item('r1', 1), item('r2', 2)]), { samples: 0, evaluations: 0 }, 'a retried batch is harmless');
        assert.deepEqual(await store.runs.series('r2'), [
          { metric: 'sps', group: 'control', query: 'qc', samples: [{ t: t0, v: 2 }, { t: t0 + 1000, v: 3 }, { t: t0 + 2000, v: 4 }] },
          { metric: 'sps', group: 'experiment', query: 'qe', samples: [{ t: t0, v: -2 }] },
        ]);
        assert.deepEqual(await store.runs.guardrailEvaluations('r1'), [
          { guardrail: 'errors', at: t0, value: 0.01, breached: false },
          { guardrail: 'sps-drop', at: t0, value: null, breached: false },
        ]);
        // All or nothing: an unknown run, or a series with another query, rolls the whole batch back.
        const later = (runId: string): RunDataItem => ({ runId, samples: [{ metric: 'sps', group: 'control', query: 'qc', samples: [{ t: t0 + 9000, v: 9 }] }], evaluations: [] });
        await assert.rejects(store.runs.appendRunData([later('r1'), later('nope')]), (err: unknown) => err instanceof NotFoundError && /nope/.test(err.message));
        const changed: RunDataItem = { runId: 'r2', samples: [{ metric: 'sps', group: 'control', query: 'another query', samples: [{ t: t0 + 9000, v: 9 }] }], evaluations: [] };
        await assert.rejects(store.runs.appendRunData([later('r1'), changed]), expectError(ConflictError));
        assert.equal((await store.runs.series('r1'))[0]!.samples.length, 3, 'nothing of the failed batches landed');
        await assert.rejects(
          store.runs.appendRunData([{ runId: 'r1', samples: [], evaluations: [{ guardrail: 'x', at: 1, value: Number.NaN, breached: false }] }]),
          expectError(ValidationError),
        );
      });

      it('sample batches are bounded and checked', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const chunk = (samples: { t: number; v: number }[], query = 'q'): { metric: string; group: 'control'; query: string; samples: { t: number; v: number }[] } => ({ metric: 'm', group: 'control', query, samples });
        const big = Array.from({ length: MAX_SAMPLES_PER_APPEND }, (_, i) => ({ t: i * 1000, v: i / 7 }));
        assert.equal(await store.runs.appendSamples('r1', chunk(big)), MAX_SAMPLES_PER_APPEND);
        await assert.rejects(store.runs.appendSamples('r1', chunk([...big, { t: -1, v: 0 }])), expectError(ValidationError));
        await assert.rejects(store.runs.appendSamples('r1', chunk([{ t: 1, v: Number.NaN }])), expectError(ValidationError));
        await assert.rejects(store.runs.appendSamples('r1', chunk([{ t: 1.5, v: 1 }])), expectError(ValidationError));
        await assert.rejects(store.runs.appendSamples('r1', chunk([{ t: 1, v: 1 }], 'another query')), expectError(ConflictError));
        await assert.rejects(store.runs.appendSamples('nope', chunk([{ t: 1, v: 1 }])), expectError(NotFoundError));
        const [series] = await store.runs.series('r1');
        assert.equal(series!.samples.length, MAX_SAMPLES_PER_APPEND);
        assert.equal(series!.samples[7]!.v, 1);
      });

      it('guardrail evaluations: value, time, breached and no data kept in order; a retried append adds nothing', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const t0 = Date.parse('2026-03-01T10:00:00.000Z');
        const batch = [
          { guardrail: 'errors', at: t0, value: 0.01, breached: false },
          { guardrail: 'budget', at: t0, value: null, breached: false },
          { guardrail: 'errors', at: t0 + 1000, value: 0.1 + 0.2, breached: true },
        ];
        assert.equal(await store.runs.appendGuardrailEvaluations('r1', batch), 3);
        assert.equal(await store.runs.appendGuardrailEvaluations('r1', batch), 0, 'a retried append is harmless');
        assert.equal(await store.runs.appendGuardrailEvaluations('r1', []), 0);
        assert.deepEqual(await store.runs.guardrailEvaluations('r1'), [batch[1], batch[0], batch[2]]);
        assert.deepEqual(await store.runs.guardrailEvaluations('nope'), []);
        await assert.rejects(store.runs.appendGuardrailEvaluations('nope', batch), expectError(NotFoundError));
        await assert.rejects(store.runs.appendGuardrailEvaluations('r1', [{ guardrail: 'x', at: 1, value: Number.NaN, breached: false }]), expectError(ValidationError));
        await assert.rejects(store.runs.appendGuardrailEvaluations('r1', [{ guardrail: 'x', at: 1.5, value: 1, breached: false }]), expectError(ValidationError));
        await assert.rejects(store.runs.appendGuardrailEvaluations('r1', [{ guardrail: '', at: 1, value: 1, breached: false }]), expectError(ValidationError));
      });

      it('guardrail evaluations are bounded per guardrail: thinning keeps every breach and the first and last', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const n = MAX_EVALUATIONS_PER_GUARDRAIL + 200;
        const all = Array.from({ length: n }, (_, i) => ({ guardrail: 'errors', at: i * 1000, value: i % 97 === 0 ? null : i / 10, breached: i % 250 === 3 }));
        for (let i = 0; i < n; i += MAX_EVALUATIONS_PER_APPEND) await store.runs.appendGuardrailEvaluations('r1', all.slice(i, i + MAX_EVALUATIONS_PER_APPEND));
        await store.runs.appendGuardrailEvaluations('r1', [{ guardrail: 'other', at: 0, value: 1, breached: false }]);
        const kept = (await store.runs.guardrailEvaluations('r1')).filter((o) => o.guardrail === 'errors');
        assert.ok(kept.length <= MAX_EVALUATIONS_PER_GUARDRAIL, `thinned to ${kept.length}`);
        assert.ok(kept.length >= MAX_EVALUATIONS_PER_GUARDRAIL / 2, `not thinned away: ${kept.length}`);
        assert.deepEqual(kept[0], all[0]);
        assert.deepEqual(kept.at(-1), all.at(-1));
        const breaches = all.filter((o) => o.breached);
        assert.deepEqual(kept.filter((o) => o.breached), breaches, 'every breach is kept');
        for (const o of kept) assert.deepEqual(o, all[o.at / 1000], 'kept rows are unchanged');
        assert.equal((await store.runs.guardrailEvaluations('r1')).filter((o) => o.guardrail === 'other').length, 1, 'other guardrails untouched');
        // Breaches alone beyond twice the cap are thinned too: the bound holds.
        const tiny = createGuardrailEvaluationRepository(sql, 10);
        await tiny.appendGuardrailEvaluations('r1', Array.from({ length: 50 }, (_, i) => ({ guardrail: 'flappy', at: i, value: 1, breached: true })));
        const flappy = (await tiny.guardrailEvaluations('r1')).filter((o) => o.guardrail === 'flappy');
        assert.ok(flappy.length <= 20, `bounded at twice the cap: ${flappy.length}`);
        assert.equal(flappy[0]?.at, 0);
        assert.equal(flappy.at(-1)?.at, 49);
      });

      it('a lease is claimed by one owner, renewed by heartbeats, taken over when stale', async () => {
        await store.runs.create({ id: 'r1', experiment: 'checkout', version: 1, target: 'shop', actor: 'a' });
        const claimed = await store.runs.claim('r1', 'replica-a');
        assert.equal(claimed?.owner, 'replica-a');
        assert.ok(isIso(claimed?.heartbeatAt));
        assert.equal(await store.runs.claim('r1', 'replica-b'), undefined);
        assert.equal(await store.runs.heartbeat('r1', 'replica-a'), true);
        assert.equal(await store.runs.heartbeat('r1', 'replica-b'), false);
        assert.equal((await store.runs.claim('r1', 'replica-b', 0))?.owner, 'replica-b', 'a lease older than 0 ms is stale');
        assert.equal(await store.runs.heartbeat('r1', 'replica-a'), false);
        await store.runs.update('r1', { state: 'aborted' });
        assert.equal(await store.runs.claim('r1', 'replica-c', 0), undefined, 'an ended run cannot be claimed');
      });
    });

    describe('tokens', () => {
      it('only the SHA-256 of a token is stored; verify finds its owner', async () => {
        const created = await store.tokens.create({ name: 'ci', role: 'operator' });
        assert.match(created.token, /^sst_[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
        assert.equal(created.role, 'operator');
        assert.equal(created.revokedAt, null);
        const rows = await sql.query<Record<string, unknown>>('SELECT * FROM api_tokens');
        assert.equal(rows.length, 1);
        const stored = JSON.stringify(rows);
        assert.ok(!stored.includes(created.token), 'the token itself is not in the table');
        assert.ok(!stored.includes(created.token.slice(4)), 'nor its random part');
        assert.equal(rows[0]!.token_sha256, createHash('sha256').update(created.token).digest('hex'));
        assert.deepEqual(await store.tokens.verify(created.token), { id: created.id, name: 'ci', role: 'operator' });
        const second = await store.tokens.create({ name: 'ci', role: 'operator' });
        assert.notEqual(second.token, created.token);
      });

      it('verify refuses unknown, malformed and revoked tokens; list never shows hashes', async () => {
        const a = await store.tokens.create({ name: 'a', role: 'viewer' });
        const b = await store.tokens.create({ name: 'b', role: 'admin' });
        for (const bad of ['', 'sst_nope', a.token.slice(0, -1), `${a.token}x`, 'x'.repeat(10_000)]) {
          assert.equal(await store.tokens.verify(bad), undefined, bad.slice(0, 20));
        }
        const revoked = await store.tokens.revoke(a.id);
        assert.ok(isIso(revoked.revokedAt));
        assert.equal(await store.tokens.verify(a.token), undefined);
        assert.equal((await store.tokens.revoke(a.id)).revokedAt, revoked.revokedAt, 'revoking again keeps the first time');
        assert.deepEqual((await store.tokens.verify(b.token))?.role, 'admin');
        await assert.rejects(store.tokens.revoke('nope'), expectError(NotFoundError));
        const list = await store.tokens.list();
        assert.deepEqual(list.map((t) => [t.name, t.revokedAt !== null]), [['a', true], ['b', false]]);
        for (const t of list) assert.deepEqual(Object.keys(t).sort(), ['createdAt', 'id', 'name', 'revokedAt', 'role']);
        await assert.rejects(store.tokens.create({ name: 'x', role: 'root' as never }), expectError(ValidationError));
      });

      it('ensureBootstrap is idempotent, and a revoked bootstrap token stays revoked', async () => {
        const secret = 'bootstrap-admin-token-0123456789abcdef';
        const first = await store.tokens.ensureBootstrap(secret, 'bootstrap', 'admin');
        assert.equal(first.created, true);
        const again = await store.tokens.ensureBootstrap(secret, 'renamed', 'viewer');
        assert.equal(again.created, false);
        assert.equal(again.id, first.id);
        assert.equal(again.role, 'admin', 'the stored token is left as it is');
        const concurrent = await Promise.all([1, 2, 3].map(() => store.tokens.ensureBootstrap(secret, 'bootstrap', 'admin')));
        assert.ok(concurrent.every((c) => c.id === first.id && !c.created));
        assert.equal((await store.tokens.list()).length, 1);
        assert.deepEqual(await store.tokens.verify(secret), { id: first.id, name: 'bootstrap', role: 'admin' });
        const [row] = await sql.query<{ token_sha256: string }>('SELECT token_sha256 FROM api_tokens');
        assert.notEqual(row!.token_sha256, secret);

        await store.tokens.revoke(first.id);
        const afterRevoke = await store.tokens.ensureBootstrap(secret, 'bootstrap', 'admin');
        assert.ok(afterRevoke.revokedAt !== null);
        assert.equal(await store.tokens.verify(secret), undefined);
        await assert.rejects(store.tokens.ensureBootstrap('short', 'bootstrap', 'admin'), expectError(ValidationError));
      });
    });

    describe('halt-all', () => {
      it('is off until set; set and clear record who and when, and repeating either changes nothing', async () => {
        assert.deepEqual(await store.settings.haltAll(), { active: false });
        const set = await store.settings.setHaltAll('alice');
        assert.equal(set.active, true);
        assert.equal(set.actor, 'alice');
        assert.ok(isIso(set.since));
        assert.deepEqual(await store.settings.setHaltAll('bob'), set, 'the first setter is kept');
        assert.deepEqual(await store.settings.haltAll(), set);
        const cleared = await store.settings.clearHaltAll('carol');
        assert.equal(cleared.active, false);
        assert.equal(cleared.actor, 'carol');
        assert.deepEqual(await store.settings.clearHaltAll('dave'), cleared);
        assert.equal((await store.settings.setHaltAll('erin')).actor, 'erin');
      });

      it('keeps the reason it was set with (the first setter\'s), and a clear drops it', async () => {
        const set = await store.settings.setHaltAll('alice', 'checkout is on fire <b>now</b>');
        assert.equal(set.reason, 'checkout is on fire <b>now</b>');
        assert.deepEqual(await store.settings.setHaltAll('bob', 'another reason'), set);
        assert.deepEqual(await store.settings.haltAll(), set);
        assert.equal((await store.settings.clearHaltAll('carol')).reason, undefined);
        assert.equal((await store.settings.setHaltAll('dave')).reason, undefined, 'no reason given, none shown');
        await assert.rejects(store.settings.setHaltAll('erin', 'x'.repeat(1001)), expectError(ValidationError));
      });
    });

    it('a burst of look-ups (token, experiment, halt-all) shares its queries, and each asker gets its own answer', async () => {
      const ok = await store.tokens.create({ name: 'ok', role: 'operator' });
      const gone = await store.tokens.create({ name: 'gone', role: 'admin' });
      await store.tokens.revoke(gone.id);
      await store.experiments.create(input('exp-a'));
      await store.experiments.create(input('exp-b'));
      await store.settings.setHaltAll('alice', 'drill');
      // The same database through a port that counts the statements it is asked (nothing else changed).
      const asked: string[] = [];
      const counted: Sql = {
        kind: sql.kind,
        query: (text, params) => {
          asked.push(text);
          return sql.query(text, params);
        },
        exec: (script) => sql.exec(script),
        transaction: (fn) => sql.transaction(fn),
        close: async () => undefined,
      };
      const burst = await createStore(counted);
      asked.length = 0;
      const tokens = ['sst_unknown', ok.token, gone.token, ok.token];
      const names = ['exp-a', 'nope', 'exp-b', 'exp-a'];
      const [verified, experiments, haltAll] = await Promise.all([
        Promise.all(Array.from({ length: 40 }, (_, i) => burst.tokens.verify(tokens[i % 4]!))),
        Promise.all(Array.from({ length: 40 }, (_, i) => burst.experiments.get(names[i % 4]!))),
        Promise.all(Array.from({ length: 40 }, () => burst.settings.haltAll())),
      ]);
      verified.forEach((v, i) => assert.deepEqual(v, i % 2 === 1 ? { id: ok.id, name: 'ok', role: 'operator' } : undefined, `token ${i}`));
      experiments.forEach((e, i) => assert.equal(e?.name, ['exp-a', undefined, 'exp-b', 'exp-a'][i % 4], `experiment ${i}`));
      assert.ok(haltAll.every((h) => h.active && h.actor === 'alice' && h.reason === 'drill'));
      // Two askers of one experiment do not share its spec: a change to one is not seen by the other.
      experiments[0]!.spec.metadata.name = 'changed';
      assert.equal(experiments[3]!.spec.metadata.name, 'exp-a');
      // The first of each kind is asked at once, the other 39 together once it answered.
      const count = (table: string): number => asked.filter((t) => t.includes(table)).length;
      assert.equal(count('api_tokens'), 2, asked.join('\n'));
      assert.equal(count('experiment_versions'), 2, asked.join('\n'));
      assert.equal(count('FROM settings'), 2, asked.join('\n'));
      // A look-up after a write sees the write (it is asked after it).
      await burst.settings.clearHaltAll('bob');
      assert.equal((await burst.settings.haltAll()).active, false);
    });

    it('ping answers while the database is reachable', async () => {
      await store.ping();
    });
  });
}

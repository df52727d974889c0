/**
 * The store suite on a real PostgreSQL server (started from the installed
 * Debian binaries by test/helpers/postgres.ts), including the races only a
 * server has: replicas migrating at once, replicas starting runs on one target.
 * Skipped loudly where PostgreSQL is missing; never under CI=true or
 * STEADYSTATE_REQUIRE_POSTGRES=1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/open-store.ts';
import { createPgSql } from '../../src/store/pg-sql.ts';
import { checkPostgres, startPostgres, type RunningPostgres } from '../helpers/postgres.ts';
import { storeSuite } from './store.suite.ts';

const postgres = checkPostgres();

describe('PostgreSQL', { skip: postgres.skip }, () => {
  storeSuite(
    'PostgreSQL',
    async () => {
      const server = await startPostgres({ install: postgres.install });
      return {
        freshSql: async () => createPgSql({ connectionString: await server.createDatabase() }),
        concurrentSqls: async (count) => {
          const url = await server.createDatabase();
          return Array.from({ length: count }, () => createPgSql({ connectionString: url, max: 2 }));
        },
        teardown: () => server.stop(),
      };
    },
    { replicas: true },
  );

  describe('openStore', () => {
    let server: RunningPostgres;
    before(async () => {
      server = await startPostgres({ install: postgres.install });
    });
    after(() => server?.stop());

    it('uses PostgreSQL when databaseUrl is set, and a second start applies nothing', async () => {
      const url = await server.createDatabase();
      const first = await openStore({ databaseUrl: url, dataDir: '/nonexistent/never-used' });
      assert.equal(first.kind, 'pg');
      await first.settings.setHaltAll('alice');
      await first.close();
      const second = await openStore({ databaseUrl: url });
      try {
        assert.equal((await second.settings.haltAll()).actor, 'alice');
      } finally {
        await second.close();
      }
    });

    it('fails within its bound when the server is unreachable', async () => {
      const started = Date.now();
      await assert.rejects(openStore({ databaseUrl: 'postgres://postgres@127.0.0.1:1/postgres' }));
      assert.ok(Date.now() - started < 15_000);
    });
  });
});

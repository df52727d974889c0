/**
 * The store's factory: picks the adapter, applies migrations, wires the
 * repositories. The composition root calls `openStore` once at start.
 */
import { createSessionRepository } from '../http/session-store.ts';
import { createExperimentRepository } from './experiment-store.ts';
import { migrate, type Migration } from './migrate.ts';
import { createPgSql } from './pg-sql.ts';
import { createPgliteSql, type PgliteSqlOptions } from './pglite-sql.ts';
import { createRunRepository } from './run-store.ts';
import { createSettingsRepository } from './settings-store.ts';
import { createTriggerRepository } from '../triggers/trigger-store.ts';
import type { Sql } from './sql.ts';
import { createTokenRepository } from './token-store.ts';
import type { Store } from './types.ts';

export const DEFAULT_DATA_DIR = './data';

export interface OpenStoreOptions {
  /** PostgreSQL URL (`DATABASE_URL`); when set, the server is used and the other options are ignored. */
  databaseUrl?: string;
  /** PGlite data directory (`STEADYSTATE_DATA_DIR`), default `./data`. */
  dataDir?: string;
  /** PGlite in memory (tests, `steadystate demo`): nothing survives close(). */
  memory?: boolean;
  /** Lease of the PGlite data-dir lock (tests shorten it). */
  lock?: PgliteSqlOptions['lock'];
  /** Errors of idle pg connections; the pool replaces them itself. */
  onIdleError?: (err: Error) => void;
}

/** PostgreSQL when `databaseUrl` is set, else PGlite (in memory, or in `dataDir`); migrated and ready. */
export async function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  const sql: Sql = opts.databaseUrl
    ? createPgSql({ connectionString: opts.databaseUrl, ...(opts.onIdleError ? { onIdleError: opts.onIdleError } : {}) })
    : await createPgliteSql(opts.memory ? {} : { dataDir: opts.dataDir ?? DEFAULT_DATA_DIR, ...(opts.lock ? { lock: opts.lock } : {}) });
  try {
    return await createStore(sql);
  } catch (err) {
    await sql.close();
    throw err;
  }
}

/**
 * A store over an existing SQL port: migrates, then wires the repositories.
 * The store owns `sql` from here on (its close() closes it).
 */
export async function createStore(sql: Sql, migrations?: readonly Migration[]): Promise<Store> {
  await migrate(sql, migrations);
  return {
    kind: sql.kind,
    experiments: createExperimentRepository(sql),
    runs: createRunRepository(sql),
    tokens: createTokenRepository(sql),
    settings: createSettingsRepository(sql),
    triggers: createTriggerRepository(sql),
    sessions: createSessionRepository(sql),
    async ping() {
      await sql.query('SELECT 1');
    },
    close: () => sql.close(),
  };
}

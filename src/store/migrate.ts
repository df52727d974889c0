/**
 * Numbered SQL migrations, applied at start.
 *
 * Files are `migrations/NNN_name.sql`, applied in numeric order, each recorded
 * in `schema_migrations` with a SHA-256 of its text. Everything happens in one
 * transaction that first takes a transaction-scoped advisory lock, so several
 * replicas starting at once against one PostgreSQL queue up: the first applies,
 * the others then find nothing to do. (PGlite has a single connection; the
 * lock is harmless there.) A failing migration rolls the whole batch back.
 *
 * Refusing to start is safer than guessing, so this throws MigrationError when
 * the database has a migration this build does not know (it was written by a
 * newer version) or when an applied migration's text has changed since.
 * Migrations must therefore be append-only: fix a mistake with a new file.
 * Statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY) are
 * not supported.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigrationError } from './errors.ts';
import type { Sql } from './sql.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** Where the migrations live beside this file (src/store/migrations, or dist/store/migrations in the image). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

const FILE_NAME = /^(\d{3,})_([a-z0-9][a-z0-9_-]*)\.sql$/;

// Any constant works; it only has to be the same for every replica of this service.
const ADVISORY_LOCK_KEY = 'steadystate.schema_migrations';

export function checksum(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Read and order the migration files of `dir`; a `.sql` file with a bad name or a duplicate number is an error. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (err) {
    throw new MigrationError(`cannot read migrations directory ${dir} (a build must copy src/store/migrations beside the compiled store)`, err);
  }
  const migrations: Migration[] = [];
  for (const file of files) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(file);
    if (!match) throw new MigrationError(`migration file "${file}" must be named NNN_name.sql`);
    const sql = await readFile(join(dir, file), 'utf8');
    migrations.push({ version: Number(match[1]), name: match[2]!, sql, checksum: checksum(sql) });
  }
  if (migrations.length === 0) throw new MigrationError(`no migrations in ${dir}`);
  return ordered(migrations);
}

/** A sorted copy; two migrations with one number are an error. */
function ordered(migrations: readonly Migration[]): Migration[] {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (let i = 1; i < sorted.length; i += 1) {
    if (sorted[i]!.version === sorted[i - 1]!.version) {
      throw new MigrationError(`two migrations numbered ${sorted[i]!.version}: ${sorted[i - 1]!.name}, ${sorted[i]!.name}`);
    }
  }
  return sorted;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/** Apply the migrations the database lacks; returns the versions applied now (empty on a second start). */
export async function migrate(sql: Sql, migrations?: readonly Migration[]): Promise<number[]> {
  const all = migrations ? ordered(migrations) : await loadMigrations();
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [ADVISORY_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const applied = await tx.query<AppliedRow>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
    const known = new Map(all.map((m) => [m.version, m]));
    for (const row of applied) {
      const mine = known.get(row.version);
      if (!mine) {
        throw new MigrationError(`the database has migration ${row.version} (${row.name}), unknown to this build: it was migrated by a newer version`);
      }
      if (mine.checksum !== row.checksum) {
        throw new MigrationError(`migration ${row.version} (${row.name}) changed after it was applied; add a new migration instead of editing one`);
      }
    }
    const done = new Set(applied.map((r) => r.version));
    const now: number[] = [];
    for (const m of all) {
      if (done.has(m.version)) continue;
      try {
        await tx.exec(m.sql);
      } catch (err) {
        throw new MigrationError(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, err);
      }
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
      now.push(m.version);
    }
    return now;
  });
}

/**
 * Experiments, versioned. `experiments` has one row per name (its latest
 * version number and whether it is deleted); `experiment_versions` one
 * immutable row per version. Versions are numbered under a row lock on the
 * name, so two concurrent updates get consecutive numbers, never the same.
 */
import { ValidationError } from '../lib/errors.ts';
import type { Experiment } from '../spec/schema.ts';
import { ACTIVE_STATES } from '../engine/types.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import { batchedLookup } from './group-commit.ts';
import { iso, jsonParam, requireText } from './rows.ts';
import type { Sql } from './sql.ts';
import type { ExperimentInput, ExperimentRepository, ExperimentVersion, SpecFormat } from './types.ts';

interface VersionRow {
  experiment: string;
  version: number;
  spec: Experiment;
  source: string;
  format: SpecFormat;
  created_at: Date;
  created_by: string;
}

const VERSION_COLUMNS = 'v.experiment, v.version, v.spec, v.source, v.format, v.created_at, v.created_by';

function toVersion(row: VersionRow): ExperimentVersion {
  return {
    name: row.experiment,
    version: row.version,
    spec: row.spec,
    source: row.source,
    format: row.format,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
  };
}

function checkInput(name: string, input: Omit<ExperimentInput, 'name'>): void {
  requireText(name, 'name', 128);
  requireText(input.actor, 'actor', 256);
  if (input.format !== 'yaml' && input.format !== 'json') {
    throw new ValidationError([{ path: 'format', message: 'must be "yaml" or "json"' }]);
  }
  if (typeof input.source !== 'string') throw new ValidationError([{ path: 'source', message: 'must be the submitted text' }]);
  const specName = (input.spec as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
  if (specName !== name) {
    throw new ValidationError([{ path: 'metadata.name', message: `must be "${name}", the experiment's name, got ${JSON.stringify(specName)}` }]);
  }
}

async function insertVersion(tx: Sql, name: string, version: number, input: Omit<ExperimentInput, 'name'>): Promise<ExperimentVersion> {
  const [row] = await tx.query<VersionRow>(
    `INSERT INTO experiment_versions AS v (experiment, version, spec, source, format, created_by)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6)
     RETURNING ${VERSION_COLUMNS}`,
    [name, version, jsonParam(input.spec, 'spec'), input.source, input.format, input.actor],
  );
  return toVersion(row!);
}

export function createExperimentRepository(sql: Sql): ExperimentRepository {
  // Every start reads its experiment: a burst of starts shares one query.
  const latest = batchedLookup(async (names: string[]) => {
    const rows = await sql.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM experiments e
       JOIN experiment_versions v ON v.experiment = e.name AND v.version = e.latest_version
       WHERE e.name = ANY($1::text[]) AND e.deleted_at IS NULL`,
      [names],
    );
    return new Map(rows.map((r) => [r.experiment, r]));
  });
  return {
    async create(input) {
      checkInput(input.name, input);
      return sql.transaction(async (tx) => {
        const inserted = await tx.query<{ latest_version: number }>(
          `INSERT INTO experiments (name, latest_version) VALUES ($1, 1)
           ON CONFLICT (name) DO NOTHING RETURNING latest_version`,
          [input.name],
        );
        if (inserted.length > 0) return insertVersion(tx, input.name, 1, input);
        // The name exists: taken, or deleted (then undelete and continue numbering).
        const [existing] = await tx.query<{ deleted: boolean }>(
          'SELECT deleted_at IS NOT NULL AS deleted FROM experiments WHERE name = $1 FOR UPDATE',
          [input.name],
        );
        if (existing && !existing.deleted) {
          throw new ConflictError(`experiment "${input.name}" already exists`, 'experiment_exists');
        }
        const [row] = await tx.query<{ latest_version: number }>(
          `UPDATE experiments SET latest_version = latest_version + 1, deleted_at = NULL, deleted_by = NULL, updated_at = now()
           WHERE name = $1 RETURNING latest_version`,
          [input.name],
        );
        return insertVersion(tx, input.name, row!.latest_version, input);
      });
    },

    async update(name, input) {
      checkInput(name, input);
      return sql.transaction(async (tx) => {
        const [row] = await tx.query<{ latest_version: number }>(
          `UPDATE experiments SET latest_version = latest_version + 1, updated_at = now()
           WHERE name = $1 AND deleted_at IS NULL RETURNING latest_version`,
          [name],
        );
        if (!row) throw new NotFoundError('experiment', name);
        return insertVersion(tx, name, row.latest_version, input);
      });
    },

    async get(name) {
      const row = await latest(name);
      // Two askers of one name in a batch share its row: each gets a spec of its own.
      return row ? { ...toVersion(row), spec: structuredClone(row.spec) } : undefined;
    },

    async getVersion(name, version) {
      if (!Number.isSafeInteger(version)) return undefined;
      const [row] = await sql.query<VersionRow>(
        `SELECT ${VERSION_COLUMNS} FROM experiment_versions v WHERE v.experiment = $1 AND v.version = $2`,
        [name, version],
      );
      return row ? toVersion(row) : undefined;
    },

    async versions(name) {
      const rows = await sql.query<VersionRow>(
        `SELECT ${VERSION_COLUMNS} FROM experiment_versions v WHERE v.experiment = $1 ORDER BY v.version`,
        [name],
      );
      return rows.map(toVersion);
    },

    async list() {
      const rows = await sql.query<VersionRow>(
        `SELECT ${VERSION_COLUMNS} FROM experiments e
         JOIN experiment_versions v ON v.experiment = e.name AND v.version = e.latest_version
         WHERE e.deleted_at IS NULL ORDER BY e.name`,
      );
      return rows.map(toVersion);
    },

    async delete(name, actor) {
      requireText(actor, 'actor', 256);
      await sql.transaction(async (tx) => {
        // The row lock makes a concurrent runs.create (which takes FOR SHARE) wait, or wait for it.
        const [row] = await tx.query<{ name: string }>(
          'SELECT name FROM experiments WHERE name = $1 AND deleted_at IS NULL FOR UPDATE',
          [name],
        );
        if (!row) throw new NotFoundError('experiment', name);
        const [active] = await tx.query<{ id: string }>(
          'SELECT id FROM runs WHERE experiment = $1 AND state = ANY($2::text[]) LIMIT 1',
          [name, ACTIVE_STATES],
        );
        if (active) {
          throw new ConflictError(`experiment "${name}" has an active run (${active.id}); abort it first`, 'experiment_has_active_run');
        }
        await tx.query('UPDATE experiments SET deleted_at = now(), deleted_by = $2, updated_at = now() WHERE name = $1', [name, actor]);
      });
    },
  };
}

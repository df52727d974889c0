/**
 * A run's collected data: its steady-state samples (one row per point, keyed
 * by time, so a retried append changes nothing) and, through
 * guardrail-evaluations.ts, its guardrail evaluations.
 *
 * `appendRunData` writes many runs' samples and evaluations in one
 * transaction with a handful of statements. The service buffers what its runs
 * collect and writes it that way about once a second (service/run-writer.ts):
 * 120 runs at a 1 s interval made ~3,000 statements a second through one
 * append per series per look, which saturated PGlite in the service's own
 * event loop and starved its guardrail queries (issue #13's no-data halts).
 */
import type { CollectedSeries, GuardrailObservation } from '../engine/types.ts';
import { ValidationError } from '../lib/errors.ts';
import type { Sample } from '../metric-sources/types.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import { createGuardrailEvaluationRepository, insertEvaluations, type GuardrailEvaluationRepository } from './guardrail-evaluations.ts';
import { requireText } from './rows.ts';
import { databaseError, SQLSTATE, type Sql } from './sql.ts';

/** Bound on one `appendSamples` call (a few hours of 1 s points); the engine appends per query. */
export const MAX_SAMPLES_PER_APPEND = 10_000;
/** Bound on one `appendRunData` call, samples and evaluations together. */
export const MAX_ROWS_PER_BATCH = 100_000;

/** What one run collected since its last write. */
export interface RunDataItem {
  runId: string;
  samples: readonly CollectedSeries[];
  evaluations: readonly GuardrailObservation[];
}

export interface RunDataRepository extends GuardrailEvaluationRepository {
  /**
   * Append points of one (metric, group) series; at most MAX_SAMPLES_PER_APPEND
   * per call, `t` integer ms, `v` finite (ValidationError otherwise). A point
   * whose `t` is already stored is skipped (so a retried append is harmless),
   * and the count of points actually added is returned. The series' query is
   * fixed by its first append: a different one is a ConflictError.
   */
  appendSamples(id: string, chunk: CollectedSeries): Promise<number>;
  /** Every series of the run, each merged across appends and ordered by t; in order of first append. */
  series(id: string): Promise<CollectedSeries[]>;
  /**
   * Many runs' samples and guardrail evaluations in one transaction, with the
   * rules of `appendSamples` and `appendGuardrailEvaluations`. All or nothing:
   * NotFoundError for an unknown run, ConflictError for a series collected
   * with a different query, ValidationError for a bad point or a batch over
   * MAX_ROWS_PER_BATCH rows. Returns the rows actually added.
   */
  appendRunData(items: readonly RunDataItem[]): Promise<{ samples: number; evaluations: number }>;
}

function checkSamples(chunk: CollectedSeries): Sample[] {
  requireText(chunk.metric, 'metric', 256);
  requireText(chunk.group, 'group', 64);
  if (typeof chunk.query !== 'string') throw new ValidationError([{ path: 'query', message: 'must be a string' }]);
  if (!Array.isArray(chunk.samples)) throw new ValidationError([{ path: 'samples', message: 'must be an array' }]);
  if (chunk.samples.length > MAX_SAMPLES_PER_APPEND) {
    throw new ValidationError([{ path: 'samples', message: `at most ${MAX_SAMPLES_PER_APPEND} samples per append, got ${chunk.samples.length}` }]);
  }
  chunk.samples.forEach((s, i) => {
    if (!Number.isSafeInteger(s.t)) throw new ValidationError([{ path: `samples.${i}.t`, message: 'must be an integer (Unix ms)' }]);
    if (typeof s.v !== 'number' || !Number.isFinite(s.v)) throw new ValidationError([{ path: `samples.${i}.v`, message: 'must be a finite number' }]);
  });
  return chunk.samples;
}

/**
 * Create the series of `chunks` that do not exist yet and insert their points.
 * ConflictError if a series exists with another query (nothing is inserted).
 */
async function insertSamples(tx: Sql, chunks: readonly { runId: string; chunk: CollectedSeries }[]): Promise<number> {
  const series = new Map<string, { run_id: string; metric: string; grp: string; query: string }>();
  const points: { run_id: string; metric: string; grp: string; t: number; v: number }[] = [];
  const seen = new Set<string>();
  for (const { runId, chunk } of chunks) {
    const key = JSON.stringify([runId, chunk.metric, chunk.group]);
    const known = series.get(key);
    if (known && known.query !== chunk.query) {
      throw new ConflictError(`series ${chunk.metric}/${chunk.group} of run ${runId} was collected with a different query`, 'series_query_changed');
    }
    series.set(key, { run_id: runId, metric: chunk.metric, grp: chunk.group, query: chunk.query });
    // The first of two points at one time wins, as it would across two appends.
    for (const s of chunk.samples) {
      const at = `${key}@${s.t}`;
      if (seen.has(at)) continue;
      seen.add(at);
      points.push({ run_id: runId, metric: chunk.metric, grp: chunk.group, t: s.t, v: s.v });
    }
  }
  if (series.size === 0) return 0;
  const seriesParam = JSON.stringify([...series.values()]);
  await tx.query(
    `INSERT INTO run_series (run_id, metric, grp, query)
     SELECT r.run_id, r.metric, r.grp, r.query FROM jsonb_to_recordset($1::jsonb) AS r(run_id text, metric text, grp text, query text)
     ON CONFLICT (run_id, metric, grp) DO NOTHING`,
    [seriesParam],
  );
  const [changed] = await tx.query<{ run_id: string; metric: string; grp: string }>(
    `SELECT s.run_id, s.metric, s.grp FROM run_series s
     JOIN jsonb_to_recordset($1::jsonb) AS r(run_id text, metric text, grp text, query text)
       ON s.run_id = r.run_id AND s.metric = r.metric AND s.grp = r.grp
     WHERE s.query <> r.query LIMIT 1`,
    [seriesParam],
  );
  if (changed) {
    throw new ConflictError(`series ${changed.metric}/${changed.grp} of run ${changed.run_id} was collected with a different query`, 'series_query_changed');
  }
  if (points.length === 0) return 0;
  // One parameter for the whole batch; jsonb numbers convert to float8 exactly (shortest round-trip text).
  const [inserted] = await tx.query<{ n: number }>(
    `WITH added AS (
       INSERT INTO run_samples (series_id, t, v)
       SELECT s.id, p.t, p.v
       FROM jsonb_to_recordset($1::jsonb) AS p(run_id text, metric text, grp text, t bigint, v double precision)
       JOIN run_series s ON s.run_id = p.run_id AND s.metric = p.metric AND s.grp = p.grp
       ON CONFLICT (series_id, t) DO NOTHING
       RETURNING 1)
     SELECT count(*) AS n FROM added`,
    [JSON.stringify(points)],
  );
  return inserted!.n;
}

/** A foreign-key violation means a run that does not exist. */
function unknownRun(err: unknown, id: string): never {
  if (databaseError(err).code === SQLSTATE.foreignKeyViolation) throw new NotFoundError('run', id);
  throw err;
}

export function createRunDataRepository(sql: Sql): RunDataRepository {
  const evaluations = createGuardrailEvaluationRepository(sql);
  return {
    ...evaluations,

    async appendSamples(id, chunk) {
      checkSamples(chunk);
      try {
        return await sql.transaction((tx) => insertSamples(tx, [{ runId: id, chunk }]));
      } catch (err) {
        return unknownRun(err, id);
      }
    },

    async series(id) {
      const rows = await sql.query<{ metric: string; grp: CollectedSeries['group']; query: string; t: number | null; v: number | null }>(
        `SELECT s.metric, s.grp, s.query, p.t, p.v
         FROM run_series s LEFT JOIN run_samples p ON p.series_id = s.id
         WHERE s.run_id = $1 ORDER BY s.id, p.t`,
        [id],
      );
      const out: CollectedSeries[] = [];
      let current: CollectedSeries | undefined;
      for (const row of rows) {
        if (!current || current.metric !== row.metric || current.group !== row.grp) {
          current = { metric: row.metric, group: row.grp, query: row.query, samples: [] };
          out.push(current);
        }
        if (row.t !== null && row.v !== null) current.samples.push({ t: row.t, v: row.v });
      }
      return out;
    },

    async appendRunData(items) {
      let rows = 0;
      for (const item of items) {
        requireText(item.runId, 'runId', 256);
        for (const chunk of item.samples) rows += checkSamples(chunk).length;
        rows += item.evaluations.length;
      }
      if (rows > MAX_ROWS_PER_BATCH) throw new ValidationError([{ path: 'items', message: `at most ${MAX_ROWS_PER_BATCH} rows per batch, got ${rows}` }]);
      const chunks = items.flatMap((item) => item.samples.map((chunk) => ({ runId: item.runId, chunk })));
      try {
        return await sql.transaction(async (tx) => ({
          samples: await insertSamples(tx, chunks),
          evaluations: await insertEvaluations(tx, items.map((item) => ({ runId: item.runId, observations: item.evaluations })), evaluations.thinning),
        }));
      } catch (err) {
        if (databaseError(err).code !== SQLSTATE.foreignKeyViolation) throw err;
        const ids = [...new Set(items.map((i) => i.runId))];
        const known = new Set((await sql.query<{ id: string }>('SELECT id FROM runs WHERE id = ANY($1::text[])', [ids])).map((r) => r.id));
        throw new NotFoundError('run', ids.find((id) => !known.has(id)) ?? ids.join(', '));
      }
    },
  };
}

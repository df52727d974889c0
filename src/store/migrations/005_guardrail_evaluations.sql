-- 005: every guardrail evaluation of a run (issue #15), so a served report charts each
-- guardrail as the CLI's does. One row per (run, guardrail, time); `value` is NULL when the
-- evaluation found no data. Bounded per guardrail by the repository (run-store.ts): past
-- the cap it thins the rows that are neither breaches nor the first or last, so this table
-- is the one run table whose rows may be deleted (no immutability trigger), by that
-- thinning only.
CREATE TABLE run_guardrail_evaluations (
  run_id text NOT NULL REFERENCES runs (id),
  guardrail text NOT NULL CHECK (char_length(guardrail) BETWEEN 1 AND 256),
  t bigint NOT NULL,
  value double precision,
  breached boolean NOT NULL,
  PRIMARY KEY (run_id, guardrail, t)
);

-- 001: experiments (versioned), runs with their events and samples, API tokens, settings.
--
-- The database itself keeps the promises the rest of the code relies on:
-- * at most one active run per target (a partial unique index over the active states);
-- * experiment versions, run events and samples are immutable (triggers refuse UPDATE/DELETE);
-- * a run in a terminal state keeps its state, verdict and end time (trigger).
-- The state lists below must match ACTIVE_STATES / TERMINAL_STATES in src/engine/types.ts;
-- the store suite checks every state against both.

CREATE FUNCTION steadystate_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are immutable (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'SS001';
END
$$;

-- Experiments ---------------------------------------------------------------

-- One row per name; `latest_version` is bumped under a row lock, so versions are gap-free.
-- A soft-deleted experiment keeps its row and versions (old runs point at them); creating the
-- name again undeletes it and continues the numbering.
CREATE TABLE experiments (
  name text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 128),
  latest_version integer NOT NULL CHECK (latest_version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  deleted_by text
);

CREATE TABLE experiment_versions (
  experiment text NOT NULL REFERENCES experiments (name),
  version integer NOT NULL CHECK (version >= 1),
  spec jsonb NOT NULL,
  source text NOT NULL,
  format text NOT NULL CHECK (format IN ('yaml', 'json')),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  PRIMARY KEY (experiment, version)
);

CREATE TRIGGER experiment_versions_immutable BEFORE UPDATE OR DELETE ON experiment_versions
  FOR EACH ROW EXECUTE FUNCTION steadystate_refuse_change();

-- Runs ----------------------------------------------------------------------

CREATE TABLE runs (
  -- Insertion order: "newest first" and the `before` cursor, stable even when clocks tie.
  seq bigserial UNIQUE NOT NULL,
  id text PRIMARY KEY CHECK (char_length(id) BETWEEN 1 AND 128),
  experiment text NOT NULL,
  version integer NOT NULL,
  target text NOT NULL CHECK (char_length(target) BETWEEN 1 AND 512),
  created_by text NOT NULL,
  idempotency_key text CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
  state text NOT NULL DEFAULT 'pending' CHECK (state IN (
    'pending', 'preflight', 'baseline', 'injecting', 'recovering', 'analyzing',
    'passed', 'failed', 'inconclusive', 'halted', 'aborted', 'errored')),
  verdict text CHECK (verdict IN ('pass', 'fail', 'inconclusive')),
  reason text NOT NULL DEFAULT '',
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- The fault window including the injector handle: what a restart needs to close the fault.
  fault_window jsonb,
  halt jsonb,
  metrics jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- Lease, for several replicas: who drives this run, and when it last said so.
  owner text,
  heartbeat_at timestamptz,
  FOREIGN KEY (experiment, version) REFERENCES experiment_versions (experiment, version)
);

CREATE UNIQUE INDEX runs_one_active_per_target ON runs (target)
  WHERE state IN ('pending', 'preflight', 'baseline', 'injecting', 'recovering', 'analyzing');
CREATE UNIQUE INDEX runs_idempotency_key ON runs (experiment, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_by_experiment ON runs (experiment, seq DESC);
CREATE INDEX runs_by_state ON runs (state, seq DESC);

CREATE FUNCTION steadystate_run_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.state IN ('passed', 'failed', 'inconclusive', 'halted', 'aborted', 'errored')
     AND (NEW.state IS DISTINCT FROM OLD.state
          OR NEW.verdict IS DISTINCT FROM OLD.verdict
          OR NEW.ended_at IS DISTINCT FROM OLD.ended_at) THEN
    RAISE EXCEPTION 'run % is %: its state, verdict and end are final', OLD.id, OLD.state USING ERRCODE = 'SS002';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER runs_terminal_is_final BEFORE UPDATE ON runs
  FOR EACH ROW EXECUTE FUNCTION steadystate_run_final();

CREATE TABLE run_events (
  seq bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES runs (id),
  at timestamptz NOT NULL,
  type text NOT NULL,
  message text NOT NULL,
  data jsonb
);
CREATE INDEX run_events_by_run ON run_events (run_id, seq);

CREATE TRIGGER run_events_immutable BEFORE UPDATE OR DELETE ON run_events
  FOR EACH ROW EXECUTE FUNCTION steadystate_refuse_change();

-- One row per (run, metric, group); its samples are one row each, keyed by time, so a
-- retried append of the same points changes nothing.
CREATE TABLE run_series (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES runs (id),
  metric text NOT NULL,
  grp text NOT NULL,
  query text NOT NULL,
  UNIQUE (run_id, metric, grp)
);

CREATE TABLE run_samples (
  series_id bigint NOT NULL REFERENCES run_series (id),
  t bigint NOT NULL,
  v double precision NOT NULL,
  PRIMARY KEY (series_id, t)
);

CREATE TRIGGER run_series_immutable BEFORE UPDATE OR DELETE ON run_series
  FOR EACH ROW EXECUTE FUNCTION steadystate_refuse_change();
CREATE TRIGGER run_samples_immutable BEFORE UPDATE OR DELETE ON run_samples
  FOR EACH ROW EXECUTE FUNCTION steadystate_refuse_change();

-- Tokens --------------------------------------------------------------------

-- Only the SHA-256 of a token is stored; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
  id text PRIMARY KEY,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
  role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

-- Settings ------------------------------------------------------------------

CREATE TABLE settings (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL
);

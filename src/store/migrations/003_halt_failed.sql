-- A run whose fault window could not be closed ends `halt_failed`: terminal
-- (never `passed`), final like the others, and loud everywhere.
ALTER TABLE runs DROP CONSTRAINT runs_state_check;
ALTER TABLE runs ADD CONSTRAINT runs_state_check CHECK (state IN (
  'pending', 'preflight', 'baseline', 'injecting', 'recovering', 'analyzing',
  'passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored'));

CREATE OR REPLACE FUNCTION steadystate_run_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.state IN ('passed', 'failed', 'inconclusive', 'halted', 'halt_failed', 'aborted', 'errored')
     AND (NEW.state IS DISTINCT FROM OLD.state
          OR NEW.verdict IS DISTINCT FROM OLD.verdict
          OR NEW.ended_at IS DISTINCT FROM OLD.ended_at) THEN
    RAISE EXCEPTION 'run % is %: its state, verdict and end are final', OLD.id, OLD.state USING ERRCODE = 'SS002';
  END IF;
  RETURN NEW;
END
$$;

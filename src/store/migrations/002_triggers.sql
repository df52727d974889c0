-- 002: deploy-webhook deliveries and scheduler ticks (issue 9). The repository is
-- src/triggers/trigger-store.ts.

-- One row per accepted deploy delivery that started (or found) runs. A redelivery (same
-- provider, delivery id and body) is answered with the runs recorded here; the same body
-- under another delivery id within the provider's freshness window, or another body under
-- a known delivery id, is a replay (409). Rows are pruned after 7 days, far longer than the
-- freshness windows (1 h; 5 min for the generic webhook), which refuse anything older.
-- Refused deliveries never get here: a failed check writes nothing at all.
CREATE TABLE webhook_deliveries (
  provider text NOT NULL CHECK (char_length(provider) BETWEEN 1 AND 32),
  delivery_id text NOT NULL CHECK (char_length(delivery_id) BETWEEN 1 AND 200),
  content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
  service text NOT NULL,
  environment text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  -- { runs: [{ id, experiment }], skipped: [{ experiment, error, message }] }
  result jsonb NOT NULL,
  PRIMARY KEY (provider, delivery_id)
);
-- Not unique: the same body may come again as a new deploy once its freshness window is over.
CREATE INDEX webhook_deliveries_content ON webhook_deliveries (provider, content_sha256, received_at);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_at);

-- The lease and the record of every scheduled tick that was decided. The primary key
-- (experiment, slot) is the lease: when several replicas handle one tick, the one whose
-- INSERT lands decides (start or skip, with the reason) and the others do nothing, so a
-- tick fires at most once whatever the number of replicas or their clock skew.
CREATE TABLE schedule_ticks (
  experiment text NOT NULL REFERENCES experiments (name),
  slot timestamptz NOT NULL,
  replica text NOT NULL,
  decided_at timestamptz NOT NULL DEFAULT now(),
  outcome text NOT NULL CHECK (outcome IN ('starting', 'started', 'skipped', 'failed')),
  reason text NOT NULL DEFAULT '',
  run_id text REFERENCES runs (id),
  PRIMARY KEY (experiment, slot)
);
CREATE INDEX schedule_ticks_by_time ON schedule_ticks (decided_at);

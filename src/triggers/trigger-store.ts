/**
 * What the triggers keep in the store (migration 002_triggers.sql): deploy
 * deliveries, for redelivery and replay detection, and scheduler ticks, which
 * are both the lease that lets exactly one replica act on a tick and the
 * record of what it decided (started, or skipped and why).
 *
 * Over the same SQL port as the store's own repositories, so it runs on
 * PostgreSQL and PGlite alike.
 */
import { iso, jsonParam, requireText } from '../store/rows.ts';
import { isUniqueViolation, type Sql } from '../store/sql.ts';

export interface DeliveryResult {
  runs: { id: string; experiment: string }[];
  skipped: { experiment: string; error: string; message: string }[];
}

export interface DeliveryRecord {
  provider: string;
  deliveryId: string;
  /** SHA-256 of the raw body. */
  contentSha256: string;
  service: string;
  environment: string;
  receivedAt: string;
  result: DeliveryResult;
}

export type TickOutcome = 'starting' | 'started' | 'skipped' | 'failed';

export interface TickRecord {
  experiment: string;
  /** The cron slot (ISO), not when it was handled. */
  slot: string;
  /** Which replica decided. */
  replica: string;
  decidedAt: string;
  outcome: TickOutcome;
  reason: string;
  runId: string | null;
}

export interface TriggerRepository {
  /** Deliveries of `provider` with this id, or with this content received since `contentSince`. */
  findDeliveries(provider: string, deliveryId: string, contentSha256: string, contentSince: Date): Promise<DeliveryRecord[]>;
  /**
   * Record an accepted delivery, received at `receivedAt` by the caller's clock (the same clock
   * that computes `contentSince`); false when its delivery id is already recorded (nothing written).
   */
  recordDelivery(record: Omit<DeliveryRecord, 'receivedAt'> & { receivedAt: Date }): Promise<boolean>;
  /** Delete deliveries received more than `olderThanMs` ago; returns how many. */
  pruneDeliveries(olderThanMs: number): Promise<number>;
  /**
   * Take the lease on (experiment, slot) by recording the decision: `starting`
   * (the caller now starts the run, then calls finishTick) or `skipped` with
   * the reason. False when another replica already decided this tick.
   */
  claimTick(tick: { experiment: string; slot: Date; replica: string; outcome: 'starting' | 'skipped'; reason: string }): Promise<boolean>;
  /** The outcome of a `starting` tick this replica claimed. */
  finishTick(experiment: string, slot: Date, replica: string, outcome: { outcome: 'started' | 'skipped' | 'failed'; reason: string; runId?: string }): Promise<void>;
  /** Newest slots first; default 50, at most 500. */
  ticks(query?: { experiment?: string; limit?: number }): Promise<TickRecord[]>;
  pruneTicks(olderThanMs: number): Promise<number>;
}

interface DeliveryRow {
  provider: string;
  delivery_id: string;
  content_sha256: string;
  service: string;
  environment: string;
  received_at: Date;
  result: DeliveryResult;
}

interface TickRow {
  experiment: string;
  slot: Date;
  replica: string;
  decided_at: Date;
  outcome: TickOutcome;
  reason: string;
  run_id: string | null;
}

const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  provider: r.provider,
  deliveryId: r.delivery_id,
  contentSha256: r.content_sha256,
  service: r.service,
  environment: r.environment,
  receivedAt: iso(r.received_at),
  result: r.result,
});

const toTick = (r: TickRow): TickRecord => ({
  experiment: r.experiment,
  slot: iso(r.slot),
  replica: r.replica,
  decidedAt: iso(r.decided_at),
  outcome: r.outcome,
  reason: r.reason,
  runId: r.run_id,
});

/** Reasons are for people; bound them so a pathological error message cannot bloat the table. */
const clip = (text: string): string => (text.length > 2000 ? `${text.slice(0, 1999)}…` : text);

export function createTriggerRepository(sql: Sql): TriggerRepository {
  return {
    async findDeliveries(provider, deliveryId, contentSha256, contentSince) {
      const rows = await sql.query<DeliveryRow>(
        `SELECT provider, delivery_id, content_sha256, service, environment, received_at, result
         FROM webhook_deliveries
         WHERE provider = $1 AND (delivery_id = $2 OR (content_sha256 = $3 AND received_at >= $4::timestamptz))
         ORDER BY received_at`,
        [provider, deliveryId, contentSha256, contentSince.toISOString()],
      );
      return rows.map(toDelivery);
    },

    async recordDelivery(record) {
      requireText(record.provider, 'provider', 32);
      requireText(record.deliveryId, 'deliveryId', 200);
      // A concurrent twin with the same delivery id loses quietly.
      const rows = await sql.query<{ delivery_id: string }>(
        `INSERT INTO webhook_deliveries (provider, delivery_id, content_sha256, service, environment, result, received_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::timestamptz) ON CONFLICT DO NOTHING RETURNING delivery_id`,
        [
          record.provider,
          record.deliveryId,
          record.contentSha256,
          record.service.slice(0, 256),
          record.environment.slice(0, 256),
          jsonParam(record.result, 'result'),
          record.receivedAt.toISOString(),
        ],
      );
      return rows.length > 0;
    },

    async pruneDeliveries(olderThanMs) {
      const rows = await sql.query<{ n: number }>(
        `WITH gone AS (DELETE FROM webhook_deliveries WHERE received_at < now() - $1::double precision * interval '1 millisecond' RETURNING 1)
         SELECT count(*) AS n FROM gone`,
        [olderThanMs],
      );
      return rows[0]?.n ?? 0;
    },

    async claimTick(tick) {
      requireText(tick.replica, 'replica', 256);
      try {
        const rows = await sql.query<{ experiment: string }>(
          `INSERT INTO schedule_ticks (experiment, slot, replica, outcome, reason)
           VALUES ($1, $2::timestamptz, $3, $4, $5) ON CONFLICT (experiment, slot) DO NOTHING RETURNING experiment`,
          [tick.experiment, tick.slot.toISOString(), tick.replica, tick.outcome, clip(tick.reason)],
        );
        return rows.length > 0;
      } catch (err) {
        // Unreachable with ON CONFLICT on the key, but a lost race is never an error.
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    async finishTick(experiment, slot, replica, outcome) {
      await sql.query(
        `UPDATE schedule_ticks SET outcome = $4, reason = $5, run_id = $6, decided_at = now()
         WHERE experiment = $1 AND slot = $2::timestamptz AND replica = $3 AND outcome = 'starting'`,
        [experiment, slot.toISOString(), replica, outcome.outcome, clip(outcome.reason), outcome.runId ?? null],
      );
    },

    async ticks(query = {}) {
      const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50), 1), 500);
      const rows = await sql.query<TickRow>(
        `SELECT experiment, slot, replica, decided_at, outcome, reason, run_id FROM schedule_ticks
         WHERE ($1::text IS NULL OR experiment = $1) ORDER BY slot DESC, experiment LIMIT $2`,
        [query.experiment ?? null, limit],
      );
      return rows.map(toTick);
    },

    async pruneTicks(olderThanMs) {
      const rows = await sql.query<{ n: number }>(
        `WITH gone AS (DELETE FROM schedule_ticks WHERE slot < now() - $1::double precision * interval '1 millisecond' RETURNING 1)
         SELECT count(*) AS n FROM gone`,
        [olderThanMs],
      );
      return rows[0]?.n ?? 0;
    },
  };
}

/**
 * The store: what the service keeps across restarts. Repositories over the SQL
 * port (sql.ts), the same on PostgreSQL and PGlite. Timestamps are ISO-8601
 * strings (UTC, millisecond precision) at this boundary; rows are camelCase.
 *
 * Errors: NotFoundError (404), ConflictError (409), LockedError (409, names the
 * holder run) from ./errors.ts; ValidationError (400) for input the database
 * would refuse anyway (oversized batches, non-finite numbers).
 */
import type { FaultWindow, HaltInfo, RunEvent, RunState } from '../engine/types.ts';
import type { JsonObject } from '../lib/json.ts';
import type { Experiment } from '../spec/schema.ts';
import type { MetricVerdict, Verdict } from '../stats/verdict.ts';
import type { SessionRepository } from '../http/session-store.ts';
import type { RunDataRepository } from './run-data.ts';
import type { TriggerRepository } from '../triggers/trigger-store.ts';
import type { SqlKind } from './sql.ts';

export type SpecFormat = 'yaml' | 'json';
export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export { MAX_SAMPLES_PER_APPEND } from './run-data.ts';

// ─── experiments ────────────────────────────────────────────────────────────

export interface ExperimentInput {
  /** Must equal `spec.metadata.name`. */
  name: string;
  /** The parsed spec (JSON-safe: it is stored as jsonb). */
  spec: Experiment;
  /** The text exactly as submitted, so a user gets back what they wrote. */
  source: string;
  format: SpecFormat;
  /** Who submitted it (token name). */
  actor: string;
}

/** One immutable version of an experiment. */
export interface ExperimentVersion {
  name: string;
  version: number;
  spec: Experiment;
  source: string;
  format: SpecFormat;
  createdAt: string;
  createdBy: string;
}

export interface ExperimentRepository {
  /**
   * Version 1 of a new experiment. ConflictError (`experiment_exists`) if the
   * name is taken. A soft-deleted name can be created again: it is undeleted
   * and numbering continues (deleted v3 → new v4), so (name, version) always
   * means one spec and old runs keep theirs.
   */
  create(input: ExperimentInput): Promise<ExperimentVersion>;
  /** The next version. NotFoundError if absent or deleted. */
  update(name: string, input: Omit<ExperimentInput, 'name'>): Promise<ExperimentVersion>;
  /** Latest version, or undefined if absent or deleted. */
  get(name: string): Promise<ExperimentVersion | undefined>;
  /** One version, deleted experiments included (runs refer to them). */
  getVersion(name: string, version: number): Promise<ExperimentVersion | undefined>;
  /** Every version, oldest first (deleted experiments included); empty if the name was never used. */
  versions(name: string): Promise<ExperimentVersion[]>;
  /** Latest version of every live experiment, by name. */
  list(): Promise<ExperimentVersion[]>;
  /**
   * Soft delete: hidden from get/list, versions kept. NotFoundError if absent or
   * already deleted; ConflictError (`experiment_has_active_run`) while a run of
   * it is active — checked under a row lock, so no run can start in between.
   */
  delete(name: string, actor: string): Promise<void>;
}

// ─── runs ───────────────────────────────────────────────────────────────────

export interface NewRun {
  /** Chosen by the caller (the engine's run id). */
  id: string;
  experiment: string;
  version: number;
  /** What the run's fault hits; at most one active run per target. */
  target: string;
  actor: string;
  /** Unique per experiment: a repeat returns the run it created. */
  idempotencyKey?: string;
  /** Lease the new run to this replica at once (no separate claim round trip). */
  owner?: string;
  /**
   * Refuse (CapacityError) when this many runs are already active. Checked and
   * inserted under one lock, so concurrent creates cannot overshoot it.
   */
  maxActive?: number;
}

export interface StoredRun {
  id: string;
  experiment: string;
  version: number;
  target: string;
  /** Who started it. */
  actor: string;
  idempotencyKey: string | null;
  state: RunState;
  verdict: Verdict | null;
  reason: string;
  /** When the run was created (requested). */
  startedAt: string;
  endedAt: string | null;
  updatedAt: string;
  /** The fault window, including the injector handle once the injector returned it. */
  window: FaultWindow | null;
  halt: HaltInfo | null;
  metrics: MetricVerdict[];
  /** Lease: the replica driving the run, and when it last said so. */
  owner: string | null;
  heartbeatAt: string | null;
}

/**
 * What the run engine may change. Absent keys are left alone; `null` clears.
 * Once a run is terminal its `state`, `verdict` and `endedAt` are final
 * (ConflictError `run_final`, also enforced by a trigger); `reason`, `window`,
 * `halt` and `metrics` may still be completed (e.g. the window's `closedAt`
 * after an abort). Moving to a terminal state without `endedAt` sets it to now.
 */
export interface RunPatch {
  state?: RunState;
  verdict?: Verdict | null;
  reason?: string;
  /** When the engine started driving the run (set once, with its first event). */
  startedAt?: string;
  endedAt?: string | null;
  window?: FaultWindow | null;
  halt?: HaltInfo | null;
  metrics?: MetricVerdict[];
}

export interface RunListQuery {
  experiment?: string;
  state?: RunState | readonly RunState[];
  /** Default 50, at most 500. */
  limit?: number;
  /** Cursor: only runs created before this run id (NotFoundError if unknown). */
  before?: string;
}

/** An event as stored: `seq` orders a run's timeline (and lets a watcher ask for what is new). */
export interface StoredRunEvent extends RunEvent {
  seq: number;
}

/** An event to append; `at` defaults to the database's now(). */
export interface NewRunEvent {
  at?: string;
  type: string;
  message: string;
  data?: JsonObject;
}

export interface RunRepository extends RunDataRepository {
  /**
   * A new run in state `pending`: `{ run, created: true }`. With an
   * idempotency key already used for this experiment: `{ run: thatRun, created:
   * false }`, whatever the other fields say. LockedError when the target has an
   * active run; NotFoundError when the experiment is deleted or the version
   * does not exist; ConflictError (`run_exists`) for a duplicate id.
   */
  create(input: NewRun): Promise<{ run: StoredRun; created: boolean }>;
  get(id: string): Promise<StoredRun | undefined>;
  /** The run an idempotency key created for this experiment, at any age (an indexed look-up). */
  findByIdempotencyKey(experiment: string, key: string): Promise<StoredRun | undefined>;
  /** Newest first. */
  list(query?: RunListQuery): Promise<StoredRun[]>;
  /** Runs in an active state, oldest first (what a restart must reconcile). */
  listActive(): Promise<StoredRun[]>;
  countActive(): Promise<number>;
  /** Only the run engine calls this. NotFoundError, ConflictError (`run_final`). */
  update(id: string, patch: RunPatch): Promise<StoredRun>;
  /** NotFoundError for an unknown run. */
  appendEvent(id: string, event: NewRunEvent): Promise<StoredRunEvent>;
  /** The timeline in append order; `after` a seq for only the newer events. Empty for an unknown run. */
  events(id: string, opts?: { after?: number }): Promise<StoredRunEvent[]>;
  /**
   * Lease an active run to `owner` if nobody holds it, `owner` already does, or
   * the holder's heartbeat is older than `staleAfterMs` (default 30 s).
   * Returns the run when claimed, undefined otherwise.
   */
  claim(id: string, owner: string, staleAfterMs?: number): Promise<StoredRun | undefined>;
  /** Renew the lease; false when `owner` no longer holds it. */
  heartbeat(id: string, owner: string): Promise<boolean>;
}

// ─── tokens ─────────────────────────────────────────────────────────────────

export interface TokenInfo {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  revokedAt: string | null;
}

/** Who a valid token belongs to. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
}

export interface TokenRepository {
  /** A new random token (`sst_` + 32 random bytes, base64url). Only its SHA-256 is stored: show `token` once. */
  create(input: { name: string; role: Role }): Promise<TokenInfo & { token: string }>;
  /** The token's owner, or undefined for an unknown or revoked token. */
  verify(token: string): Promise<Principal | undefined>;
  /** Every token, revoked ones included, oldest first. Never hashes. */
  list(): Promise<TokenInfo[]>;
  /** Idempotent (keeps the first revocation time). NotFoundError for an unknown id. */
  revoke(id: string): Promise<TokenInfo>;
  /**
   * Make sure `token` (STEADYSTATE_ADMIN_TOKEN, at least 32 characters) exists.
   * If it is already stored it is left as it is — name, role and a revocation
   * included: revoking a bootstrap token sticks across restarts.
   */
  ensureBootstrap(token: string, name: string, role: Role): Promise<TokenInfo & { created: boolean }>;
}

// ─── settings ───────────────────────────────────────────────────────────────

/** `since`/`actor`: when and by whom halt-all was last set or cleared; absent if it never was. */
export interface HaltAllState {
  active: boolean;
  since?: string;
  actor?: string;
  /** Why it was set (or cleared), as the actor said; absent when none was given. */
  reason?: string;
}

export interface SettingsRepository {
  haltAll(): Promise<HaltAllState>;
  /** Idempotent: setting it again keeps the original `since`, `actor` and `reason`. */
  setHaltAll(actor: string, reason?: string): Promise<HaltAllState>;
  /** Idempotent likewise. */
  clearHaltAll(actor: string): Promise<HaltAllState>;
}

// ─── the store ──────────────────────────────────────────────────────────────

export interface Store {
  readonly kind: SqlKind;
  readonly experiments: ExperimentRepository;
  readonly runs: RunRepository;
  readonly tokens: TokenRepository;
  readonly settings: SettingsRepository;
  readonly triggers: TriggerRepository;
  /** Browser sessions opened by POST /login. */
  readonly sessions: SessionRepository;
  /** Cheap round trip for `/readyz`; throws when the database is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

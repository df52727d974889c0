/**
 * Errors the store raises on purpose. Each maps to one HTTP status, so the API
 * layer can answer with `err.httpStatus` and `err.toJSON()` unchanged.
 */
import { AppError } from '../lib/errors.ts';

/** The experiment, version, run or token does not exist (or the experiment is deleted). */
export class NotFoundError extends AppError {
  readonly entity: string;
  readonly key: string;
  constructor(entity: string, key: string) {
    super(`${entity} "${key}" not found`, { code: 'not_found', httpStatus: 404 });
    this.entity = entity;
    this.key = key;
  }
}

/** The write contradicts what is stored: a name taken, a final state changed, a delete while a run is active. */
export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict') {
    super(message, { code, httpStatus: 409 });
  }
}

/**
 * The run's target already has an active run: at most one per target, enforced
 * by a unique index. Retryable, since the holder will finish.
 */
export class LockedError extends AppError {
  readonly target: string;
  /** Id of the active run that holds the target. */
  readonly holder: string;
  constructor(target: string, holder: string) {
    super(`target "${target}" is locked by active run ${holder}`, { code: 'target_locked', httpStatus: 409, retryable: true });
    this.target = target;
    this.holder = holder;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), target: this.target, holder: this.holder };
  }
}

/** Another process (possibly in another container or on another host) has the embedded database's data directory. */
/** The service's cap on active runs is reached (checked in the same transaction as the insert). */
export class CapacityError extends AppError {
  constructor(readonly limit: number) {
    super(`the service already runs ${limit} experiments, its limit (STEADYSTATE_MAX_CONCURRENT_RUNS)`, {
      code: 'too_many_runs',
      httpStatus: 429,
      retryable: true,
    });
  }
}

export class DataDirInUseError extends AppError {
  /** Who holds it, as the lock file describes them. */
  readonly holder: string;
  constructor(dataDir: string, holder: string) {
    super(`data directory ${dataDir} is in use by ${holder}; PGlite allows one process per data directory (use PostgreSQL via DATABASE_URL to run several)`, {
      code: 'data_dir_in_use',
      httpStatus: 503,
    });
    this.holder = holder;
  }
}

/**
 * This process's data-directory lock is gone: its lease lapsed (a stalled
 * process) and another took the directory over. Nothing more may be read or
 * written through this handle; restart to queue behind the new holder.
 */
export class DataDirLockLostError extends AppError {
  constructor(dataDir: string, why: string) {
    super(`lost the lock on data directory ${dataDir}: ${why}; this process stops using the database`, {
      code: 'data_dir_lock_lost',
      httpStatus: 503,
    });
  }
}

/** The database holds migrations this build does not know, or a known one was edited. */
export class MigrationError extends AppError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'migration_error', httpStatus: 500, cause });
  }
}

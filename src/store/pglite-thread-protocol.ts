/**
 * Messages between the service's thread and the PGlite thread (ADR 027).
 * Every request carries an id; every request gets exactly one reply with it.
 */

export type ThreadRequest =
  | { id: number; op: 'query'; text: string; params?: unknown[]; tx?: number }
  | { id: number; op: 'exec'; script: string; tx?: number }
  /** Opens a transaction; the reply comes when it has begun, with its id (the request's). */
  | { id: number; op: 'begin' }
  /** Commits or rolls back transaction `tx`; the reply comes when it has ended. */
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'close' };

/** A database error's fields that the store reads (SQLSTATE `code`, `constraint`) and logs (the rest). */
export interface ThreadError {
  name: string;
  message: string;
  fields: Record<string, string | number>;
}

export type ThreadReply =
  | { id: number; ok: true; value?: unknown }
  | { id: number; ok: false; error: ThreadError }
  /** Sent once, when the database is open, with how it began (or could not be opened: `error`). */
  | { id: 0; ready: true; began?: StoreBeginning; error?: ThreadError };

/** A data directory's store began with initdb, from the saved template, or as it was on disk. */
export type StoreBeginning = 'initdb' | 'template' | 'existing';

export function toThreadError(err: unknown): ThreadError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  const fields: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(err)) if (typeof v === 'string' || typeof v === 'number') fields[k] = v;
  return { name: err.name, message: err.message, fields };
}

export function fromThreadError(e: ThreadError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  return Object.assign(err, e.fields);
}

/**
 * The fault windows a proxy knows: at most one open, plus a bounded memory of
 * closed ones so that `GET` and `DELETE` on a window that already ended still
 * answer (the injector's close must be idempotent).
 *
 * The deadline is enforced twice: a timer closes the window at its deadline,
 * and `active()` — called on every request — re-checks `now < deadline` and
 * closes a late window itself. A timer can fire late (a blocked event loop, a
 * suspended VM); a request must never get a fault after the deadline because
 * of it.
 */
import { EventEmitter } from 'node:events';
import { AppError, ValidationError } from '../lib/errors.ts';
import {
  type ClosedReason,
  DEFAULT_ERROR_STATUS,
  type FaultFields,
  globToRegExp,
  MAX_WINDOW_MS,
  type OpenWindowRequest,
  type WindowView,
} from './window-schema.ts';

/** A window is already open, or the id was used before. */
export class WindowConflictError extends AppError {
  constructor(message: string) {
    super(message, { code: 'window_conflict', httpStatus: 409 });
  }
}

export class WindowNotFoundError extends AppError {
  constructor(id: string) {
    super(`no fault window with id ${JSON.stringify(id)}`, { code: 'window_not_found', httpStatus: 404 });
  }
}

/** An open window as the request path sees it. */
export interface ActiveWindow {
  readonly id: string;
  readonly deadlineMs: number;
  readonly fault: Readonly<FaultFields> & { errorStatus: number };
  /** Whether the fault applies to this method and path (path without the query). */
  matches(method: string, path: string): boolean;
}

/** What the data plane asks on every request: the window in effect now, if any. */
export interface WindowSource {
  active(): ActiveWindow | undefined;
}

/** An open window as it travels to workers (plain JSON): enough to rebuild its ActiveWindow. */
export interface WindowWire {
  id: string;
  deadlineMs: number;
  fault: FaultFields & { errorStatus: number };
}

/** The request-path view of a window; path globs are compiled once here, not per request. */
export function toActiveWindow(wire: WindowWire): ActiveWindow {
  const { id, deadlineMs, fault } = wire;
  const pathRes = fault.paths?.map(globToRegExp);
  const methods = fault.methods ? new Set(fault.methods) : undefined;
  return {
    id,
    deadlineMs,
    fault,
    matches: (method, path) =>
      (methods === undefined || methods.has(method)) && (pathRes === undefined || pathRes.some((re) => re.test(path))),
  };
}

/**
 * Which fault a request gets, from one uniform draw in [0, 1): [0, abortRate)
 * aborts, the next errorRate errors, the rest nothing. One draw for both keeps
 * each rate exact (independent draws would make the second one smaller), and
 * a float draw resolves rates like 0.1 % that whole percents could not.
 */
export function pickFault(draw: number, fault: Pick<FaultFields, 'errorRate' | 'abortRate'>): 'abort' | 'error' | undefined {
  const abortRate = fault.abortRate ?? 0;
  if (draw < abortRate) return 'abort';
  if (draw < abortRate + (fault.errorRate ?? 0)) return 'error';
  return undefined;
}

interface WindowRecord {
  view: WindowView;
  active: ActiveWindow;
  timer?: NodeJS.Timeout;
}

export interface FaultWindowsOptions {
  /** Clock in Unix ms; tests pass a fake one. Default Date.now. */
  now?: () => number;
  /** How many closed windows to remember. Default 1000. */
  history?: number;
}

export type FaultWindowEvents = {
  opened: [WindowView];
  /** The open window's fault changed (a ladder's next step); same id and deadline. */
  updated: [WindowView];
  closed: [WindowView];
};

export class FaultWindows implements WindowSource {
  /** `opened` and `closed` (with the final view, `closedReason` set). */
  readonly events = new EventEmitter<FaultWindowEvents>();
  private readonly now: () => number;
  private readonly history: number;
  /** Insertion-ordered, so the oldest closed windows are forgotten first. */
  private readonly known = new Map<string, WindowRecord>();
  private current: WindowRecord | undefined;

  constructor(opts: FaultWindowsOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.history = opts.history ?? 1000;
  }

  /** Throws ValidationError (bad deadline) or WindowConflictError (one is open, or the id was used). */
  open(req: OpenWindowRequest): WindowView {
    const now = this.now();
    const deadlineMs = Date.parse(req.deadline);
    if (!(deadlineMs > now)) {
      throw new ValidationError([{ path: 'deadline', message: `is not in the future (${req.deadline})` }]);
    }
    if (deadlineMs - now > MAX_WINDOW_MS) {
      throw new ValidationError([{ path: 'deadline', message: `is more than ${MAX_WINDOW_MS / 3_600_000}h away` }]);
    }
    this.expire(now);
    if (this.current) {
      throw new WindowConflictError(`fault window ${JSON.stringify(this.current.view.id)} is already open`);
    }
    // A reused id is refused: a retried open arriving after its window was closed must not reopen it.
    if (this.known.has(req.id)) {
      throw new WindowConflictError(`fault window id ${JSON.stringify(req.id)} was already used`);
    }

    const { id, deadline: _deadline, ...fields } = req;
    const fault: FaultFields & { errorStatus: number } = { ...fields, errorStatus: fields.errorStatus ?? DEFAULT_ERROR_STATUS };
    const view: WindowView = {
      id,
      state: 'open',
      openedAt: new Date(now).toISOString(),
      deadline: new Date(deadlineMs).toISOString(),
      ...fault,
    };
    const active = toActiveWindow({ id, deadlineMs, fault });
    const record: WindowRecord = { view, active };
    record.timer = setTimeout(() => this.closeRecord(record, 'deadline'), deadlineMs - now);
    // The timer is a safety net, not a reason to keep the process alive.
    record.timer.unref();
    this.known.set(id, record);
    this.current = record;
    this.forgetOld();
    this.events.emit('opened', { ...view });
    return { ...view };
  }

  /**
   * Replace the fault of the open window `id` (a fault ladder's next step,
   * ADR 022); its id, opening time and deadline stay. Throws
   * WindowNotFoundError for an unknown id and WindowConflictError when the
   * window is closed: a step must never reopen an ended fault.
   */
  update(id: string, fields: FaultFields): WindowView {
    const now = this.now();
    this.expire(now);
    const record = this.known.get(id);
    if (!record) throw new WindowNotFoundError(id);
    if (record !== this.current) throw new WindowConflictError(`fault window ${JSON.stringify(id)} is closed (${record.view.closedReason ?? 'closed'}); it cannot be changed`);
    const fault: FaultFields & { errorStatus: number } = { ...fields, errorStatus: fields.errorStatus ?? DEFAULT_ERROR_STATUS };
    const { id: _id, state, openedAt, deadline } = record.view;
    record.view = { id, state, openedAt, deadline, ...fault };
    record.active = toActiveWindow({ id, deadlineMs: record.active.deadlineMs, fault });
    this.events.emit('updated', { ...record.view });
    return { ...record.view };
  }

  get(id: string): WindowView | undefined {
    this.expire(this.now());
    const record = this.known.get(id);
    return record ? { ...record.view } : undefined;
  }

  /**
   * Close `id` now (reason `closed`). Closing a closed window is a no-op that
   * returns its view; undefined means the id was never known (or forgotten).
   */
  close(id: string): WindowView | undefined {
    this.expire(this.now());
    const record = this.known.get(id);
    if (!record) return undefined;
    this.closeRecord(record, 'closed');
    return { ...record.view };
  }

  /** The window in effect right now, if any; closes it first if its deadline has passed. */
  active(): ActiveWindow | undefined {
    const now = this.now();
    this.expire(now);
    return this.current?.active;
  }

  isOpen(): boolean {
    return this.active() !== undefined;
  }

  /** Shutdown: close the open window (reason `closed`) and stop its timer. */
  closeAll(): void {
    if (this.current) this.closeRecord(this.current, 'closed');
  }

  private expire(now: number): void {
    const cur = this.current;
    if (cur && now >= cur.active.deadlineMs) this.closeRecord(cur, 'deadline');
  }

  private closeRecord(record: WindowRecord, reason: ClosedReason): void {
    if (record.view.state === 'closed') return;
    clearTimeout(record.timer);
    record.timer = undefined;
    record.view.state = 'closed';
    record.view.closedReason = reason;
    record.view.closedAt = new Date(this.now()).toISOString();
    if (this.current === record) this.current = undefined;
    this.events.emit('closed', { ...record.view });
  }

  private forgetOld(): void {
    for (const [id, record] of this.known) {
      if (this.known.size <= this.history) break;
      if (record !== this.current) this.known.delete(id);
    }
  }
}

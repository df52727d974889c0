/**
 * What to do with a run this replica just claimed from a process that is
 * gone (ADR 015): continue it to a verdict when its state is consistent and
 * the fault's state is known, otherwise close its window from the persisted
 * handle and let the reconciler end it `aborted` (ADR 006).
 *
 * Continue when
 *   - the window is open (a handle, no close recorded), its deadline is still
 *     ahead, and the injector reports the fault `active`; or
 *   - the window was closed by its deadline, or by a halt whose record was
 *     stored, and only the verdict is missing.
 * A fault ladder (ADR 022) is never continued: its open step is closed.
 * Anything else — a window the injector reports closed or cannot tell about
 * (no status call, an error, a timeout), a deadline already past, a state
 * that does not match its window, a spec the service's policy refuses now —
 * closes and aborts, because a run nobody can watch must end.
 */
import type { Experiment } from '../spec/schema.ts';
import { closeWithRetry } from '../injectors/close.ts';
import { injectorRegistry } from '../injectors/registry.ts';
import type { Injector, InjectorHandle } from '../injectors/types.ts';
import { describeError } from '../lib/errors.ts';
import type { Store, StoredRun } from '../store/types.ts';

export type TakeoverPlan = { kind: 'resume'; experiment: Experiment; injectorStatus: string } | { kind: 'close'; why: string };

export interface TakeoverDeps {
  store: Store;
  /** The injector of a stored spec, built as the service builds it. */
  injectorFor: (experiment: Experiment, row: StoredRun) => Injector;
  /** Why the service's policy would refuse this spec now, or undefined. */
  refused: (experiment: Experiment) => string | undefined;
  /** Bound on the injector's status call. */
  statusTimeoutMs?: number;
  now?: () => number;
}

export async function planTakeover(row: StoredRun, deps: TakeoverDeps): Promise<TakeoverPlan> {
  const window = row.window;
  if (!window) return { kind: 'close', why: 'no fault window had been opened' };
  const experiment = (await deps.store.experiments.getVersion(row.experiment, row.version))?.spec;
  if (!experiment) return { kind: 'close', why: `spec version ${row.version} is missing` };
  const refused = deps.refused(experiment);
  if (refused) return { kind: 'close', why: `the service's policy refuses the spec now (${refused})` };
  // ADR 022: a ladder's position and its steps' verdicts lived in the process that died; close whatever step is open.
  if (experiment.spec.fault.steps) return { kind: 'close', why: 'a fault ladder is not continued by another replica: whatever step was open is closed' };

  if (window.closedAt) {
    const judgeable = (row.state === 'injecting' || row.state === 'recovering' || row.state === 'analyzing') &&
      (window.closedBy === 'deadline' || (window.closedBy === 'halt' && row.halt !== null));
    return judgeable
      ? { kind: 'resume', experiment, injectorStatus: `window already closed (${window.closedBy})` }
      : { kind: 'close', why: `its window was closed (${window.closedBy ?? 'closed'}) and the run was ending` };
  }
  if (row.state !== 'injecting') return { kind: 'close', why: `its state (${row.state}) does not match an open window` };
  if (!window.handle) return { kind: 'close', why: 'its open left no handle' };
  const now = (deps.now ?? Date.now)();
  if (Date.parse(window.deadline) <= now) return { kind: 'close', why: `its deadline (${window.deadline}) passed while nobody watched it` };

  let status;
  try {
    status = await deps.injectorFor(experiment, row).status(window.handle, AbortSignal.timeout(deps.statusTimeoutMs ?? 5_000));
  } catch (err) {
    return { kind: 'close', why: `the injector could not say whether the fault is active (${describeError(err)})` };
  }
  const detail = status.detail ? `: ${status.detail}` : '';
  if (status.state === 'active') return { kind: 'resume', experiment, injectorStatus: `active${detail}` };
  if (status.state === 'closed') return { kind: 'close', why: `the injector reports the fault already ended${detail}` };
  return { kind: 'close', why: `the injector cannot tell whether the fault is active${detail}` };
}

/**
 * Close the window of a run that will not be continued: from the persisted
 * handle, or one the adapter derives from the run id when the crash came
 * between the open and recording its answer. Returns what happened, for the
 * run's reason; throws when the close fails (the run then stays active).
 */
export async function closeLeftover(row: StoredRun, deps: Pick<TakeoverDeps, 'store' | 'injectorFor'>): Promise<string> {
  const window = row.window;
  if (window?.closedAt) return 'its fault window had already been closed';
  const experiment = (await deps.store.experiments.getVersion(row.experiment, row.version))?.spec;
  let handle: InjectorHandle | undefined = window?.handle;
  const events = await deps.store.runs.events(row.id);
  const opening = events.find((e) => e.type === 'window.opening');
  if (!handle && opening && experiment) {
    const factory = injectorRegistry.get(experiment.spec.fault.injector);
    const deadline = typeof opening.data?.deadline === 'string' ? opening.data.deadline : undefined;
    handle = factory?.handleFor?.(experiment.spec.fault.params, row.id, { experiment: row.experiment, ...(deadline ? { deadline } : {}) });
    if (!handle) return `an open was in flight and left no handle, and the ${experiment.spec.fault.injector} injector cannot derive one: the fault ends by its injector-side deadline, where its backend has one`;
  }
  if (!handle) return 'no fault window had been opened';
  if (!experiment) throw new Error(`spec version ${row.version} of "${row.experiment}" is missing; cannot build the injector`);
  await closeWithRetry(deps.injectorFor(experiment, row), handle);
  await deps.store.runs.update(row.id, {
    window: { ...(window ?? { openedAt: row.startedAt, deadline: row.startedAt }), handle, closedAt: new Date().toISOString(), closedBy: 'error' },
  });
  return 'its fault window was closed by the reconciler';
}

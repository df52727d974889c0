/**
 * Taking over a run another process was driving (ADR 015).
 */
import type { Telemetry } from '../observability/telemetry.ts';
import { armKpiGuardrails, type PreflightContext } from './preflight.ts';
import type { ResumePoint } from './run-options.ts';
import type { HaltInfo, RunRecord } from './types.ts';

export interface TakeOverContext extends Omit<PreflightContext, 'injector'> {
  run: RunRecord;
  resume: ResumePoint;
  /** Who takes it over. */
  actor: string | undefined;
  telemetry: Telemetry;
}

/**
 * Continue a run another process was driving: record the takeover, learn
 * the KPI guardrails' noise from the history before the window (as the
 * first owner did), and replay the polled guardrails' looks over the window
 * so far. The first monitor tick then collects the window's samples from
 * its open time and feeds them to the sequential tests. Returns a halt the
 * history already shows.
 */
export async function takeOver(ctx: TakeOverContext): Promise<HaltInfo | undefined> {
  const { run, resume } = ctx;
  const window = run.window;
  const from = resume.previousOwner ? ` from ${resume.previousOwner}` : '';
  const at = window?.closedAt ? `after its window closed (${window.closedBy ?? 'closed'})` : `with its fault window open until ${window?.deadline ?? '?'}`;
  await ctx.emit('run.taken_over', `run taken over by ${ctx.actor ?? 'unknown'}${from} while ${run.state}, ${at}; continuing to a verdict (injector: ${resume.injectorStatus})`, {
    previousOwner: resume.previousOwner,
    owner: ctx.actor ?? null,
    state: run.state,
    injectorStatus: resume.injectorStatus,
  });
  if (!window) return undefined;
  const openedAt = Date.parse(window.openedAt);
  await armKpiGuardrails(ctx, openedAt);
  if (window.closedAt) return undefined;
  ctx.telemetry.windowOpened(run);
  const replayed = await ctx.monitor.replay(openedAt, ctx.now(), ctx.signal);
  if (replayed.looks > 0) {
    await ctx.emit('guardrail.replayed', `guardrails' memory rebuilt from ${replayed.looks} looks at the window's history`, { looks: replayed.looks });
  }
  return replayed.halt;
}

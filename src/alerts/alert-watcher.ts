/**
 * The alert watcher: a run hook that polls the alerts APIs from the moment the
 * fault window opens, at `expect.interval`, on its own loop — never on the
 * halt path: a poll that hangs costs one look (each request has its own time
 * limit), never a halt, a close or a tick of the guardrails. After the window
 * closes it keeps looking, bounded, while an expected alert may still fire
 * (its `within` not yet passed) or must still resolve (`resolveWithin`); then
 * it judges (evaluate.ts) and hands the verdict to the run.
 */
import { describeError } from '../lib/errors.ts';
import { sleep } from '../lib/retry.ts';
import type { RunHook, RunHookContext } from '../engine/run-hooks.ts';
import type { RunEvent } from '../engine/types.ts';
import { LIMITS } from '../spec/schema.ts';
import { MAX_RESOLVE_WAIT_MS, type AlertEndpoint, type ExpectSpec } from './alert-spec.ts';
import { fetchAlertmanagerAlerts, fetchPrometheusAlerts, type AlertsClientDeps } from './alerts-client.ts';
import { evaluateAlerts, matches } from './evaluate.ts';
import { stepsOf } from './steps.ts';
import type { AlertExpectation } from './alert-spec.ts';
import type { AlertPoll, AlertsResult } from './types.ts';

export interface AlertWatcherDeps extends AlertsClientDeps {
  /** `expect.prometheus`, else the spec's Prometheus source. */
  prometheus: AlertEndpoint;
  now?: () => number;
}

export class AlertWatcher implements RunHook {
  readonly name = 'alerts';
  private readonly polls: AlertPoll[] = [];
  private failedPolls = 0;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private openedAt: number | undefined;
  private closedAt: number | undefined;
  private lastError: string | undefined;
  private readonly now: () => number;

  constructor(
    private readonly spec: ExpectSpec,
    private readonly deps: AlertWatcherDeps,
  ) {
    this.now = deps.now ?? Date.now;
  }

  onEvent(event: RunEvent, ctx: RunHookContext): void {
    if (event.type === 'window.opened' && !this.loop) {
      this.openedAt = Date.parse(ctx.run.window?.openedAt ?? event.at);
      this.loop = this.watch(ctx).catch((err: unknown) => ctx.log.warn({ err: describeError(err) }, 'alert watcher stopped'));
    } else if (event.type === 'window.closed') {
      this.closedAt = Date.parse(ctx.run.window?.closedAt ?? event.at);
    }
  }

  /** Bounded in count as well as time: a window of at most LIMITS' length, plus the resolve wait. */
  private async watch(ctx: RunHookContext): Promise<void> {
    const maxPolls = Math.ceil((LIMITS.maxFaultDurationMs + MAX_RESOLVE_WAIT_MS) / this.spec.interval) + 10;
    for (let i = 0; i < maxPolls && !this.stop.signal.aborted; i++) {
      const started = this.now();
      await this.pollOnce(ctx, this.stop.signal);
      const wait = this.spec.interval - (this.now() - started);
      if (wait > 0) await sleep(wait, this.stop.signal).catch(() => undefined);
    }
  }

  private async pollOnce(ctx: RunHookContext, stop: AbortSignal): Promise<void> {
    const at = this.now();
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.spec.timeout)]);
    const names = this.spec.alerts.map((a) => a.name);
    const [prom, am] = await Promise.allSettled([
      fetchPrometheusAlerts(this.deps.prometheus, this.deps, signal),
      this.spec.alertmanager ? fetchAlertmanagerAlerts(this.spec.alertmanager, names, this.deps, signal) : Promise.resolve(undefined),
    ]);
    const poll: AlertPoll = { at };
    if (prom.status === 'fulfilled') poll.prometheus = prom.value;
    if (am.status === 'fulfilled' && am.value) poll.alertmanager = am.value;
    const failure = [prom, am].find((r) => r.status === 'rejected');
    if (failure) {
      this.failedPolls += 1;
      const message = describeError(failure.reason);
      // Logged once per distinct failure, not once per look.
      if (message !== this.lastError) ctx.log.warn({ error: message }, 'alerts API look failed');
      this.lastError = message;
    }
    if (poll.prometheus || poll.alertmanager) this.polls.push(poll);
  }

  /** When watching may stop: every alert that can still fire or resolve has, or its bound passed. */
  private doneAt(run: RunHookContext['run'], closedAt: number): number {
    const steps = stepsOf(run, closedAt);
    const last = steps[steps.length - 1];
    let until = closedAt;
    for (const e of this.spec.alerts) {
      if (e.within !== undefined && last && !this.firedSince(e, last.startedAt)) until = Math.max(until, last.startedAt + e.within);
      if (e.resolveWithin !== undefined) until = Math.max(until, closedAt + e.resolveWithin);
    }
    return Math.min(until, closedAt + MAX_RESOLVE_WAIT_MS);
  }

  private firedSince(e: AlertExpectation, t: number): boolean {
    return this.polls.some((p) => p.at >= t && p.prometheus?.alerts.some((a) => a.state === 'firing' && matches(a, e)));
  }

  private resolvedAll(closedAt: number): boolean {
    const waiting = this.spec.alerts.filter((e) => e.resolveWithin !== undefined || e.within !== undefined);
    const after = this.polls.filter((p) => p.at >= closedAt && p.prometheus);
    return waiting.every((e) => {
      if (!this.firedSince(e, this.openedAt ?? closedAt)) return false;
      if (e.resolveWithin === undefined) return true;
      return after.some((p) => !p.prometheus?.alerts.some((a) => a.state === 'firing' && matches(a, e)));
    });
  }

  async settle(ctx: RunHookContext): Promise<{ alerts?: AlertsResult } | undefined> {
    if (this.openedAt === undefined || !this.loop) return undefined;
    const closedAt = this.closedAt ?? this.now();
    const until = this.doneAt(ctx.run, closedAt);
    // Bounded: by `until` (at most MAX_RESOLVE_WAIT_MS past the close) and by a count of looks.
    for (let i = 0; i < 100_000 && this.now() < until && !ctx.signal.aborted && !this.resolvedAll(closedAt); i++) {
      await sleep(Math.min(this.spec.interval, until - this.now()), ctx.signal).catch(() => undefined);
    }
    this.stop.abort();
    await this.loop;
    // One look after the close at least (bounded by the interval): an alert that fired just before it counts.
    if (this.closedAt !== undefined && !ctx.signal.aborted && !this.polls.some((p) => p.at >= closedAt)) await this.pollOnce(ctx, AbortSignal.any([ctx.signal, AbortSignal.timeout(this.spec.interval)]));
    const result = evaluateAlerts({
      expectations: this.spec.alerts,
      polls: this.polls,
      steps: stepsOf(ctx.run, closedAt),
      closedAt: this.closedAt,
      from: this.openedAt,
      until: this.now(),
      failedPolls: this.failedPolls,
      alertmanager: this.spec.alertmanager !== undefined,
      onFail: this.spec.onFail,
    });
    return { alerts: result };
  }
}

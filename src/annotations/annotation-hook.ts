/**
 * The run hook that turns a run's events into annotations: the window's
 * opening (a point), its close (the window as a region), and each ladder step
 * (`ladder.step` events, `data.step`). Posts run detached, each bounded
 * by the configured timeout; a failure is logged and recorded on the run's
 * timeline (`annotation.failed`), never more. Before the run's end is
 * recorded the hook waits for the posts still in flight (each bounded).
 */
import { describeError } from '../lib/errors.ts';
import { redactText } from '../lib/redact.ts';
import type { RunHook, RunHookContext } from '../engine/run-hooks.ts';
import type { RunEvent } from '../engine/types.ts';
import type { Annotation, Annotator } from './types.ts';

export interface AnnotationRunInfo {
  experiment: string;
  service?: string;
  environment?: string;
  injector: string;
}

export class AnnotationHook implements RunHook {
  readonly name = 'annotations';
  private readonly inFlight = new Set<Promise<void>>();
  /** A close by a halt, held until `run.halted` says which guardrail (it is recorded right after the close). */
  private heldClose: { event: RunEvent; ctx: RunHookContext } | undefined;

  constructor(
    private readonly annotators: readonly Annotator[],
    private readonly info: AnnotationRunInfo,
    private readonly timeoutMs: number,
  ) {}

  onEvent(event: RunEvent, ctx: RunHookContext): void {
    if (event.type === 'window.closed' && event.data?.by === 'halt') {
      this.heldClose = { event, ctx };
      return;
    }
    if (event.type === 'run.halted' && this.heldClose) {
      const held = this.heldClose.event;
      this.heldClose = undefined;
      this.send({ ...held, data: { ...held.data, guardrail: event.data?.guardrail ?? null, reason: event.data?.reason ?? null } }, ctx);
      return;
    }
    this.send(event, ctx);
  }

  private send(event: RunEvent, ctx: RunHookContext): void {
    const annotation = this.annotationFor(event, ctx);
    if (!annotation) return;
    for (const annotator of this.annotators) {
      const post = this.post(annotator, annotation, ctx).finally(() => this.inFlight.delete(post));
      this.inFlight.add(post);
    }
  }

  async settle(ctx: RunHookContext): Promise<undefined> {
    if (this.heldClose) {
      const { event } = this.heldClose;
      this.heldClose = undefined;
      this.send(event, ctx);
    }
    // Each post is bounded by its timeout; a bounded count of rounds in case one starts another.
    for (let round = 0; round < 5 && this.inFlight.size > 0; round++) await Promise.allSettled([...this.inFlight]);
    return undefined;
  }

  private async post(annotator: Annotator, annotation: Annotation, ctx: RunHookContext): Promise<void> {
    try {
      await annotator.post(annotation, AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      const message = redactText(describeError(err));
      ctx.log.warn({ annotator: annotator.name, kind: annotation.kind, error: message }, 'annotation not posted');
      await ctx
        .emit('annotation.failed', `${annotator.name} annotation for ${annotation.kind} not posted: ${message}`, { annotator: annotator.name, kind: annotation.kind })
        .catch(() => undefined);
    }
  }

  private annotationFor(event: RunEvent, ctx: RunHookContext): Annotation | undefined {
    const { run } = ctx;
    const window = run.window;
    const tags = [
      'steadystate',
      `experiment:${this.info.experiment}`,
      `run:${run.id}`,
      ...(this.info.service ? [`service:${this.info.service}`] : []),
      ...(this.info.environment ? [`env:${this.info.environment}`] : []),
    ];
    const base = { runId: run.id, experiment: this.info.experiment, ...(this.info.service ? { service: this.info.service } : {}), ...(this.info.environment ? { environment: this.info.environment } : {}) };
    const at = Date.parse(event.at);
    if (event.type === 'window.opened' && window) {
      return { ...base, kind: event.type, time: Date.parse(window.openedAt), title: `Fault window opened: ${this.info.experiment}`, text: `steadystate run ${run.id}: ${this.info.injector} fault until ${window.deadline}`, tags: [...tags, 'event:window.opened'], severity: 'info' };
    }
    if (event.type === 'window.closed' && window) {
      const by = typeof event.data?.by === 'string' ? event.data.by : 'closed';
      const halted = by === 'halt';
      const guardrail = typeof event.data?.guardrail === 'string' ? ` — guardrail "${event.data.guardrail}": ${typeof event.data.reason === 'string' ? event.data.reason : ''}` : '';
      return { ...base, kind: event.type, time: Date.parse(window.openedAt), timeEnd: window.closedAt ? Date.parse(window.closedAt) : at, title: `Fault window closed (${by}): ${this.info.experiment}`, text: `steadystate run ${run.id}: ${this.info.injector} fault window, closed by ${by}${guardrail}`, tags: [...tags, 'event:window.closed'], severity: halted ? 'warning' : 'info' };
    }
    // A fault ladder's step (ladder-driver.ts emits `ladder.step` with `data.step`, 0-based).
    if (event.type === 'ladder.step' || event.type === 'step.started') {
      const raw = event.data?.step ?? event.data?.index;
      const index = typeof raw === 'number' ? raw : undefined;
      // The step's own start (run.ladder, set before the event), to the millisecond the reports show.
      const startedAt = index === undefined ? undefined : run.ladder?.steps[index]?.startedAt;
      return { ...base, kind: 'step.started', time: startedAt ? Date.parse(startedAt) : at, title: `Fault step ${index === undefined ? '?' : index + 1}: ${this.info.experiment}`, text: `steadystate run ${run.id}: ${event.message}`, tags: [...tags, 'event:step.started', ...(index !== undefined ? [`step:${index + 1}`] : [])], severity: 'info' };
    }
    return undefined;
  }
}

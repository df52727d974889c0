/**
 * The Slack notifier: a RunListener that reports a run's start, its halt and
 * its verdict to the experiment's `notify.slack`.
 *
 * - One message per run start. With a bot token, the halt and the verdict
 *   then update that message in place (`updates: update`, chat.update) or
 *   reply in its thread (`updates: thread`). An incoming webhook cannot do
 *   either (its answer has no `ts`), so it posts them as follow-ups.
 * - `onEvent` returns at once: it copies what the message needs from the run
 *   (the record keeps changing) and queues the delivery behind the run's
 *   earlier messages, so they arrive in order. The run service never awaits
 *   a listener anyway; nothing here can delay a halt.
 * - Each Slack call is retried in the background, a bounded number of times
 *   (default 5), honouring `Retry-After` on a 429 and backing off with jitter
 *   otherwise. A message that still fails is logged (without credentials) and
 *   dropped; the next one of the run is still sent.
 * - Credentials are resolved when a message is sent, from the service's
 *   SLACK_* environment captured by the configuration, and never appear in a
 *   message or a log line.
 */
import type { Logger } from 'pino';
import type { ServiceConfig } from '../config.ts';
import { TERMINAL_STATES, type RunEvent, type RunRecord } from '../engine/types.ts';
import { describeError } from '../lib/errors.ts';
import { backoffDelay, sleep as realSleep, type SleepFn } from '../lib/retry.ts';
import type { RunListener } from '../service/run-listeners.ts';
import type { Experiment } from '../spec/schema.ts';
import { guardrailUnit } from '../reports/guardrail-plot.ts';
import { specView } from '../reports/html/spec-view.ts';
import { metricUnits } from '../reports/metric-text.ts';
import type { SlackNotifySpec } from './notify-schema.ts';
import { haltMessage, startMessage, verdictMessage, type RunView, type SlackMessage } from './slack-blocks.ts';
import { SlackClient, SlackError, type PostedMessage, type SlackTarget } from './slack-client.ts';

export interface SlackNotifierDeps {
  config: Pick<ServiceConfig, 'slack' | 'publicUrl'>;
  logger: Logger;
  fetch?: typeof fetch;
  sleep?: SleepFn;
  random?: () => number;
  /** Calls per message, the first included. Default 5. */
  attempts?: number;
  /** Backoff cap of the first retry (doubling, full jitter). Default 1 s, at most 30 s. */
  baseDelayMs?: number;
  timeoutMs?: number;
}

type Step = 'start' | 'halt' | 'verdict';

interface RunThread {
  chain: Promise<void>;
  posted?: PostedMessage;
}

const TERMINAL_EVENTS = new Set<string>(TERMINAL_STATES.map((s) => `state.${s}`));

export class SlackNotifier implements RunListener {
  readonly name = 'slack';
  private readonly client: SlackClient;
  private readonly threads = new Map<string, RunThread>();
  private readonly sleep: SleepFn;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(private readonly deps: SlackNotifierDeps) {
    this.client = new SlackClient({ ...(deps.fetch ? { fetch: deps.fetch } : {}), ...(deps.timeoutMs ? { timeoutMs: deps.timeoutMs } : {}) });
    this.sleep = deps.sleep ?? realSleep;
    this.attempts = Math.max(1, deps.attempts ?? 5);
    this.baseDelayMs = deps.baseDelayMs ?? 1_000;
  }

  onEvent(event: RunEvent, run: Readonly<RunRecord>, context: { experiment: Experiment }): void {
    const slack = context.experiment.spec.notify?.slack;
    if (!slack) return;
    const step: Step | undefined =
      event.type === 'run.started' ? 'start' : event.type === 'run.halted' ? 'halt' : TERMINAL_EVENTS.has(event.type) ? 'verdict' : undefined;
    if (!step) return;
    const view = this.view(run, context.experiment);
    const thread = this.threads.get(run.id) ?? { chain: Promise.resolve() };
    this.threads.set(run.id, thread);
    thread.chain = thread.chain
      .then(() => this.deliver(step, view, slack, thread))
      .catch((err: unknown) => this.deps.logger.warn({ runId: view.id, step, error: describeError(err) }, 'slack: message dropped'))
      .finally(() => {
        if (step === 'verdict' && this.threads.get(view.id) === thread) this.threads.delete(view.id);
      });
  }

  /** Wait until every queued message is sent or dropped (tests, shutdown). */
  async flush(): Promise<void> {
    for (;;) {
      const chains = [...this.threads.values()].map((t) => t.chain);
      await Promise.allSettled(chains);
      const after = [...this.threads.values()].map((t) => t.chain);
      if (after.length === chains.length && after.every((c, i) => c === chains[i])) return;
    }
  }

  private async deliver(step: Step, view: RunView, slack: SlackNotifySpec, thread: RunThread): Promise<void> {
    const target = this.target(slack);
    if (!target) {
      this.deps.logger.warn({ runId: view.id, experiment: view.experiment }, 'slack: notify.slack is set but no Slack credentials are configured for it; nothing sent');
      return;
    }
    const message: SlackMessage = step === 'start' ? startMessage(view) : step === 'halt' ? haltMessage(view) : verdictMessage(view);
    if (target.kind === 'webhook' || step === 'start' || !thread.posted) {
      const posted = await this.withRetry(step, view.id, () => this.client.post(target, message));
      if (step === 'start' && posted) thread.posted = posted;
      return;
    }
    const posted = thread.posted;
    if (slack.updates === 'thread') {
      await this.withRetry(step, view.id, () => this.client.post(target, message, posted.ts));
    } else {
      await this.withRetry(step, view.id, () => this.client.update(target, posted, message));
    }
  }

  private async withRetry<T>(step: Step, runId: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (err) {
        const retryable = err instanceof SlackError && err.retryable;
        if (!retryable || attempt >= this.attempts) throw err;
        const delay = err.retryAfterMs ?? backoffDelay(attempt, this.baseDelayMs, 30_000, this.deps.random);
        this.deps.logger.info({ runId, step, attempt, delayMs: delay, error: err.message }, 'slack: retrying');
        await this.sleep(delay);
      }
    }
  }

  /** Where this experiment's messages go, with the credential resolved now; undefined when none is configured. */
  private target(slack: SlackNotifySpec): SlackTarget | undefined {
    const { slack: config } = this.deps.config;
    const env = (name: string): string | undefined => (Object.hasOwn(config.env, name) ? config.env[name] : undefined);
    if (slack.webhookUrl) {
      const url = env(slack.webhookUrl.fromEnv);
      return url && /^https?:\/\//.test(url) ? { kind: 'webhook', url } : undefined;
    }
    if (slack.channel) {
      const token = slack.token ? env(slack.token.fromEnv) : config.botToken;
      return token ? { kind: 'bot', token, channel: slack.channel, apiUrl: config.apiUrl } : undefined;
    }
    return config.webhookUrl ? { kind: 'webhook', url: config.webhookUrl } : undefined;
  }

  private view(run: Readonly<RunRecord>, experiment: Experiment): RunView {
    const { metadata, spec } = experiment;
    const base = (this.deps.config.publicUrl ?? '').replace(/\/+$/, '');
    const actor = run.events.find((e) => e.type === 'run.started')?.data?.actor;
    // A deep copy: the record keeps changing after this event.
    return structuredClone({
      id: run.id,
      experiment: run.experiment,
      ...(metadata.service ? { service: metadata.service } : {}),
      ...(metadata.environment ? { environment: metadata.environment } : {}),
      state: run.state,
      verdict: run.verdict,
      reason: run.reason,
      startedAt: run.startedAt,
      endedAt: run.endedAt,
      ...(typeof actor === 'string' ? { actor } : {}),
      fault: { injector: spec.fault.injector, durationMs: spec.fault.duration, params: spec.fault.params },
      ...(run.halt ? { halt: run.halt } : {}),
      metrics: run.metrics,
      ...reportUnits(run, experiment),
      ...(run.alerts ? { alerts: run.alerts } : {}),
      ...(run.ladder ? { ladder: run.ladder } : {}),
      ...(base ? { reportUrl: `${base}/api/v1/runs/${encodeURIComponent(run.id)}/report.html` } : {}),
    });
  }
}

/** The units the messages show numbers in: each metric's, and the halting guardrail's (as the reports have them). */
function reportUnits(run: Readonly<RunRecord>, experiment: Experiment): Pick<RunView, 'metricUnits' | 'haltUnit'> {
  const view = specView(experiment);
  const unitOf = metricUnits(view.metrics, run.series);
  return {
    metricUnits: Object.fromEntries(run.metrics.map((m) => [m.name, unitOf(m.name)])),
    ...(run.halt ? { haltUnit: guardrailUnit(view, run.halt.guardrail, run.halt) } : {}),
  };
}

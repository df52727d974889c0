/**
 * Receiving a deploy webhook, from raw bytes to started runs.
 *
 * Every check comes before the first write, in this order, and any failure is
 * a 4xx that leaves the database exactly as it was:
 *   1. the provider is known and enabled (it has a secret)   → 404
 *   2. authentication (signature / shared secret, timestamp)  → 401
 *   3. the body parses and has what the provider documents    → 400
 *   4. the deploy is fresh (≤ 1 h old, ≤ 5 min in the future) → 422
 *   5. not a replay: the same body under another delivery id
 *      (within the provider's freshness window), or another
 *      body under a known delivery id                          → 409
 * Reads (the delivery record, the experiments) happen only after 1–4.
 *
 * Then: a redelivery (same id, same content) answers with the runs recorded
 * the first time, starting nothing — also when the first time started none
 * because halt-all was on or the targets were busy: a delivery is consumed
 * once matched, so it cannot be replayed after halt-all is cleared; otherwise each matching experiment is
 * started with the idempotency key `provider:deliveryId` (so a redelivery
 * racing the first delivery finds the same runs), and the delivery is
 * recorded. Starting returns as soon as the run row exists; the run itself
 * goes on in the background, so the answer comes well within a second.
 */
import type { Logger } from 'pino';
import { AppError } from '../lib/errors.ts';
import type { RunService } from '../service/run-service.ts';
import type { ExperimentRepository } from '../store/types.ts';
import { matchExperiments } from './deploy-matching.ts';
import { enabledProvider } from './registry.ts';
import { sha256Hex } from './signature.ts';
import type { TriggerRepository } from './trigger-store.ts';
import { MAX_CLOCK_SKEW_MS, MAX_EVENT_AGE_MS, WebhookError, type DeployEvent, type WebhookRequest } from './types.ts';

/** What starting needs from the run service. */
export type RunStarter = Pick<RunService, 'start'>;

export interface DeployHookDeps {
  experiments: Pick<ExperimentRepository, 'list'>;
  runs: RunStarter;
  triggers: Pick<TriggerRepository, 'findDeliveries' | 'recordDelivery'>;
  /** STEADYSTATE_WEBHOOK_SECRET_<PROVIDER>, by provider name. */
  secrets: Readonly<Partial<Record<string, string>>>;
  /** Makes status URLs absolute. */
  publicUrl: string | undefined;
  logger: Logger;
  now?: () => number;
}

export interface HookRun {
  id: string;
  experiment: string;
  /** Where `steadystate wait` (or anyone) follows the run. */
  url: string;
  /** False when the run already existed (a redelivery). */
  created: boolean;
}

export interface HookResponse {
  provider: string;
  delivery: string | null;
  /** A redelivery: these are the runs the first delivery started. */
  duplicate: boolean;
  /** Why nothing was started, for an authentic delivery that is not a deploy to act on. */
  ignored?: string;
  service?: string;
  environment?: string;
  runs: HookRun[];
  /** Matching experiments that could not start now (halt-all, a busy target, the run limit…). */
  skipped: { experiment: string; error: string; message: string }[];
}

export interface HookAnswer {
  /** 202 when the deploy was taken (runs started or recorded), 200 when there was nothing to do. */
  status: 200 | 202;
  body: HookResponse;
}

export class DeployHooks {
  private readonly now: () => number;

  constructor(private readonly deps: DeployHookDeps) {
    this.now = deps.now ?? Date.now;
  }

  async receive(providerName: string, request: WebhookRequest): Promise<HookAnswer> {
    const enabled = enabledProvider(providerName, this.deps.secrets);
    if (!enabled) throw new WebhookError(404, 'not_found', `no deploy webhook "${providerName.slice(0, 64)}" is enabled here`);
    const { provider, secret } = enabled;
    const now = this.now();
    const outcome = provider.verify(request, secret, now);
    const base = { provider: provider.name, duplicate: false, runs: [], skipped: [] };
    if (outcome.kind === 'ignore') {
      return { status: 200, body: { ...base, delivery: outcome.deliveryId ?? null, ignored: outcome.reason } };
    }
    const event = outcome.event;
    checkFresh(event, now);

    const content = sha256Hex(request.body);
    const known = await this.deps.triggers.findDeliveries(provider.name, event.deliveryId, content, new Date(now - provider.replayWindowMs));
    const same = known.find((d) => d.deliveryId === event.deliveryId && d.contentSha256 === content);
    if (same) {
      return {
        status: 202,
        body: {
          ...base,
          delivery: event.deliveryId,
          duplicate: true,
          service: event.service,
          environment: event.environment,
          runs: same.result.runs.map((r) => this.hookRun(r.id, r.experiment, false)),
          skipped: same.result.skipped,
        },
      };
    }
    if (known.length > 0) throw replayed(known[0]!.deliveryId === event.deliveryId);

    const matched = matchExperiments(await this.deps.experiments.list(), event);
    const body: HookResponse = { ...base, delivery: event.deliveryId, service: event.service, environment: event.environment, runs: [], skipped: [] };
    if (matched.length === 0) {
      return { status: 200, body: { ...body, ignored: `no experiment has metadata.service "${event.service}" and metadata.environment "${event.environment}"` } };
    }
    const actor = `webhook:${provider.name} ${event.deliveryId}`.slice(0, 256);
    for (const experiment of matched) {
      try {
        const { run, created } = await this.deps.runs.start(experiment.name, {
          actor,
          idempotencyKey: `${provider.name}:${event.deliveryId}`,
        });
        body.runs.push(this.hookRun(run.id, experiment.name, created));
      } catch (err) {
        if (!(err instanceof AppError) || err.httpStatus >= 500) throw err;
        body.skipped.push({ experiment: experiment.name, error: err.code, message: err.message });
      }
    }
    // Recorded even when every start was skipped (halt-all, a busy target): the delivery is consumed,
    // so replaying it after halt-all is cleared starts nothing. A new deploy sends a new delivery.
    const recorded = await this.deps.triggers.recordDelivery({
      provider: provider.name,
      deliveryId: event.deliveryId,
      contentSha256: content,
      service: event.service,
      environment: event.environment,
      receivedAt: new Date(now),
      result: { runs: body.runs.map((r) => ({ id: r.id, experiment: r.experiment })), skipped: body.skipped },
    });
    if (!recorded) {
      // A twin with this delivery id was recorded in the meantime. Same content: the
      // idempotency keys gave both the same runs, so this answer stands. Other content
      // under the same id is a replay that lost the race (its starts found the same runs).
      const twin = await this.deps.triggers.findDeliveries(provider.name, event.deliveryId, content, new Date(now - provider.replayWindowMs));
      if (!twin.some((d) => d.deliveryId === event.deliveryId && d.contentSha256 === content)) throw replayed(true);
      body.duplicate = body.runs.every((r) => !r.created);
    }
    this.deps.logger.info(
      { provider: provider.name, delivery: event.deliveryId, service: event.service, environment: event.environment, runs: body.runs.map((r) => r.id), skipped: body.skipped.length },
      'deploy webhook accepted',
    );
    return { status: 202, body };
  }

  private hookRun(id: string, experiment: string, created: boolean): HookRun {
    const base = (this.deps.publicUrl ?? '').replace(/\/+$/, '');
    return { id, experiment, url: `${base}/api/v1/runs/${encodeURIComponent(id)}`, created };
  }
}

function checkFresh(event: DeployEvent, now: number): void {
  const age = now - event.occurredAt.getTime();
  if (age > MAX_EVENT_AGE_MS) {
    throw new WebhookError(422, 'stale_delivery', `the deploy happened ${Math.round(age / 60_000)} min ago; deploys older than ${MAX_EVENT_AGE_MS / 60_000} min do not start experiments (start one by hand)`);
  }
  if (age < -MAX_CLOCK_SKEW_MS) {
    throw new WebhookError(422, 'stale_delivery', `the deploy time is ${Math.round(-age / 1000)}s in the future; at most ${MAX_CLOCK_SKEW_MS / 1000}s of clock skew is accepted`);
  }
}

function replayed(sameId: boolean): WebhookError {
  return new WebhookError(
    409,
    'replayed_delivery',
    sameId
      ? 'this delivery id was already used with a different body'
      : 'this body was already delivered under another delivery id',
  );
}

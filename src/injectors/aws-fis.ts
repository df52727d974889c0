/**
 * AWS Fault Injection Service injector: one experiment, started from an
 * experiment template, per fault window (@aws-sdk/client-fis).
 *
 * - `open` calls StartExperiment with a `clientToken` derived from the run id
 *   (FIS's idempotency token: a retried open returns the experiment the first
 *   attempt started instead of starting a second one) and tags naming the run,
 *   then waits until the experiment is `running`. One that ends first
 *   (`completed`, `stopped`, `failed`, `cancelled`) or is not running within
 *   `startTimeout` fails the open, and is stopped again.
 * - FIS has no per-experiment duration override: the fault's length on the AWS
 *   side is what the template's actions say. Our deadline is kept by our close
 *   (and the template's own durations and stop conditions bound it if we die).
 * - `close` calls StopExperiment and waits until the experiment is `stopped`,
 *   `completed`, `failed` or `cancelled`; an experiment that is not found, or
 *   already over, is closed. One attempt per call: the SDK's own retries are
 *   off (`maxAttempts: 1`), because closeWithRetry owns the retry policy.
 * - Credentials come from the standard AWS chain (environment, shared config
 *   profile, web identity, container or instance metadata); errors say which
 *   source was in play, never a key.
 */
import { createHash } from 'node:crypto';
import type { Experiment, FisClient } from '@aws-sdk/client-fis';
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { durationMs, httpUrl } from '../spec/fields.ts';
import { closeWithRetry, type CloseRetryPolicy } from './close.ts';
import { pollUntil, requestSignal } from './poll.ts';
import type { Injector, InjectorDeps, InjectorFactory, InjectorHandle, InjectorStatus, OpenContext, OwnedFault } from './types.ts';

const KIND = 'aws-fis';

type FisSdk = typeof import('@aws-sdk/client-fis');
let sdkModule: Promise<FisSdk> | undefined;
/** The AWS SDK, loaded on first use: it is a large part of every CLI start-up otherwise (validation imports this file). */
const loadSdk = (): Promise<FisSdk> => (sdkModule ??= import('@aws-sdk/client-fis'));
export const RUN_ID_TAG = 'steadystate.dev/run-id';
export const MANAGED_BY_TAG = 'steadystate.dev/managed-by';
const EXPERIMENT_TAG = 'steadystate.dev/experiment';

const DEFAULT_START_TIMEOUT_MS = 120_000;
const DEFAULT_STOP_TIMEOUT_MS = 120_000;
const DEFAULT_POLL_MS = 2_000;
const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_CLEANUP_POLICY: Partial<CloseRetryPolicy> = { attempts: 3, baseMs: 200, maxMs: 1_000 };
const TERMINAL = new Set(['completed', 'stopped', 'failed', 'cancelled']);
/** Errors that say "who you are" or "what you may do" is wrong: asking again will not help. */
const AUTH_ERRORS = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'MissingAuthenticationTokenException',
  'CredentialsProviderError',
]);

const positiveDuration = durationMs.refine((ms) => ms > 0, 'must be greater than 0');

export const awsFisParamsSchema = z.strictObject({
  experimentTemplateId: z.string().min(1).max(64),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1'),
  /** Another endpoint than FIS's regional one (a VPC endpoint; the contract tests' local server). */
  endpoint: httpUrl.optional(),
  /** How long open waits for `running`. Default 120 s. */
  startTimeout: positiveDuration.optional(),
  /** How long one close waits for the experiment to end. Default 120 s. */
  stopTimeout: positiveDuration.optional(),
  /** Extra tags on the experiment (ours are added). */
  tags: z.record(z.string().min(1).max(128), z.string().max(256)).optional(),
});

export type AwsFisParams = z.output<typeof awsFisParamsSchema>;

const handleSchema = z.object({
  injector: z.literal(KIND),
  region: z.string(),
  endpoint: z.string().optional(),
  experimentId: z.string().min(1),
  runId: z.string(),
  stopTimeoutMs: z.number().positive(),
});
type AwsFisHandle = z.output<typeof handleSchema>;

export interface AwsFisDeps extends InjectorDeps {
  pollIntervalMs?: number;
  cleanupPolicy?: Partial<CloseRetryPolicy>;
  /** Read only to name the credential source in messages. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** FIS's idempotency token for this run: stable, ≤ 64 characters, no secret in it. */
export function clientTokenFor(runId: string): string {
  return `steadystate-${createHash('sha256').update(runId).digest('hex').slice(0, 48)}`;
}

/** Which link of the default credential chain will answer, as far as the environment tells. */
export function credentialSource(env: NodeJS.ProcessEnv): string {
  if (env.AWS_ACCESS_KEY_ID) return 'AWS credentials from environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)';
  if (env.AWS_PROFILE) return `AWS credentials from the shared config profile "${env.AWS_PROFILE}"`;
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE) return 'AWS credentials from a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)';
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return 'AWS credentials from the container credentials endpoint';
  return 'AWS credentials from the default chain (shared config default profile, or instance metadata)';
}

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  code?: unknown;
}

function parseHandle(handle: InjectorHandle): AwsFisHandle {
  const parsed = handleSchema.safeParse(handle);
  if (!parsed.success) {
    throw new InjectorError(`not an aws-fis handle: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      retryable: false,
      code: 'invalid_handle',
    });
  }
  return parsed.data;
}

const statusOf = (e: Experiment | undefined): string => e?.state?.status ?? 'unknown';
const describe = (e: Experiment | undefined): string => `${statusOf(e)}${e?.state?.reason ? ` (${e.state.reason})` : ''}`;

export function createAwsFisInjector(params: AwsFisParams, deps: AwsFisDeps = {}): Injector {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_MS;
  const startTimeoutMs = params.startTimeout ?? DEFAULT_START_TIMEOUT_MS;
  const stopTimeoutMs = params.stopTimeout ?? DEFAULT_STOP_TIMEOUT_MS;
  const cleanupPolicy = { ...DEFAULT_CLEANUP_POLICY, ...deps.cleanupPolicy };
  const clients = new Map<string, FisClient>();

  // Handles carry region and endpoint, so another process can stop the experiment.
  const clientFor = (sdk: FisSdk, region: string, endpoint: string | undefined): FisClient => {
    const key = `${region} ${endpoint ?? ''}`;
    let client = clients.get(key);
    if (!client) {
      client = new sdk.FisClient({
        region,
        maxAttempts: 1,
        // Transport timeouts too, besides our abort signal; they also bound the SDK's socket-warning timer.
        requestHandler: { requestTimeout: timeoutMs, connectionTimeout: timeoutMs },
        ...(endpoint ? { endpoint } : {}),
      });
      clients.set(key, client);
    }
    return client;
  };

  /** The SDK error as an InjectorError: auth fatal (naming the credential source), throttling and 5xx retryable. */
  function mapError(what: string, err: unknown, timedOut: boolean, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) return new AbortedError(`${what}: aborted`);
    if (timedOut) return new InjectorError(`${what}: no answer within ${timeoutMs} ms`, { retryable: true, code: 'injector_timeout' });
    const e = (err ?? {}) as SdkError;
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const said = e.message ? `: ${e.message.slice(0, 300)}` : '';
    const where = status !== undefined ? `${name} (HTTP ${status})` : name;
    if (AUTH_ERRORS.has(name) || status === 401 || status === 403) {
      return new InjectorError(`${what}: ${where}; ${credentialSource(deps.env ?? process.env)}${said}`, { retryable: false, code: 'injector_auth' });
    }
    if (status === undefined) {
      // No HTTP answer: the network, DNS, a reset. Only the error's name and code, not its message.
      const code = typeof e.code === 'string' ? ` (${e.code})` : '';
      return new InjectorError(`${what}: network error ${name}${code}`, { retryable: true, code: 'injector_network' });
    }
    if (status === 404 || name === 'ResourceNotFoundException') return new InjectorError(`${what}: ${where}${said}`, { retryable: false, code: 'injector_not_found' });
    const retryable = status === 429 || status >= 500 || name === 'ThrottlingException' || e.$retryable !== undefined;
    return new InjectorError(`${what}: ${where}${said}`, { retryable, code: 'injector_http_error' });
  }

  async function call<T>(what: string, region: string, endpoint: string | undefined, signal: AbortSignal | undefined, run: (c: FisClient, abortSignal: AbortSignal, sdk: FisSdk) => Promise<T>): Promise<T> {
    if (signal?.aborted) throw new AbortedError(`${what}: aborted`);
    const limit = requestSignal(timeoutMs, signal);
    try {
      const sdk = await loadSdk();
      return await run(clientFor(sdk, region, endpoint), limit.signal, sdk);
    } catch (err) {
      throw mapError(what, err, limit.timedOut(), signal);
    } finally {
      limit.done();
    }
  }

  const getExperiment = (h: AwsFisHandle, what: string, signal?: AbortSignal): Promise<Experiment | undefined> =>
    call(what, h.region, h.endpoint, signal, (c, abortSignal, sdk) => c.send(new sdk.GetExperimentCommand({ id: h.experimentId }), { abortSignal })).then(
      (out) => out.experiment,
      (err: unknown) => {
        if (err instanceof InjectorError && err.code === 'injector_not_found') return undefined;
        throw err;
      },
    );

  const handleFor = (experimentId: string, runId: string): AwsFisHandle => ({
    injector: KIND,
    region: params.region,
    ...(params.endpoint ? { endpoint: params.endpoint } : {}),
    experimentId,
    runId,
    stopTimeoutMs,
  });

  const injector: Injector = {
    kind: KIND,

    async open(ctx: OpenContext): Promise<InjectorHandle> {
      const what = `${KIND} open`;
      if (ctx.deadline.getTime() <= Date.now()) {
        throw new InjectorError(`${what}: the window's deadline has already passed`, { retryable: false, code: 'injector_deadline' });
      }
      const tags = { ...params.tags, [RUN_ID_TAG]: ctx.runId, [MANAGED_BY_TAG]: 'steadystate', [EXPERIMENT_TAG]: ctx.experiment.slice(0, 256) };
      const started = await call(`${what}: StartExperiment`, params.region, params.endpoint, ctx.signal, (c, abortSignal, sdk) =>
        c.send(new sdk.StartExperimentCommand({ clientToken: clientTokenFor(ctx.runId), experimentTemplateId: params.experimentTemplateId, tags }), { abortSignal }),
      );
      const id = started.experiment?.id;
      if (!id) throw new InjectorError(`${what}: StartExperiment answered without an experiment id`, { retryable: false, code: 'injector_bad_response' });
      const handle = handleFor(id, ctx.runId);

      const cleanup = async (): Promise<string> => {
        try {
          await closeWithRetry(injector, handle, cleanupPolicy);
          return `experiment ${id} was stopped`;
        } catch (err) {
          return `stopping experiment ${id} failed too (${err instanceof Error ? err.message : String(err)}); the orphan sweep will stop it`;
        }
      };

      const waitMs = Math.min(startTimeoutMs, Math.max(0, ctx.deadline.getTime() - Date.now()));
      let last: Experiment | undefined = started.experiment;
      let outcome;
      try {
        outcome = await pollUntil({
          read: (signal) => getExperiment(handle, `${what}: GetExperiment`, signal),
          judge: (exp) => {
            if (exp === undefined) return { done: false, failed: 'the experiment was not found after it started' };
            last = exp;
            const status = statusOf(exp);
            if (status === 'running') return { done: true };
            if (TERMINAL.has(status)) return { done: false, failed: `the experiment ended before it ran: ${describe(exp)}` };
            return { done: false, detail: describe(exp) };
          },
          timeoutMs: waitMs,
          intervalMs: pollIntervalMs,
          signal: ctx.signal,
        });
      } catch (err) {
        const cleaned = await cleanup();
        if (err instanceof InjectorError) throw new InjectorError(`${err.message}; ${cleaned}`, { retryable: false, code: err.code, cause: err });
        throw err;
      }
      if (outcome.outcome !== 'done') {
        const why = outcome.outcome === 'failed' ? outcome.reason : `not running within ${waitMs} ms (${describe(last)})`;
        const cleaned = await cleanup();
        throw new InjectorError(`${what}: experiment ${id} (template ${params.experimentTemplateId}): ${why}; ${cleaned}`, {
          retryable: false,
          code: 'injector_not_injected',
        });
      }
      return handle;
    },

    // One attempt: closeWithRetry (./close.ts) owns the retry policy.
    async close(raw: InjectorHandle, signal?: AbortSignal): Promise<void> {
      const h = parseHandle(raw);
      const what = `${KIND} close`;
      try {
        await call(`${what}: StopExperiment`, h.region, h.endpoint, signal, (c, abortSignal, sdk) => c.send(new sdk.StopExperimentCommand({ id: h.experimentId }), { abortSignal }));
      } catch (err) {
        if (!(err instanceof InjectorError) || err.retryable || err.code === 'injector_auth') throw err;
        if (err.code === 'injector_not_found') return;
        // FIS refuses to stop an experiment that is already over; that is the outcome we want.
        const exp = await getExperiment(h, `${what}: GetExperiment`, signal);
        if (exp === undefined || TERMINAL.has(statusOf(exp))) return;
        throw err;
      }
      let last: Experiment | undefined;
      const outcome = await pollUntil({
        read: (s) => getExperiment(h, `${what}: GetExperiment`, s),
        judge: (exp) => {
          last = exp;
          return exp === undefined || TERMINAL.has(statusOf(exp)) ? { done: true } : { done: false, detail: describe(exp) };
        },
        timeoutMs: h.stopTimeoutMs,
        intervalMs: pollIntervalMs,
        signal,
      });
      if (outcome.outcome !== 'done') {
        throw new InjectorError(`${what}: experiment ${h.experimentId} not stopped ${h.stopTimeoutMs} ms after StopExperiment (${describe(last)})`, {
          retryable: true,
          code: 'injector_not_recovered',
        });
      }
    },

    async status(raw: InjectorHandle, signal?: AbortSignal): Promise<InjectorStatus> {
      const h = parseHandle(raw);
      let exp: Experiment | undefined;
      try {
        exp = await getExperiment(h, `${KIND} status: GetExperiment`, signal);
      } catch (err) {
        if (err instanceof AbortedError) throw err;
        return { state: 'unknown', detail: err instanceof Error ? err.message : String(err) };
      }
      if (exp === undefined) return { state: 'closed', detail: `experiment ${h.experimentId} not found` };
      const status = statusOf(exp);
      if (TERMINAL.has(status)) return { state: 'closed', detail: describe(exp) };
      // `stopping`: the actions are being rolled back, the fault may still be in effect.
      if (status === 'running' || status === 'stopping') return { state: 'active', detail: describe(exp) };
      return { state: 'unknown', detail: describe(exp) };
    },

    /** The template exists and we may read it. */
    async check(signal?: AbortSignal): Promise<void> {
      await call(`${KIND} check: GetExperimentTemplate ${params.experimentTemplateId}`, params.region, params.endpoint, signal, (c, abortSignal, sdk) =>
        c.send(new sdk.GetExperimentTemplateCommand({ id: params.experimentTemplateId }), { abortSignal }),
      );
    },

    /** Experiments tagged as ours that have not ended, in this region. */
    async listOwned(signal?: AbortSignal): Promise<OwnedFault[]> {
      const owned: OwnedFault[] = [];
      let nextToken: string | undefined;
      do {
        const page = await call(`${KIND} list: ListExperiments`, params.region, params.endpoint, signal, (c, abortSignal, sdk) =>
          c.send(new sdk.ListExperimentsCommand({ maxResults: 100, ...(nextToken ? { nextToken } : {}) }), { abortSignal }),
        );
        for (const exp of page.experiments ?? []) {
          const runId = exp.tags?.[RUN_ID_TAG];
          if (exp.tags?.[MANAGED_BY_TAG] !== 'steadystate' || !runId || !exp.id || TERMINAL.has(exp.state?.status ?? '')) continue;
          owned.push({ runId, ref: `fis experiment ${exp.id}`, handle: handleFor(exp.id, runId) });
        }
        nextToken = page.nextToken;
      } while (nextToken);
      return owned;
    },
  };
  return injector;
}

export const awsFisInjector: InjectorFactory<AwsFisParams> = {
  kind: KIND,
  paramsSchema: awsFisParamsSchema,
  create(params: AwsFisParams, deps: AwsFisDeps = {}): Injector {
    return createAwsFisInjector(params, deps);
  },
};

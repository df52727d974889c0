/**
 * Datadog metric source: range queries through the Metrics API and a preflight
 * check that says which of key, site or network is wrong.
 *
 * Main path: v2 `POST /api/v2/query/timeseries`, because
 * - it takes an explicit `interval` (ms), so we ask for the run's step instead
 *   of Datadog's automatic rollup, and samples line up with the engine's steps;
 * - `from`, `to` and the returned `times` are all milliseconds: no rounding of
 *   the window's edges to whole seconds;
 * - the query travels in a JSON body, so long CUJ filters never meet URL length
 *   limits and queries stay out of proxies' access logs;
 * - it is the API Datadog documents for new clients (v1 `/api/v1/query` is the
 *   older "query timeseries points" endpoint).
 * v2 takes one metric query per named query; arithmetic between them is a
 * formula. Users write queries the way dashboards and monitors show them
 * (`sum:a{x}.as_count() / sum:b{x}.as_count()`), so `toV2Queries` splits such
 * an expression into named queries plus one formula.
 *
 * v1 `GET /api/v1/query` is used only when the source says `api: v1`: for an
 * expression the split cannot express (v1 evaluates the whole expression on
 * the server), and for Datadog-compatible endpoints that implement only v1.
 * Its `from`/`to` are Unix seconds; its points are milliseconds.
 *
 * What this adapter guarantees beyond the port:
 * - `null` points are missing data: dropped and counted in `nonFinite`, never
 *   read as zero; a response with no non-null point is NoDataError.
 * - Keys come from `DD_API_KEY` / `DD_APP_KEY` (or `DD_APPLICATION_KEY`) or
 *   from files (`apiKeyFile`, `appKeyFile`, only under the operator's
 *   STEADYSTATE_SECRET_FILE_DIRS), never from the spec. The API URL is checked
 *   against the operator's policy before every request, and a non-2xx body
 *   is quoted only as Datadog's own short `errors[]`, redacted. Errors name
 *   the key and where it came from, never its value; axios errors (which carry
 *   the request headers) are replaced by scrubbed copies.
 * - Rate limits: a 429 waits for `X-RateLimit-Reset` seconds (at most
 *   `maxRateLimitWait`, and never past the caller's signal) and retries; when
 *   `X-RateLimit-Remaining` runs low, requests are spread over the time left
 *   until the reset instead of spending the budget at once.
 * - 5xx, timeouts and network failures are retried with exponential backoff
 *   and full jitter; each attempt has a hard wall-clock deadline (`timeout`),
 *   meant to be shorter than the guardrail interval so one slow answer leaves
 *   room for a retry within the same evaluation.
 */
import { readFile } from 'node:fs/promises';
import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import { formatDuration } from '../lib/duration.ts';
import { AbortedError, ConfigError, NoDataError, SourceError } from '../lib/errors.ts';
import { isRetryableError, retry, sleep, type RetryTuning } from '../lib/retry.ts';
import { redactText, registerSecretValues } from '../lib/redact.ts';
import { urlPolicyProblem } from '../security/outbound-url.ts';
import { DEFAULT_POLICY, fileReferenceProblem, PolicyError, type SecurityPolicy } from '../security/policy.ts';
import { DATADOG_SITES, datadogConfigSchema, DEFAULT_SITE, normalizeSite, type DatadogConfig } from './datadog-config.ts';
import type { MetricSource, MetricSourceFactory, QueryResult, Sample, Series, SourceDeps, TimeRange } from './types.ts';

export { DATADOG_SITES, datadogConfigSchema, DEFAULT_SITE, normalizeSite } from './datadog-config.ts';
export type { DatadogConfig, DatadogConfigInput } from './datadog-config.ts';

/** Below the default guardrail interval (5 s), so a timed-out attempt leaves time for one retry. */
export const DEFAULT_TIMEOUT_MS = 3_000;
/** At most this many 429 waits per call, on top of the backoff attempts. */
const MAX_RATE_LIMIT_WAITS = 3;
/** Pace requests once fewer than this share of the window's budget is left. */
const LOW_WATER_FRACTION = 0.05;
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 2_000;
/** A cheap query for the application-key probe; any valid query answers 200, data or not. */
export const PROBE_QUERY = 'avg:datadog.agent.running{*}';

export interface DatadogDeps extends SourceDeps {
  /** Where `DD_*` variables are read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Backoff knobs (tests shorten them). */
  retry?: RetryTuning;
}

interface Key {
  value: string;
  /** Where it came from, for messages: `DD_API_KEY` or `apiKeyFile /run/secrets/dd`. */
  from: string;
}

interface Keys {
  api: Key;
  app: Key;
}

interface RawResponse {
  status: number;
  body: string;
  contentType: string;
  headers: Record<string, string>;
}

interface Budget {
  limit: number;
  remaining: number;
  resetAt: number;
}

/** One v2 metrics query, and the formula that combines them (absent for a single query). */
export interface V2Queries {
  queries: { data_source: 'metrics'; query: string; name: string }[];
  formulas?: { formula: string }[];
}

/**
 * One metric query as Datadog writes them: `agg:metric{scope}` followed by any
 * of ` by {tags}` and `.fn(args)` (`.as_count()`, `.rollup(sum, 60)`, `.fill(zero)`).
 */
const METRIC_QUERY_RE =
  /(?<![\w.])(?:avg|sum|min|max|count|p\d{1,2}(?:\.\d{1,2})?):[A-Za-z][\w.]*\s*\{[^{}]*\}(?:\s*by\s*\{[^{}]*\}|\.[A-Za-z_]\w*\([^()]*\))*/g;

/**
 * Split an expression into v2 named queries and a formula. A lone metric query
 * (or anything we do not recognise as one) is sent as is, for Datadog to judge.
 * Identical metric queries share one name.
 */
export function toV2Queries(query: string): V2Queries {
  const trimmed = query.trim();
  const matches = [...trimmed.matchAll(METRIC_QUERY_RE)];
  const single = matches.length === 1 && matches[0]?.[0] === trimmed;
  if (matches.length === 0 || single) {
    return { queries: [{ data_source: 'metrics', query: trimmed, name: 'query1' }] };
  }
  const names = new Map<string, string>();
  const formula = trimmed.replace(METRIC_QUERY_RE, (text) => {
    let name = names.get(text);
    if (!name) {
      name = `query${names.size + 1}`;
      names.set(text, name);
    }
    return name;
  });
  // What is left must be arithmetic and function calls over the names; a tag
  // scope or a colon left over is a metric query the pattern did not recognise.
  if (/[{}:]/.test(formula)) {
    throw new SourceError(
      `cannot split ${JSON.stringify(truncate(trimmed, 300))} into v2 metric queries and a formula ` +
        `(left over: ${JSON.stringify(truncate(formula, 200))}); write each metric query as agg:metric{scope}, or set api: v1 on the source`,
      { code: 'datadog_unsupported_query', retryable: false },
    );
  }
  return {
    queries: [...names].map(([text, name]) => ({ data_source: 'metrics' as const, query: text, name })),
    formulas: [{ formula }],
  };
}

const v2Response = z.object({
  data: z
    .object({
      attributes: z.object({
        series: z
          .array(z.object({ group_tags: z.array(z.string()).nullish(), query_index: z.number().optional() }))
          .nullish(),
        times: z.array(z.number()).nullish(),
        values: z.array(z.array(z.number().nullable())).nullish(),
      }),
    })
    .nullish(),
  errors: z.string().nullish(),
});

const v1Response = z.object({
  status: z.string().optional(),
  error: z.string().nullish(),
  series: z
    .array(
      z.object({
        metric: z.string().optional(),
        scope: z.string().optional(),
        tag_set: z.array(z.string()).nullish(),
        pointlist: z.array(z.tuple([z.number(), z.number().nullable()])).nullish(),
      }),
    )
    .nullish(),
});

const validateResponse = z.object({ valid: z.literal(true) });

/** Datadog's error body: `{"errors": ["..."]}`. */
const errorsBody = z.object({ errors: z.array(z.string()) });

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** `["group:control", "service:shop"]` → `{ group: "control", service: "shop" }`; bare tags get "". */
function tagsToLabels(tags: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const tag of tags) {
    const i = tag.indexOf(':');
    const key = i < 0 ? tag : tag.slice(0, i);
    const value = i < 0 ? '' : tag.slice(i + 1);
    // A tag key can carry several values on one series (multi-valued tags).
    labels[key] = key in labels ? `${labels[key]},${value}` : value;
  }
  return labels;
}

/** Transport error codes that mean "nothing Datadog-like at this host": a wrong site or url. */
const WRONG_SITE_CODES = new Set(['ENOTFOUND', 'ECONNREFUSED']);

function errorCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const inner = err instanceof AggregateError ? (err.errors[0] as unknown) : (err as { cause?: unknown }).cause;
  return inner instanceof Error ? errorCode(inner) : undefined;
}

export class DatadogSource implements MetricSource {
  readonly kind = 'datadog';
  /** API base URL: safe for messages and logs. */
  readonly url: string;
  /** The site queried, or undefined when `url` overrides it. */
  readonly site: string | undefined;
  readonly api: 'v1' | 'v2';
  readonly stepMs: number;
  readonly timeoutMs: number;
  readonly attempts: number;
  readonly maxRateLimitWaitMs: number;
  private readonly http: AxiosInstance;
  private readonly config: DatadogConfig;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly tuning: RetryTuning;
  private readonly policy: SecurityPolicy;
  private keysPromise: Promise<Keys> | undefined;
  /** Every string that must never be shown: the keys, once read. */
  private secrets: string[] = [];
  private budget: Budget | undefined;

  constructor(config: DatadogConfig, deps: DatadogDeps = {}) {
    this.config = config;
    this.env = deps.env ?? process.env;
    this.tuning = deps.retry ?? {};
    this.policy = deps.policy ?? DEFAULT_POLICY;
    if (config.url) {
      this.site = undefined;
      const u = new URL(config.url);
      this.url = `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
    } else {
      const fromEnv = this.env.DD_SITE ? normalizeSite(this.env.DD_SITE) : undefined;
      if (this.env.DD_SITE && !fromEnv) {
        throw new ConfigError(`DD_SITE="${this.env.DD_SITE}" is not a Datadog site; known: ${Object.keys(DATADOG_SITES).join(', ')}`);
      }
      this.site = config.site ?? fromEnv ?? DEFAULT_SITE;
      this.url = `https://${DATADOG_SITES[this.site] ?? `api.${this.site}`}`;
    }
    this.api = config.api;
    this.stepMs = config.step;
    this.timeoutMs = config.timeout ?? deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attempts = config.attempts;
    this.maxRateLimitWaitMs = config.maxRateLimitWait;
    this.http = axios.create({
      headers: { Accept: 'application/json' },
      // A redirect from an API endpoint means a wrong site or a login page;
      // following it would send the keys elsewhere.
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
    });
  }

  async queryRange(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult> {
    const what = `datadog ${this.url}: query ${JSON.stringify(truncate(query, 300))}`;
    if (signal?.aborted) throw new AbortedError(`${what} aborted before it was sent`);
    const startMs = range.start.getTime();
    const endMs = range.end.getTime();
    const stepMs = Number.isFinite(range.stepMs) && range.stepMs > 0 ? range.stepMs : this.stepMs;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) {
      throw new SourceError(`${what}: invalid range (start must be a valid time not after end)`, { code: 'invalid_range', retryable: false });
    }
    const keys = await this.keys();
    const { series, warnings } =
      this.api === 'v2'
        ? await this.queryV2(query, startMs, endMs, stepMs, keys, what, signal)
        : await this.queryV1(query, startMs, endMs, keys, what, signal);

    const finite = series.reduce((n, s) => n + s.samples.length, 0);
    if (finite === 0) {
      const window = `between ${range.start.toISOString()} and ${range.end.toISOString()}`;
      const nulls = series.reduce((n, s) => n + s.nonFinite, 0);
      let reason =
        series.length === 0
          ? `Datadog returned no series ${window} (the query matches no tags, or nothing was reported then)`
          : `${series.length} series ${window}, but all ${nulls} points were null (missing data, not zero)`;
      if (warnings.length > 0) reason += `; warnings: ${warnings.join('; ')}`;
      throw new NoDataError(query, reason);
    }
    return { series, warnings };
  }

  /**
   * Preflight, in the order that tells causes apart: keys present; the API key
   * accepted by `GET /api/v1/validate` (a 404, an unresolvable host or a refused
   * connection mean a wrong site or url; timeouts and resets a network
   * failure); then one tiny query, which only the application key can fail.
   */
  async check(signal?: AbortSignal): Promise<void> {
    const what = `datadog ${this.url}: check`;
    if (signal?.aborted) throw new AbortedError(`${what} aborted before it was sent`);
    const keys = await this.keys();
    const res = await this.request(
      { method: 'GET', path: '/api/v1/validate', headers: { 'DD-API-KEY': keys.api.value } },
      what,
      signal,
    );
    if (res.status === 401 || res.status === 403) throw this.invalidApiKey(keys, res.status);
    if (res.status === 404) throw this.wrongSite(`${what}: /api/v1/validate answered HTTP 404: no Datadog API here`);
    if (res.status < 200 || res.status >= 300) throw this.httpError(res, what, keys);
    if (!validateResponse.safeParse(parseJson(res.body)).success) {
      throw this.wrongSite(
        `${what}: /api/v1/validate answered HTTP ${res.status} (${res.contentType || 'no content type'}) without {"valid": true}: not a Datadog API`,
      );
    }

    const end = Date.now();
    const start = end - 60_000;
    const probe =
      this.api === 'v2'
        ? await this.request(this.v2Request(PROBE_QUERY, start, end, 60_000, keys), what, signal)
        : await this.request(this.v1Request(PROBE_QUERY, start, end, keys), what, signal);
    if (probe.status === 401 || probe.status === 403) throw this.invalidAppKey(keys, probe.status);
    if (probe.status < 200 || probe.status >= 300) throw this.httpError(probe, `${what}: probe query`, keys);
  }

  private v2Request(query: string, startMs: number, endMs: number, stepMs: number, keys: Keys): RequestSpec {
    return {
      method: 'POST',
      path: '/api/v2/query/timeseries',
      headers: this.authHeaders(keys),
      body: {
        data: {
          type: 'timeseries_request',
          attributes: {
            // Milliseconds. `to` is exclusive in v2: the point at `end` itself is
            // left out on purpose, its bucket [end, end + step) is still filling;
            // a one-instant range [t, t] asks for the bucket holding t.
            from: startMs,
            to: Math.max(endMs, startMs + 1),
            interval: stepMs,
            ...toV2Queries(query),
          },
        },
      },
    };
  }

  private v1Request(query: string, startMs: number, endMs: number, keys: Keys): RequestSpec {
    return {
      method: 'GET',
      path: '/api/v1/query',
      headers: this.authHeaders(keys),
      // Seconds: the whole range, rounded outwards.
      params: { from: String(Math.floor(startMs / 1000)), to: String(Math.ceil(endMs / 1000)), query },
    };
  }

  private async queryV2(
    query: string,
    startMs: number,
    endMs: number,
    stepMs: number,
    keys: Keys,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<{ series: Series[]; warnings: string[] }> {
    const request = this.v2Request(query, startMs, endMs, stepMs, keys);
    const res = await this.request(request, what, signal);
    if (res.status === 401 || res.status === 403) throw await this.diagnoseForbidden(keys, res.status, what, signal);
    if (res.status < 200 || res.status >= 300) throw this.httpError(res, what, keys);
    const parsed = v2Response.safeParse(parseJson(res.body));
    if (!parsed.success) throw this.badResponse(what, res, 'not a v2 timeseries response');
    const errors = parsed.data.errors ? this.redact(parsed.data.errors) : undefined;
    const attributes = parsed.data.data?.attributes;
    const rawSeries = attributes?.series ?? [];
    if (!attributes || rawSeries.length === 0) {
      if (errors) throw new SourceError(`${what} failed: ${truncate(errors, 1_000)}`, { code: 'datadog_query_error', retryable: false });
      return { series: [], warnings: [] };
    }
    const times = attributes.times ?? [];
    const values = attributes.values ?? [];
    if (values.length !== rawSeries.length || values.some((v) => v.length !== times.length)) {
      throw this.badResponse(what, res, `${rawSeries.length} series, ${values.length} value arrays and ${times.length} times do not line up`);
    }
    this.checkTimes(times, startMs, endMs, stepMs, what, res);
    const series = rawSeries.map((s, i) => {
      const samples: Sample[] = [];
      let nonFinite = 0;
      (values[i] ?? []).forEach((v, j) => {
        if (v === null || !Number.isFinite(v)) nonFinite += 1;
        else samples.push({ t: Math.round(times[j] as number), v });
      });
      // The last bucket, null or not: a series ending on null is missing data now.
      const lastT = times.length > 0 ? Math.round(times[times.length - 1] as number) : undefined;
      return { labels: tagsToLabels(s.group_tags ?? []), samples, nonFinite, ...(lastT !== undefined ? { lastT } : {}) };
    });
    return { series, warnings: errors ? [truncate(errors, 1_000)] : [] };
  }

  private async queryV1(
    query: string,
    startMs: number,
    endMs: number,
    keys: Keys,
    what: string,
    signal: AbortSignal | undefined,
  ): Promise<{ series: Series[]; warnings: string[] }> {
    const res = await this.request(this.v1Request(query, startMs, endMs, keys), what, signal);
    if (res.status === 401 || res.status === 403) throw await this.diagnoseForbidden(keys, res.status, what, signal);
    if (res.status < 200 || res.status >= 300) throw this.httpError(res, what, keys);
    const parsed = v1Response.safeParse(parseJson(res.body));
    if (!parsed.success) throw this.badResponse(what, res, 'not a v1 query response');
    if (parsed.data.status === 'error' || parsed.data.error) {
      const message = this.redact(parsed.data.error ?? 'status "error"');
      throw new SourceError(`${what} failed: ${truncate(message, 1_000)}`, { code: 'datadog_query_error', retryable: false });
    }
    const series: Series[] = [];
    for (const raw of parsed.data.series ?? []) {
      const points = raw.pointlist ?? [];
      this.checkTimes(
        points.map(([t]) => t),
        startMs,
        endMs,
        0,
        what,
        res,
      );
      const samples: Sample[] = [];
      let nonFinite = 0;
      for (const [t, v] of points) {
        if (v === null || !Number.isFinite(v)) nonFinite += 1;
        else samples.push({ t: Math.round(t), v });
      }
      const tags = raw.tag_set && raw.tag_set.length > 0 ? raw.tag_set : raw.scope && raw.scope !== '*' ? raw.scope.split(',') : [];
      const last = points.at(-1);
      series.push({ labels: tagsToLabels(tags), samples, nonFinite, ...(last ? { lastT: Math.round(last[0]) } : {}) });
    }
    return { series, warnings: [] };
  }

  /**
   * Times far outside the asked range mean a unit mismatch (seconds read as
   * milliseconds or the reverse); refusing them beats judging 1970.
   */
  private checkTimes(times: readonly number[], startMs: number, endMs: number, stepMs: number, what: string, res: RawResponse): void {
    const slack = Math.max(stepMs, 3_600_000);
    const bad = times.find((t) => !Number.isFinite(t) || t < startMs - slack || t > endMs + slack);
    if (bad !== undefined) {
      throw this.badResponse(
        what,
        res,
        `point time ${bad} is not in milliseconds within the asked range ${startMs}–${endMs}`,
      );
    }
  }

  private authHeaders(keys: Keys): Record<string, string> {
    return { 'DD-API-KEY': keys.api.value, 'DD-APPLICATION-KEY': keys.app.value };
  }

  /** Read both keys once; missing or unreadable keys are errors that say where to put them. */
  private keys(): Promise<Keys> {
    this.keysPromise ??= (async () => {
      const api = await this.readKey('API key', this.config.apiKeyFile, ['DD_API_KEY'], 'datadog_missing_api_key', 'apiKeyFile');
      const app = await this.readKey(
        'application key',
        this.config.appKeyFile,
        ['DD_APP_KEY', 'DD_APPLICATION_KEY'],
        'datadog_missing_app_key',
        'appKeyFile',
      );
      // Very short strings are skipped: redacting every "a" would garble messages.
      this.secrets = [api.value, app.value].filter((s) => s.length >= 3);
      registerSecretValues(this.secrets);
      return { api, app };
    })();
    // A failed read is not cached: the operator may fix the file and retry.
    this.keysPromise.catch(() => {
      this.keysPromise = undefined;
    });
    return this.keysPromise;
  }

  private async readKey(label: string, file: string | undefined, envNames: string[], code: string, fileField: string): Promise<Key> {
    let value: string | undefined;
    let from: string;
    if (file) {
      from = `${fileField} ${file}`;
      // A spec could otherwise name any local file and have it sent as a key.
      const refused = fileReferenceProblem(file, this.policy);
      if (refused) throw new PolicyError(`datadog: ${fileField}: ${refused}`);
      try {
        value = (await readFile(file, 'utf8')).trim();
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new SourceError(`datadog: the ${label} file ${file} cannot be read (${reason})`, { code, retryable: false });
      }
    } else {
      const name = envNames.find((n) => (this.env[n] ?? '').trim() !== '');
      from = name ?? envNames[0] ?? '';
      value = name ? this.env[name]?.trim() : undefined;
    }
    if (!value) {
      throw new SourceError(
        file
          ? `datadog: the ${label} file ${file} is empty`
          : `datadog: no ${label}: set ${envNames.join(' or ')}, or ${fileField} on the source`,
        { code, retryable: false },
      );
    }
    // Header values cannot hold these; say so without showing the value.
    // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
    if (/[\u0000-\u001f\u007f\s]/.test(value)) {
      throw new SourceError(`datadog: the ${label} from ${from} contains whitespace or control characters (value not shown)`, {
        code,
        retryable: false,
      });
    }
    return { value, from };
  }

  /**
   * Send with the retry policy: 429 waits for the reset and resends (bounded),
   * 5xx, timeouts and network failures back off with full jitter. Returns the
   * first answer that is neither; the caller maps it.
   */
  private async request(spec: RequestSpec, what: string, signal: AbortSignal | undefined): Promise<RawResponse> {
    const final = new WeakSet<object>();
    let rateLimitWaits = 0;
    return retry(
      async () => {
        for (;;) {
          await this.pace(what, signal, final);
          const res = await this.sendOnce(spec, what, signal);
          this.noteBudget(res);
          if (res.status === 429) {
            const waitMs = this.resetWaitMs(res);
            if (waitMs === undefined) {
              // No reset header: fall back to the backoff schedule.
              throw new SourceError(`${what}: rate limited (HTTP 429, no X-RateLimit-Reset)`, { code: 'datadog_rate_limited', retryable: true });
            }
            if (waitMs > this.maxRateLimitWaitMs || rateLimitWaits >= MAX_RATE_LIMIT_WAITS) {
              const err = new SourceError(
                `${what}: rate limited (HTTP 429${res.headers['x-ratelimit-name'] ? `, limit ${res.headers['x-ratelimit-name']}` : ''}); ` +
                  (waitMs > this.maxRateLimitWaitMs
                    ? `the limit resets in ${formatDuration(waitMs)}, longer than maxRateLimitWait ${formatDuration(this.maxRateLimitWaitMs)}`
                    : `still limited after ${rateLimitWaits} waits for the reset`),
                { code: 'datadog_rate_limited', retryable: true },
              );
              final.add(err);
              throw err;
            }
            rateLimitWaits += 1;
            await sleep(waitMs, signal);
            continue;
          }
          if (res.status >= 500 || res.status === 408) {
            const snippet = this.errorText(res);
            throw new SourceError(`${what}: Datadog answered HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`, {
              code: 'datadog_server_error',
              retryable: true,
            });
          }
          return res;
        }
      },
      {
        attempts: this.attempts,
        baseMs: this.tuning.baseMs ?? BACKOFF_BASE_MS,
        maxMs: this.tuning.maxMs ?? BACKOFF_MAX_MS,
        ...(signal ? { signal } : {}),
        ...(this.tuning.random ? { random: this.tuning.random } : {}),
        ...(this.tuning.sleep ? { sleep: this.tuning.sleep } : {}),
        ...(this.tuning.onRetry ? { onRetry: this.tuning.onRetry } : {}),
        isRetryable: (err) => !(typeof err === 'object' && err !== null && final.has(err)) && isRetryableError(err),
      },
    );
  }

  /** Seconds until the limit resets (X-RateLimit-Reset, else Retry-After), in ms. */
  private resetWaitMs(res: RawResponse): number | undefined {
    for (const name of ['x-ratelimit-reset', 'retry-after']) {
      const text = res.headers[name];
      if (text !== undefined && /^\d+(\.\d+)?$/.test(text.trim())) return Math.ceil(Number(text) * 1000);
    }
    return undefined;
  }

  /** Remember the rate-limit window a response announced. */
  private noteBudget(res: RawResponse): void {
    const remaining = Number(res.headers['x-ratelimit-remaining']);
    const reset = Number(res.headers['x-ratelimit-reset']);
    if (res.headers['x-ratelimit-remaining'] === undefined || !Number.isFinite(remaining) || !Number.isFinite(reset) || reset < 0) return;
    const limit = Number(res.headers['x-ratelimit-limit']);
    this.budget = { limit: Number.isFinite(limit) && limit > 0 ? limit : remaining + 1, remaining, resetAt: Date.now() + reset * 1000 };
  }

  /**
   * Slow down before the budget runs out: with few requests left in the
   * window, spread them over the time until the reset; with none left, wait
   * for the reset. Bounded by maxRateLimitWait and by the caller's signal.
   */
  private async pace(what: string, signal: AbortSignal | undefined, final: WeakSet<object>): Promise<void> {
    const b = this.budget;
    if (!b) return;
    const now = Date.now();
    if (now >= b.resetAt) {
      this.budget = undefined;
      return;
    }
    const lowWater = Math.max(1, Math.floor(b.limit * LOW_WATER_FRACTION));
    if (b.remaining > lowWater) {
      b.remaining -= 1;
      return;
    }
    const untilReset = b.resetAt - now;
    const waitMs = b.remaining <= 0 ? untilReset : Math.ceil(untilReset / (b.remaining + 1));
    if (waitMs > this.maxRateLimitWaitMs) {
      const err = new SourceError(
        `${what}: rate-limit budget spent (X-RateLimit-Remaining ${b.remaining}); it resets in ${formatDuration(untilReset)}, ` +
          `longer than maxRateLimitWait ${formatDuration(this.maxRateLimitWaitMs)}`,
        { code: 'datadog_rate_limited', retryable: true },
      );
      final.add(err);
      throw err;
    }
    // Reserve before sleeping, so concurrent callers spread out instead of waking together.
    b.remaining -= 1;
    await sleep(waitMs, signal);
  }

  private async sendOnce(spec: RequestSpec, what: string, signal: AbortSignal | undefined): Promise<RawResponse> {
    // The same check as at validation, on the parsed URL, right before the keys go out.
    const refused = urlPolicyProblem(new URL(this.url), this.policy);
    if (refused) throw new PolicyError(`${what}: refused outbound URL: ${refused}`);
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const res = await this.http.request<unknown>({
        method: spec.method,
        url: `${this.url}${spec.path}`,
        headers: { ...spec.headers, ...(spec.body ? { 'Content-Type': 'application/json' } : {}) },
        params: spec.params,
        data: spec.body ? JSON.stringify(spec.body) : undefined,
        signal: combined,
        timeout: this.timeoutMs,
      });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers as Record<string, unknown>)) {
        if (typeof v === 'string') headers[k.toLowerCase()] = v;
        else if (typeof v === 'number') headers[k.toLowerCase()] = String(v);
      }
      return {
        status: res.status,
        body: typeof res.data === 'string' ? res.data : '',
        contentType: headers['content-type'] ?? '',
        headers,
      };
    } catch (err) {
      const cause = this.scrub(err);
      if (signal?.aborted) throw new AbortedError(`${what} aborted`, cause);
      const code = errorCode(err);
      if (deadline.aborted || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
        throw new SourceError(`${what}: no complete answer within ${formatDuration(this.timeoutMs)} (client timeout)`, {
          code: 'datadog_timeout',
          retryable: true,
          cause,
        });
      }
      if (code && WRONG_SITE_CODES.has(code)) {
        throw this.wrongSite(
          `${what}: ${code === 'ENOTFOUND' ? 'the host does not resolve' : 'connection refused'} (${code})`,
          cause,
        );
      }
      throw new SourceError(`${what}: network failure (${cause.message}); the site looks right but could not be reached`, {
        code: 'datadog_network',
        retryable: true,
        cause,
      });
    }
  }

  private wrongSite(message: string, cause?: unknown): SourceError {
    const hint = this.site
      ? `check \`site\` (now ${this.site} → ${this.url}) or set \`url\``
      : `check \`url\` (now ${this.url})`;
    return new SourceError(`${message}; wrong Datadog site? ${hint}`, { code: 'datadog_wrong_site', retryable: false, cause });
  }

  private invalidApiKey(keys: Keys, status: number): SourceError {
    return new SourceError(
      `datadog ${this.url}: the API key from ${keys.api.from} was refused (HTTP ${status}): it is wrong, revoked, ` +
        `or belongs to another Datadog site (keys are per site${this.site ? `; this source uses ${this.site}` : ''})`,
      { code: 'datadog_invalid_api_key', retryable: false, httpStatus: 502 },
    );
  }

  private invalidAppKey(keys: Keys, status: number): SourceError {
    return new SourceError(
      `datadog ${this.url}: the application key from ${keys.app.from} was refused (HTTP ${status}) while the API key from ` +
        `${keys.api.from} is valid: the application key is wrong, revoked, of another organisation, or lacks the timeseries_query permission`,
      { code: 'datadog_invalid_app_key', retryable: false },
    );
  }

  /** A 403 on a query does not say which key; ask the validate endpoint, which only looks at the API key. */
  private async diagnoseForbidden(keys: Keys, status: number, what: string, signal: AbortSignal | undefined): Promise<SourceError> {
    try {
      const res = await this.sendOnce({ method: 'GET', path: '/api/v1/validate', headers: { 'DD-API-KEY': keys.api.value } }, what, signal);
      if (res.status === 401 || res.status === 403) return this.invalidApiKey(keys, status);
      if (res.status >= 200 && res.status < 300 && validateResponse.safeParse(parseJson(res.body)).success) {
        return this.invalidAppKey(keys, status);
      }
    } catch (err) {
      if (err instanceof AbortedError) throw err;
    }
    return new SourceError(
      `${what}: forbidden (HTTP ${status}): Datadog refused the API key from ${keys.api.from} or the application key from ${keys.app.from}`,
      { code: 'datadog_forbidden', retryable: false },
    );
  }

  private httpError(res: RawResponse, what: string, keys: Keys): SourceError {
    const status = res.status;
    const text = this.errorText(res);
    if (status === 400 || status === 422) {
      return new SourceError(`${what}: Datadog refused the query (HTTP ${status})${text ? `: ${text}` : ''}`, {
        code: 'datadog_bad_query',
        retryable: false,
      });
    }
    if (status === 401 || status === 403) return this.invalidApiKey(keys, status);
    if (status === 404) return this.wrongSite(`${what}: HTTP 404: no Datadog API at this address`);
    if (status >= 300 && status < 400) return this.wrongSite(`${what}: redirected (HTTP ${status})`);
    return new SourceError(`${what}: HTTP ${status}${text ? `: ${text}` : ''}`, { code: 'datadog_http_error', retryable: false });
  }

  /**
   * `errors[]` of a Datadog error body, short and redacted; any other body is
   * not quoted (only its size): `url` may point at an internal endpoint, whose
   * answer would otherwise be read back through the run's reason.
   */
  private errorText(res: RawResponse): string {
    const parsed = errorsBody.safeParse(parseJson(res.body));
    if (!parsed.success) return res.body.length > 0 ? `${res.contentType || 'no content type'}, ${res.body.length} bytes; body not shown` : '';
    return this.redact(truncate(parsed.data.errors.join('; ').replace(/\s+/g, ' '), 200));
  }

  private badResponse(what: string, res: RawResponse, detail: string): SourceError {
    return new SourceError(`${what}: unreadable answer (HTTP ${res.status}, ${res.contentType || 'no content type'}): ${detail}`, {
      code: 'datadog_bad_response',
      retryable: false,
    });
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[redacted]');
    return redactText(out);
  }

  /** A plain Error standing for an axios error, whose `config` holds the key headers. */
  private scrub(err: unknown): Error {
    let message: string;
    const code = errorCode(err);
    if (err instanceof Error) {
      const inner = err instanceof AggregateError ? (err.errors[0] as unknown) : undefined;
      message = err.message || (inner instanceof Error ? inner.message : '') || code || err.name;
    } else {
      message = String(err);
    }
    const clean = new Error(this.redact(message));
    if (code) Object.assign(clean, { code });
    return clean;
  }
}

interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  params?: Record<string, string>;
  body?: unknown;
}

export const datadogSource: MetricSourceFactory<DatadogConfig> = {
  endExclusive: true,
  kind: 'datadog',
  configSchema: datadogConfigSchema,
  create: (config, deps) => new DatadogSource(config, deps),
};

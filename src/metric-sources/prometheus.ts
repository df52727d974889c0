/**
 * Prometheus metric source: range queries over the HTTP API v1
 * (`POST /api/v1/query_range`, form-encoded) and a buildinfo/readiness check.
 *
 * What this adapter guarantees beyond the port:
 * - NaN and ±Inf are dropped and counted, never read as numbers; a malformed
 *   value is an error, never a zero.
 * - Header values (Authorization…) and URL credentials never appear in an
 *   error message, an error's JSON, or its `cause`: axios errors carry the
 *   request config, headers included, so they are replaced by a scrubbed copy.
 * - Every request is bounded by a hard wall-clock deadline, not only by the
 *   socket idle timeout axios offers (a server trickling bytes would defeat it).
 */
import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import { formatDuration } from '../lib/duration.ts';
import { AbortedError, NoDataError, SourceError } from '../lib/errors.ts';
import { redactText } from '../lib/redact.ts';
import { urlPolicyProblem } from '../security/outbound-url.ts';
import { DEFAULT_POLICY, PolicyError, type SecurityPolicy } from '../security/policy.ts';
import { resolveSecretRef, type SecretRef } from '../security/secret-refs.ts';
import { DEFAULT_TIMEOUT_MS, MAX_POINTS_PER_SERIES, prometheusConfigSchema, type PrometheusConfig } from './prometheus-config.ts';
import type {
  MetricSource,
  MetricSourceFactory,
  QueryResult,
  Sample,
  Series,
  SourceDeps,
  TimeRange,
} from './types.ts';

export { DEFAULT_TIMEOUT_MS, MAX_POINTS_PER_SERIES, prometheusConfigSchema } from './prometheus-config.ts';
export type { PrometheusConfig, PrometheusConfigInput } from './prometheus-config.ts';

// errorType values for which the same request may succeed later. bad_data,
// execution and not_found are properties of the query or URL: retrying is noise.
const RETRYABLE_ERROR_TYPES = new Set(['timeout', 'canceled', 'unavailable', 'internal']);
const FATAL_ERROR_TYPES = new Set(['bad_data', 'execution', 'not_found']);

// Prometheus prints floats with strconv 'f' -1 ("0.5", "12"); other
// implementations may use exponents. Anything else (including "") is refused
// rather than risk Number("") === 0.
const FLOAT_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE_TEXT = new Set(['NaN', '+Inf', '-Inf', 'Inf']);

const successEnvelope = z.object({
  status: z.literal('success'),
  data: z.object({ resultType: z.string(), result: z.unknown() }),
  warnings: z.array(z.string()).optional(),
});

// buildinfo's data is {version, revision, branch, ...}; "version" is what
// every Prometheus-compatible server we know of fills in.
const buildInfoEnvelope = z.object({
  status: z.literal('success'),
  data: z.object({ version: z.string() }),
});

const errorEnvelope = z.object({
  status: z.literal('error'),
  errorType: z.string(),
  error: z.string(),
});

const matrixResult = z.array(
  z.object({
    metric: z.record(z.string(), z.string()),
    values: z.array(z.tuple([z.number(), z.string()])).optional(),
    histograms: z.array(z.unknown()).optional(),
  }),
);

interface RawResponse {
  status: number;
  body: string;
  contentType: string;
  location: string | undefined;
  retryAfter: string | undefined;
}

/** The URL as it may be shown: no credentials, no query string, no trailing slash. */
function displayUrl(u: URL): string {
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

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

/** URL userinfo is percent-encoded; a stray "%" must not make the constructor throw. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Unix seconds with millisecond precision, as Prometheus parses them. */
function unixSeconds(d: Date): string {
  return (d.getTime() / 1000).toFixed(3);
}

export class PrometheusSource implements MetricSource {
  readonly kind = 'prometheus';
  readonly evaluatesEveryStep = true;
  readonly groupsByLabel = true;
  /** Base URL without credentials: safe for messages and logs. */
  readonly url: string;
  /** Default resolution for ranges that give no `stepMs`. */
  readonly stepMs: number;
  readonly timeoutMs: number;
  private readonly http: AxiosInstance;
  /** Every string that must never be shown: header values and URL credentials. */
  private readonly secrets: string[];
  /** The configured URL as parsed once: what the policy judges before every request. */
  private readonly target: URL;
  private readonly policy: SecurityPolicy;
  /** Header values given as secret references, resolved on the first request. */
  private readonly refHeaders: [string, SecretRef][];
  private resolvedHeaders: Record<string, string> | undefined;

  constructor(config: PrometheusConfig, deps: SourceDeps = {}) {
    const parsed = new URL(config.url);
    this.target = new URL(config.url);
    this.policy = deps.policy ?? DEFAULT_POLICY;
    const username = safeDecode(parsed.username);
    const password = safeDecode(parsed.password);
    parsed.username = '';
    parsed.password = '';
    this.url = displayUrl(parsed);
    this.stepMs = config.step;
    this.timeoutMs = config.timeout ?? deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;

    const headers: Record<string, string> = {};
    this.refHeaders = [];
    for (const [name, value] of Object.entries(config.headers ?? {})) {
      if (typeof value === 'string') headers[name] = value;
      else this.refHeaders.push([name, value]);
    }
    const hasAuthHeader = Object.keys(config.headers ?? {}).some((k) => k.toLowerCase() === 'authorization');
    // Very short strings are skipped: redacting every "a" would garble messages
    // and such a value protects nothing anyway.
    this.secrets = [...Object.values(headers), username, password].filter((s) => s.length >= 3);

    this.http = axios.create({
      headers: { Accept: 'application/json', ...headers },
      // axios drops an explicit Authorization header when `auth` is set; an
      // explicit header is the more deliberate choice, so it wins.
      ...(!hasAuthHeader && (username || password) ? { auth: { username, password } } : {}),
      // A redirect from an API endpoint means a login page or a wrong URL;
      // following it would send credentials elsewhere and hide the cause.
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
    });
  }

  async queryRange(query: string, range: TimeRange, signal?: AbortSignal): Promise<QueryResult> {
    const what = `prometheus ${this.url}: query_range ${JSON.stringify(truncate(query, 300))}`;
    if (signal?.aborted) throw new AbortedError(`${what} aborted before it was sent`);

    const startMs = range.start.getTime();
    const endMs = range.end.getTime();
    const stepMs = Number.isFinite(range.stepMs) && range.stepMs > 0 ? range.stepMs : this.stepMs;
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) {
      throw new SourceError(`${what}: invalid range (start must be a valid time not after end)`, {
        code: 'invalid_range',
        retryable: false,
      });
    }
    // Checked here so the message can say what to change; Prometheus would
    // only answer bad_data.
    const intervals = (endMs - startMs) / stepMs;
    if (intervals > MAX_POINTS_PER_SERIES) {
      const points = Math.floor(intervals) + 1;
      const minStep = Math.ceil((endMs - startMs) / MAX_POINTS_PER_SERIES);
      throw new SourceError(
        `${what}: ${formatDuration(endMs - startMs)} at step ${formatDuration(stepMs)} is ${points} points per series; ` +
          `Prometheus allows at most ${MAX_POINTS_PER_SERIES}. Use a step of at least ${formatDuration(minStep)} or a shorter range`,
        { code: 'too_many_points', retryable: false },
      );
    }

    const form = new URLSearchParams({
      query,
      start: unixSeconds(range.start),
      end: unixSeconds(range.end),
      step: String(stepMs / 1000),
      timeout: String(this.serverTimeoutMs() / 1000),
    });
    const res = await this.send('POST', '/api/v1/query_range', what, form, signal);
    const body = this.successBody(res, what);

    if (body.data.resultType !== 'matrix') {
      throw new SourceError(`${what}: expected a matrix result, got ${JSON.stringify(truncate(body.data.resultType, 40))}`, {
        code: 'prometheus_unexpected_result',
        retryable: false,
      });
    }
    const matrix = matrixResult.safeParse(body.data.result);
    if (!matrix.success) throw this.badResponse(what, res, 'the matrix does not have the documented shape');

    const series: Series[] = [];
    let finite = 0;
    let nonFiniteTotal = 0;
    for (const raw of matrix.data) {
      if (raw.histograms && raw.histograms.length > 0) {
        throw new SourceError(
          `${what}: the result holds native histograms, which this source cannot judge; ` +
            'query a float (e.g. histogram_quantile(...) or histogram_count(...))',
          { code: 'prometheus_unsupported_result', retryable: false },
        );
      }
      const samples: Sample[] = [];
      let nonFinite = 0;
      let lastT: number | undefined;
      for (const [ts, text] of raw.values ?? []) {
        lastT = Math.round(ts * 1000);
        if (NON_FINITE_TEXT.has(text)) {
          nonFinite += 1;
          continue;
        }
        if (!FLOAT_RE.test(text)) {
          throw this.badResponse(what, res, `value ${JSON.stringify(truncate(text, 40))} is not a number`);
        }
        const v = Number(text);
        // "1e999" overflows to Infinity: as non-finite as "+Inf".
        if (!Number.isFinite(v)) {
          nonFinite += 1;
          continue;
        }
        samples.push({ t: Math.round(ts * 1000), v });
      }
      finite += samples.length;
      nonFiniteTotal += nonFinite;
      series.push({ labels: raw.metric, samples, nonFinite, ...(lastT !== undefined ? { lastT } : {}) });
    }

    const warnings = (body.warnings ?? []).map((w) => this.redact(w));
    if (finite === 0) {
      const window = `between ${range.start.toISOString()} and ${range.end.toISOString()}`;
      let reason =
        series.length === 0
          ? `Prometheus returned no series ${window} (the selector matches nothing, or nothing was scraped then)`
          : `${series.length} series ${window}, but all ${nonFiniteTotal} points were NaN or ±Inf`;
      if (warnings.length > 0) reason += `; warnings: ${warnings.join('; ')}`;
      throw new NoDataError(query, reason);
    }
    return { series, warnings };
  }

  /**
   * Buildinfo says both "reachable" and "this is a Prometheus API"; `/-/ready`
   * is the fallback for servers that lack buildinfo (older or compatible ones).
   */
  async check(signal?: AbortSignal): Promise<void> {
    const what = `prometheus ${this.url}`;
    if (signal?.aborted) throw new AbortedError(`${what}: check aborted before it was sent`);

    const info = await this.send('GET', '/api/v1/status/buildinfo', `${what}: check`, undefined, signal);
    if (info.status >= 200 && info.status < 300) {
      if (buildInfoEnvelope.safeParse(parseJson(info.body)).success) return;
      throw new SourceError(
        `${what}: not a Prometheus: /api/v1/status/buildinfo answered HTTP ${info.status} (${info.contentType || 'no content type'}) ` +
          'without a Prometheus API envelope; check the URL (it should be the base URL, not the UI or a proxy page)',
        { code: 'prometheus_not_prometheus', retryable: false },
      );
    }
    if (info.status !== 404) throw this.checkError(info, `${what}: check`);

    const ready = await this.send('GET', '/-/ready', `${what}: check`, undefined, signal);
    if (ready.status >= 200 && ready.status < 300) return;
    if (ready.status === 404) {
      throw new SourceError(
        `${what}: not a Prometheus: both /api/v1/status/buildinfo and /-/ready answered HTTP 404; check the URL and any path prefix`,
        { code: 'prometheus_not_prometheus', retryable: false },
      );
    }
    throw this.checkError(ready, `${what}: check`);
  }

  /**
   * Ask Prometheus to give up a little before we do, so a slow query ends
   * with its own timeout envelope (a clear message) rather than our deadline.
   */
  private serverTimeoutMs(): number {
    return Math.max(1, this.timeoutMs - Math.min(1_000, Math.floor(this.timeoutMs / 10)));
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    what: string,
    form: URLSearchParams | undefined,
    signal: AbortSignal | undefined,
  ): Promise<RawResponse> {
    // The same check as at validation, on the parsed URL, right before the call.
    const refused = urlPolicyProblem(this.target, this.policy);
    if (refused) throw new PolicyError(`${what}: refused outbound URL: ${refused}`);
    const refHeaders = this.headersFromRefs(what);
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const res = await this.http.request<unknown>({
        method,
        url: `${this.url}${path}`,
        headers: refHeaders,
        data: form,
        signal: combined,
        timeout: this.timeoutMs,
      });
      const headers = res.headers as Record<string, unknown>;
      const contentType = headers['content-type'];
      const location = headers['location'];
      const retryAfter = headers['retry-after'];
      return {
        status: res.status,
        body: typeof res.data === 'string' ? res.data : '',
        contentType: typeof contentType === 'string' ? contentType : '',
        location: typeof location === 'string' ? location : undefined,
        retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
      };
    } catch (err) {
      const cause = this.scrub(err);
      if (signal?.aborted) throw new AbortedError(`${what} aborted`, cause);
      const code = axios.isAxiosError(err) ? err.code : undefined;
      if (deadline.aborted || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
        throw new SourceError(`${what}: no complete answer within ${formatDuration(this.timeoutMs)} (client timeout)`, {
          code: 'prometheus_client_timeout',
          retryable: true,
          cause,
        });
      }
      throw new SourceError(
        `${what}: not reachable (${cause.message}); is Prometheus running and is the URL right?`,
        { code: 'prometheus_unreachable', retryable: true, cause },
      );
    }
  }

  /** Header references, resolved once within the policy; their values join the secrets to redact. */
  private headersFromRefs(what: string): Record<string, string> {
    if (this.resolvedHeaders) return this.resolvedHeaders;
    const out: Record<string, string> = {};
    for (const [name, ref] of this.refHeaders) {
      out[name] = resolveSecretRef(ref, this.policy, process.env, `${what}: header ${name}`, (m) => new SourceError(m, { code: 'prometheus_missing_secret', retryable: false }));
      this.secrets.push(out[name]);
    }
    this.resolvedHeaders = out;
    return out;
  }

  private successBody(res: RawResponse, what: string): z.output<typeof successEnvelope> {
    const json = parseJson(res.body);
    const envelope = errorEnvelope.safeParse(json);
    if (envelope.success) {
      const { errorType, error } = envelope.data;
      const retryable = RETRYABLE_ERROR_TYPES.has(errorType)
        ? true
        : FATAL_ERROR_TYPES.has(errorType)
          ? false
          : isRetryableStatus(res.status);
      throw new SourceError(`${what} failed: ${errorType}: ${this.redact(truncate(error, 1_000))} (HTTP ${res.status})`, {
        code: `prometheus_${errorType.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}`,
        retryable,
      });
    }
    if (res.status < 200 || res.status >= 300) throw this.httpError(res, what);
    const ok = successEnvelope.safeParse(json);
    if (!ok.success) throw this.badResponse(what, res, 'not a Prometheus API envelope');
    return ok.data;
  }

  /** check()'s reading of a non-2xx answer: 503 is Prometheus's own "not ready yet". */
  private checkError(res: RawResponse, what: string): SourceError {
    if (res.status === 503) {
      return new SourceError(`${what}: not ready (HTTP 503): Prometheus is starting up or shutting down`, {
        code: 'prometheus_not_ready',
        retryable: true,
      });
    }
    return this.httpError(res, what);
  }

  /** A non-2xx answer without a Prometheus error envelope (proxy pages, auth, wrong URL). */
  private httpError(res: RawResponse, what: string): SourceError {
    const status = res.status;
    if (status === 401 || status === 403) {
      return new SourceError(
        `${what}: unauthorised (HTTP ${status}): Prometheus or a proxy in front of it refused the request; ` +
          'check `headers` (e.g. Authorization) or the URL credentials (values are not shown)',
        { code: 'prometheus_unauthorized', retryable: false },
      );
    }
    if (status === 404) {
      return new SourceError(`${what}: HTTP 404: no Prometheus API here; check the URL and any path prefix`, {
        code: 'prometheus_not_found',
        retryable: false,
      });
    }
    if (status === 429) {
      const after = res.retryAfter && /^\d+$/.test(res.retryAfter) ? `; retry after ${res.retryAfter}s` : '';
      return new SourceError(`${what}: rate limited (HTTP 429)${after}`, { code: 'prometheus_rate_limited', retryable: true });
    }
    if (status >= 300 && status < 400) {
      let to = '';
      if (res.location) {
        try {
          to = ` to ${displayUrl(new URL(res.location, `${this.url}/`))}`;
        } catch {
          to = '';
        }
      }
      return new SourceError(
        `${what}: redirected (HTTP ${status})${to}; point the URL at the Prometheus API itself (a login page or proxy is in the way?)`,
        { code: 'prometheus_redirect', retryable: false },
      );
    }
    // Not the body: the URL may point at an internal endpoint, and its answer would be read back through the run's reason.
    return new SourceError(`${what}: HTTP ${status} (${res.contentType || 'no content type'}, ${res.body.length} bytes; body not shown)`, {
      code: 'prometheus_http_error',
      retryable: isRetryableStatus(status),
    });
  }

  private badResponse(what: string, res: RawResponse, detail: string): SourceError {
    return new SourceError(
      `${what}: unreadable answer (HTTP ${res.status}, ${res.contentType || 'no content type'}): ${detail}`,
      { code: 'prometheus_bad_response', retryable: false },
    );
  }

  /** Remove every secret from text that came from outside (a server may echo headers). */
  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('[redacted]');
    return redactText(out);
  }

  /**
   * A plain Error standing for an axios error. The original keeps `config`
   * (headers, auth) and would leak them through `cause` in logs or toJSON.
   */
  private scrub(err: unknown): Error {
    let message: string;
    let code: string | undefined;
    if (err instanceof Error) {
      code = (err as { code?: unknown }).code as string | undefined;
      // Node's dual-stack connect failures are an AggregateError with an empty message.
      const inner = err instanceof AggregateError ? (err.errors[0] as unknown) : undefined;
      message = err.message || (inner instanceof Error ? inner.message : '') || code || err.name;
    } else {
      message = String(err);
    }
    const clean = new Error(this.redact(message));
    if (typeof code === 'string') Object.assign(clean, { code });
    return clean;
  }
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

export const prometheusSource: MetricSourceFactory<PrometheusConfig> = {
  kind: 'prometheus',
  configSchema: prometheusConfigSchema,
  groupsByLabel: true,
  create: (config, deps) => new PrometheusSource(config, deps),
};

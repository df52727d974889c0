/**
 * The `spec.source` of kind `datadog` and the Datadog sites, kept apart from
 * the adapter (datadog.ts) so that file stays about talking to Datadog.
 * Keys never go in the spec: they come from DD_API_KEY / DD_APP_KEY, or from
 * key files, which must lie under the operator's STEADYSTATE_SECRET_FILE_DIRS.
 */
import { z } from 'zod';
import { durationMs, httpUrl } from '../spec/fields.ts';

/**
 * Datadog sites (the `DD_SITE` values) and their API hosts. Short names are
 * accepted as aliases, and `app.` prefixes (what the browser shows) dropped.
 */
export const DATADOG_SITES: Readonly<Record<string, string>> = {
  'datadoghq.com': 'api.datadoghq.com',
  'us3.datadoghq.com': 'api.us3.datadoghq.com',
  'us5.datadoghq.com': 'api.us5.datadoghq.com',
  'datadoghq.eu': 'api.datadoghq.eu',
  'ap1.datadoghq.com': 'api.ap1.datadoghq.com',
  'ap2.datadoghq.com': 'api.ap2.datadoghq.com',
  'uk1.datadoghq.com': 'api.uk1.datadoghq.com',
  'ddog-gov.com': 'api.ddog-gov.com',
  'us2.ddog-gov.com': 'api.us2.ddog-gov.com',
};
const SITE_ALIASES: Readonly<Record<string, string>> = {
  us1: 'datadoghq.com',
  us3: 'us3.datadoghq.com',
  us5: 'us5.datadoghq.com',
  eu: 'datadoghq.eu',
  eu1: 'datadoghq.eu',
  ap1: 'ap1.datadoghq.com',
  ap2: 'ap2.datadoghq.com',
  uk1: 'uk1.datadoghq.com',
  gov: 'ddog-gov.com',
  'us1-fed': 'ddog-gov.com',
  us2gov: 'us2.ddog-gov.com',
};
export const DEFAULT_SITE = 'datadoghq.com';

/** Canonical site for a user-written one, or undefined when unknown. */
export function normalizeSite(text: string): string | undefined {
  const s = text.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '').replace(/^(app|api)\./, '');
  if (s in DATADOG_SITES) return s;
  return SITE_ALIASES[s];
}

/**
 * Datadog's resolution for most metrics is 10 s or coarser (DogStatsD flushes
 * every 10 s, Agent checks run every 15 s); a finer default step would mostly
 * return nulls.
 */
export const DEFAULT_STEP_MS = 10_000;
export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 30_000;

const siteField = z.string().transform((value, ctx) => {
  const site = normalizeSite(value);
  if (!site) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown Datadog site "${value}"; known: ${Object.keys(DATADOG_SITES).join(', ')} (or set url)`,
    });
    return z.NEVER;
  }
  return site;
});

// The message must not echo the value: it would be the key.
const noKeysInSpec = (what: string) =>
  z
    .unknown()
    .optional()
    .refine((v) => v === undefined, `${what} never go in the spec: set DD_API_KEY / DD_APP_KEY, or apiKeyFile / appKeyFile`);

export const datadogConfigSchema = z.strictObject({
  kind: z.literal('datadog'),
  /** Datadog site (DD_SITE value or alias); default the `DD_SITE` env, then datadoghq.com. */
  site: siteField.optional(),
  /** Base URL of the API, overriding `site` (a proxy, a Datadog-compatible endpoint, tests). */
  url: httpUrl
    .refine((s) => {
      if (!URL.canParse(s)) return true;
      const u = new URL(s);
      return u.search === '' && u.hash === '' && u.username === '' && u.password === '';
    }, 'must be the base URL of the API, without credentials, ?query or #fragment')
    .optional(),
  /** `v2` (default): POST /api/v2/query/timeseries. `v1`: GET /api/v1/query, for expressions v2 formulas cannot hold. */
  api: z.enum(['v2', 'v1']).default('v2'),
  /** Resolution used when a range does not give its own `stepMs` (v2 `interval`). */
  step: durationMs.refine((ms) => ms >= 1_000 && ms <= 86_400_000, 'step must be between 1s and 24h').default(DEFAULT_STEP_MS),
  /** Per-attempt wall-clock limit; keep it below `analysis.interval`. Default: deps, then 3s. */
  timeout: durationMs.refine((ms) => ms >= 1 && ms <= 600_000, 'timeout must be between 1ms and 10m').optional(),
  /** Attempts per query for 5xx, timeouts and network failures (the first included). */
  attempts: z.int().min(1).max(10).default(DEFAULT_ATTEMPTS),
  /** Longest wait for a rate-limit reset; a later reset fails the call at once (retryable). */
  maxRateLimitWait: durationMs
    .refine((ms) => ms <= 600_000, 'maxRateLimitWait must be at most 10m')
    .default(DEFAULT_MAX_RATE_LIMIT_WAIT_MS),
  /** File holding the API key (e.g. a mounted secret); default: the DD_API_KEY env. */
  apiKeyFile: z.string().min(1).optional(),
  /** File holding the application key; default: DD_APP_KEY, then DD_APPLICATION_KEY. */
  appKeyFile: z.string().min(1).optional(),
  apiKey: noKeysInSpec('API keys'),
  appKey: noKeysInSpec('application keys'),
  applicationKey: noKeysInSpec('application keys'),
});

export type DatadogConfig = z.output<typeof datadogConfigSchema>;
export type DatadogConfigInput = z.input<typeof datadogConfigSchema>;

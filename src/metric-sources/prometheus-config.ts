/**
 * The `spec.source` of kind `prometheus`, kept apart from the adapter so the
 * adapter file stays about talking to Prometheus. Header values may be
 * literal (for harmless headers such as X-Scope-OrgID) or secret references
 * (`{ fromEnv }`, `{ fromFile }`), resolved within the operator's policy at
 * call time (src/security/secret-refs.ts); either way they are never shown.
 */
import { z } from 'zod';
import { secretRefSchema } from '../security/secret-refs.ts';
import { durationMs, httpUrl } from '../spec/fields.ts';

/** Prometheus refuses range queries with more points per series than this (400 bad_data). */
export const MAX_POINTS_PER_SERIES = 11_000;
export const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_STEP_MS = 1_000;
const MAX_STEP_MS = 86_400_000;
const MAX_TIMEOUT_MS = 600_000;

// RFC 9110 token: what node accepts as a header name. Checked here so a bad
// name fails validation with its path instead of failing at request time.
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const prometheusConfigSchema = z.strictObject({
  kind: z.literal('prometheus'),
  url: httpUrl.refine((s) => {
    // zod runs this even when httpUrl already failed: a bad URL is reported there.
    if (!URL.canParse(s)) return true;
    const u = new URL(s);
    return u.search === '' && u.hash === '';
  }, 'must be the base URL of Prometheus, without ?query or #fragment (a path prefix such as /prometheus is fine)'),
  /** Resolution used when a range does not give its own `stepMs`. */
  step: durationMs
    .refine((ms) => ms >= 1 && ms <= MAX_STEP_MS, 'step must be between 1ms and 24h')
    .default(DEFAULT_STEP_MS),
  /** Per-request wall-clock limit; defaults to `deps.timeoutMs`, then 10s. */
  timeout: durationMs
    .refine((ms) => ms >= 1 && ms <= MAX_TIMEOUT_MS, 'timeout must be between 1ms and 10m')
    .optional(),
  /** Sent with every request (e.g. Authorization). Values are secrets: never logged or shown. */
  headers: z
    .record(
      z.string(),
      z.union([
        // The message must not echo the value: it may be a token.
        z.string().refine((v) => !/[\r\n\0]/.test(v), 'header values must not contain CR, LF or NUL'),
        secretRefSchema,
      ]),
    )
    // Checked per key (not with a key schema) so the issue sits at headers.<name>
    // with a message saying what is wrong, instead of zod's "Invalid key in record".
    .superRefine((headers, ctx) => {
      for (const name of Object.keys(headers)) {
        if (!HEADER_NAME_RE.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid HTTP header name' });
      }
    })
    .optional(),
});

export type PrometheusConfig = z.output<typeof prometheusConfigSchema>;
export type PrometheusConfigInput = z.input<typeof prometheusConfigSchema>;

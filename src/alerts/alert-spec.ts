/**
 * `spec.expect`: what the team expects its alerting to do while the fault is
 * in: which alerts must fire (and how soon after each step began), which must
 * resolve after the window closes, which must never fire. Checked against
 * Prometheus's `/api/v1/rules?type=alert` (the rule's state and the time its
 * alert became active) and, when given, an Alertmanager's `/api/v2/alerts`
 * (did the alert reach the pager's router). See docs/alerts.md and ADR 023.
 */
import { z } from 'zod';
import { secretRefSchema } from '../security/secret-refs.ts';
import { durationMs, httpUrl } from '../spec/fields.ts';

// RFC 9110 token, as the Prometheus source checks it.
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const MAX_ALERT_EXPECTATIONS = 20;
/** A bound on step numbers; the fault's own step count is checked against the spec (schema.ts). */
const MAX_STEP_NUMBER = 100;
/** Longest wait for alerts to resolve after the window closed: a run must end. */
export const MAX_RESOLVE_WAIT_MS = 15 * 60_000;

const headers = z
  .record(
    z.string(),
    z.union([z.string().refine((v) => !/[\r\n\0]/.test(v), 'header values must not contain CR, LF or NUL'), secretRefSchema]),
  )
  .superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      if (!HEADER_NAME_RE.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'not a valid HTTP header name' });
    }
  });

const endpoint = z.strictObject({
  url: httpUrl.refine((s) => !URL.canParse(s) || (new URL(s).search === '' && new URL(s).hash === ''), 'must be a base URL, without ?query or #fragment'),
  /** Sent with every request (e.g. Authorization as `{ fromEnv }`); never logged or shown. */
  headers: headers.optional(),
});

const alertExpectation = z
  .strictObject({
    /** The alerting rule's name (the `alertname` label). */
    name: z.string().min(1).max(200),
    /** Equality matchers on the alert's labels (e.g. `{ severity: page }`). */
    labels: z
      .record(z.string(), z.string())
      .superRefine((l, ctx) => {
        for (const k of Object.keys(l)) if (!LABEL_NAME_RE.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: 'not a Prometheus label name' });
      })
      .optional(),
    /** Must reach `firing` at most this long after each step began. */
    within: durationMs.refine((ms) => ms > 0, 'must be more than 0').optional(),
    /** Must stop firing at most this long after the window closed (watching goes on that long). */
    resolveWithin: durationMs.refine((ms) => ms > 0 && ms <= MAX_RESOLVE_WAIT_MS, `must be more than 0 and at most ${MAX_RESOLVE_WAIT_MS / 60_000}m`).optional(),
    /**
     * Fault-ladder steps (numbered from 1, as reports number them) on which the
     * alert must fire within `within`; before the first of them it must stay
     * quiet (a page at a level the team tolerates is a false page), after it
     * it is not judged. Default: every step that ran.
     */
    steps: z
      .array(z.number().int().min(1).max(MAX_STEP_NUMBER))
      .min(1)
      .max(MAX_STEP_NUMBER)
      .refine((a) => new Set(a).size === a.length, 'each step once')
      .optional(),
    /** Must not fire at all while the run watches. */
    never: z.literal(true).optional(),
  })
  .refine((e) => (e.within !== undefined) !== (e.never === true), { message: 'give either within (the alert must fire) or never: true (it must not)' })
  .refine((e) => !(e.never && e.resolveWithin !== undefined), { message: 'resolveWithin applies to an alert that must fire', path: ['resolveWithin'] })
  .refine((e) => !(e.never && e.steps !== undefined), { message: 'steps applies to an alert that must fire (never: true holds on every step)', path: ['steps'] });

export const expectSchema = z.strictObject({
  alerts: z.array(alertExpectation).min(1).max(MAX_ALERT_EXPECTATIONS),
  /** Where the alerting rules are evaluated; default: `spec.source` when it is Prometheus. */
  prometheus: endpoint.optional(),
  /** An Alertmanager to check too (an alert that must fire must also arrive there). */
  alertmanager: endpoint.optional(),
  /** Poll period of the alerts APIs while the run watches (default 2s, at least 1s). */
  interval: durationMs.refine((ms) => ms >= 1_000 && ms <= 60_000, 'must be between 1s and 1m').default(2_000),
  /** Per-request time limit (default 2s); a slow API costs a poll, never the run. */
  timeout: durationMs.refine((ms) => ms >= 100 && ms <= 30_000, 'must be between 100ms and 30s').default(2_000),
  /**
   * How `alerts: fail` meets the run's state: `report` (default) keeps the
   * state the metrics' verdict and reports alerts beside it; `fail` turns a
   * passed or inconclusive run into failed.
   */
  onFail: z.enum(['report', 'fail']).default('report'),
});

export type ExpectSpec = z.output<typeof expectSchema>;
export type AlertExpectation = ExpectSpec['alerts'][number];
export type AlertEndpoint = z.output<typeof endpoint>;

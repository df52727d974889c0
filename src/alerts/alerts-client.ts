/**
 * Reading alert state: Prometheus's `GET /api/v1/rules?type=alert` and
 * Alertmanager's `GET /api/v2/alerts`. Every request goes through the
 * operator's outbound policy (allowlist) and resolves header references
 * (`{ fromEnv }` / `{ fromFile }`) within it, right before the call; values
 * are registered for redaction, and errors never carry them.
 */
import { AppError } from '../lib/errors.ts';
import { redactText } from '../lib/redact.ts';
import { checkOutboundUrl } from '../security/outbound-url.ts';
import type { SecurityPolicy } from '../security/policy.ts';
import { resolveSecretRef } from '../security/secret-refs.ts';
import type { AlertEndpoint } from './alert-spec.ts';
import type { ObservedAlert } from './types.ts';

export class AlertsApiError extends AppError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { code: 'alerts_api', httpStatus: 502, retryable: true, ...opts });
  }
}

export interface AlertsClientDeps {
  policy: SecurityPolicy;
  env?: NodeJS.ProcessEnv;
}

const MAX_BODY_CHARS = 4 * 1024 * 1024;

async function getJson(endpoint: AlertEndpoint, path: string, query: URLSearchParams, deps: AlertsClientDeps, what: string, signal: AbortSignal): Promise<unknown> {
  const base = endpoint.url.replace(/\/+$/, '');
  const url = checkOutboundUrl(`${base}${path}${query.size > 0 ? `?${query.toString()}` : ''}`, deps.policy, what);
  const headers = new Headers({ accept: 'application/json' });
  for (const [name, value] of Object.entries(endpoint.headers ?? {})) {
    headers.set(name, typeof value === 'string' ? value : resolveSecretRef(value, deps.policy, deps.env ?? process.env, `${what}: header ${name}`, (m) => new AlertsApiError(m)));
  }
  let res: Response;
  try {
    res = await fetch(url, { headers, signal, redirect: 'error' });
  } catch (err) {
    throw new AlertsApiError(`${what}: ${url.host}${path} unreachable: ${redactText((err as Error).message)}`, { cause: err });
  }
  const text = await res.text();
  if (text.length > MAX_BODY_CHARS) throw new AlertsApiError(`${what}: answer larger than ${MAX_BODY_CHARS} characters`);
  // The body is not quoted (operations.md, outbound hosts): a URL must not read an internal endpoint back.
  if (!res.ok) throw new AlertsApiError(`${what}: HTTP ${res.status} from ${url.host}${path} (${res.headers.get('content-type') ?? 'no content type'}, ${text.length} characters)`);
  try {
    return JSON.parse(text);
  } catch {
    throw new AlertsApiError(`${what}: ${url.host}${path} did not answer JSON`);
  }
}

const asRecord = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const labelsOf = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(asRecord(v)).filter((e): e is [string, string] => typeof e[1] === 'string'));

/**
 * Alerting rules and their active alerts. `/api/v1/rules` rather than
 * `/api/v1/alerts`: it also lists rules that are not active, so a misspelt
 * name is told apart from a quiet alert, and it gives each rule's `for`
 * (`duration`, seconds), which turns `activeAt` into the firing time.
 */
export async function fetchPrometheusAlerts(endpoint: AlertEndpoint, deps: AlertsClientDeps, signal: AbortSignal): Promise<{ rules: string[]; alerts: ObservedAlert[] }> {
  const body = asRecord(await getJson(endpoint, '/api/v1/rules', new URLSearchParams({ type: 'alert' }), deps, 'expect.prometheus', signal));
  if (body.status !== 'success') throw new AlertsApiError(`expect.prometheus: /api/v1/rules answered status ${String(body.status)}: ${redactText(typeof body.error === 'string' ? body.error : '')}`);
  const rules: string[] = [];
  const alerts: ObservedAlert[] = [];
  for (const group of asArray(asRecord(body.data).groups)) {
    for (const r of asArray(asRecord(group).rules)) {
      const rule = asRecord(r);
      if (rule.type !== 'alerting' || typeof rule.name !== 'string') continue;
      rules.push(rule.name);
      const forMs = typeof rule.duration === 'number' ? rule.duration * 1000 : 0;
      for (const a of asArray(rule.alerts)) {
        const alert = asRecord(a);
        const state = alert.state;
        if (state !== 'pending' && state !== 'firing') continue;
        const activeAt = typeof alert.activeAt === 'string' ? Date.parse(alert.activeAt) : NaN;
        alerts.push({
          name: rule.name,
          labels: labelsOf(alert.labels),
          state,
          ...(state === 'firing' && Number.isFinite(activeAt) ? { firingSince: activeAt + forMs } : {}),
        });
      }
    }
  }
  return { rules, alerts };
}

/** `A|B` as an Alertmanager regex matcher value (anchored by Alertmanager), quoted. */
function nameMatcher(names: readonly string[]): string {
  const alternatives = [...new Set(names)].map((n) => n.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&'));
  return `alertname=~${JSON.stringify(alternatives.join('|'))}`;
}

/**
 * Alerts Alertmanager holds active — neither silenced nor inhibited, so they
 * go to a receiver — among `names` (`GET /api/v2/alerts` with a `filter`).
 */
export async function fetchAlertmanagerAlerts(endpoint: AlertEndpoint, names: readonly string[], deps: AlertsClientDeps, signal: AbortSignal): Promise<ObservedAlert[]> {
  const query = new URLSearchParams({ active: 'true', silenced: 'false', inhibited: 'false', unprocessed: 'false' });
  query.append('filter', nameMatcher(names));
  const body = await getJson(endpoint, '/api/v2/alerts', query, deps, 'expect.alertmanager', signal);
  if (!Array.isArray(body)) throw new AlertsApiError('expect.alertmanager: /api/v2/alerts did not answer a list of alerts');
  const out: ObservedAlert[] = [];
  for (const a of body) {
    const alert = asRecord(a);
    const labels = labelsOf(alert.labels);
    const state = asRecord(alert.status).state;
    if (typeof labels.alertname !== 'string' || (state !== undefined && state !== 'active')) continue;
    out.push({ name: labels.alertname, labels, state: 'active' });
  }
  return out;
}

/**
 * Where annotations go: the service's configuration, read once at start from
 * its environment (config.ts) — never from a spec. Credentials are references
 * (`env:NAME` or `file:/path`), resolved right before each post, so a rotated
 * token is picked up and the value never sits in the configuration object:
 *
 *   STEADYSTATE_GRAFANA_URL             Grafana's base URL; set = post Grafana annotations
 *   STEADYSTATE_GRAFANA_TOKEN           reference to a service-account token (Bearer), e.g. env:GRAFANA_TOKEN
 *   STEADYSTATE_GRAFANA_DASHBOARD_UID   pin annotations to one dashboard (default: organisation-wide)
 *   STEADYSTATE_DATADOG_EVENTS          `on` = post Datadog events (site DD_SITE, as the Datadog source)
 *   STEADYSTATE_DATADOG_API_KEY         reference to the API key; default env:DD_API_KEY
 *   STEADYSTATE_DATADOG_EVENTS_URL      base URL overriding the site (a proxy; tests)
 *   STEADYSTATE_ANNOTATION_TIMEOUT      per post, default 3s
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDuration } from '../lib/duration.ts';
import { registerSecretValues } from '../lib/redact.ts';
import { DATADOG_SITES, DEFAULT_SITE, normalizeSite } from '../metric-sources/datadog-config.ts';
import { outboundUrlProblem } from '../security/outbound-url.ts';
import type { SecurityPolicy } from '../security/policy.ts';

/** A credential's whereabouts, never its value. */
export type CredentialRef = { env: string } | { file: string };

export interface AnnotationsConfig {
  grafana?: { url: string; token: CredentialRef; dashboardUid?: string };
  datadog?: { url: string; apiKey: CredentialRef };
  timeoutMs: number;
}

export function describeCredential(ref: CredentialRef): string {
  return 'env' in ref ? `env:${ref.env}` : `file:${ref.file}`;
}

function parseRef(name: string, text: string, problems: string[]): CredentialRef | undefined {
  const m = /^(env|file):(.+)$/.exec(text.trim());
  if (!m) {
    // Never echo the value: it may be the secret itself.
    problems.push(`${name} must be a reference (env:VARIABLE or file:/absolute/path), never the secret itself`);
    return undefined;
  }
  const target = m[2] as string;
  if (m[1] === 'env') {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(target)) problems.push(`${name}: "${target}" is not an environment variable name`);
    return { env: target };
  }
  if (!path.isAbsolute(target)) problems.push(`${name}: file reference must be an absolute path`);
  return { file: target };
}

/** The secret a reference points at; throws (naming the reference, never a value) when missing. */
export function resolveCredential(ref: CredentialRef, env: NodeJS.ProcessEnv, what: string): string {
  let value: string | undefined;
  if ('env' in ref) value = env[ref.env]?.trim();
  else {
    try {
      value = readFileSync(ref.file, 'utf8').trim();
    } catch (err) {
      throw new Error(`${what}: ${describeCredential(ref)} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`, { cause: err });
    }
  }
  if (!value) throw new Error(`${what}: ${describeCredential(ref)} is not set or empty`);
  registerSecretValues([value]);
  return value;
}

export function loadAnnotationsConfig(env: NodeJS.ProcessEnv, policy: SecurityPolicy, problems: string[]): AnnotationsConfig {
  const out: AnnotationsConfig = { timeoutMs: 3_000 };
  const timeoutText = env.STEADYSTATE_ANNOTATION_TIMEOUT?.trim();
  if (timeoutText) {
    const ms = parseDuration(timeoutText);
    if (ms === undefined || ms < 100 || ms > 60_000) problems.push(`STEADYSTATE_ANNOTATION_TIMEOUT "${timeoutText}" must be a duration between 100ms and 1m`);
    else out.timeoutMs = ms;
  }
  const url = (name: string, text: string): string | undefined => {
    const problem = outboundUrlProblem(text, policy);
    if (problem) problems.push(`${name}: ${problem}`);
    else if (new URL(text).search || new URL(text).username) problems.push(`${name} must be a base URL without credentials or ?query`);
    else return text.replace(/\/+$/, '');
    return undefined;
  };
  const grafanaUrl = env.STEADYSTATE_GRAFANA_URL?.trim();
  if (grafanaUrl) {
    const base = url('STEADYSTATE_GRAFANA_URL', grafanaUrl);
    const tokenText = env.STEADYSTATE_GRAFANA_TOKEN?.trim();
    const token = tokenText ? parseRef('STEADYSTATE_GRAFANA_TOKEN', tokenText, problems) : undefined;
    if (!tokenText) problems.push('STEADYSTATE_GRAFANA_TOKEN is needed with STEADYSTATE_GRAFANA_URL (e.g. env:GRAFANA_TOKEN)');
    const dashboardUid = env.STEADYSTATE_GRAFANA_DASHBOARD_UID?.trim() || undefined;
    if (base && token) out.grafana = { url: base, token, ...(dashboardUid ? { dashboardUid } : {}) };
  }
  const ddText = (env.STEADYSTATE_DATADOG_EVENTS ?? '').trim().toLowerCase();
  if (!['', 'on', 'off'].includes(ddText)) problems.push(`STEADYSTATE_DATADOG_EVENTS must be on or off, got "${ddText}"`);
  if (ddText === 'on') {
    const override = env.STEADYSTATE_DATADOG_EVENTS_URL?.trim();
    const siteText = env.DD_SITE?.trim() || DEFAULT_SITE;
    const site = normalizeSite(siteText);
    if (!override && !site) problems.push(`DD_SITE "${siteText}" is not a Datadog site; known: ${Object.keys(DATADOG_SITES).join(', ')}`);
    const base = override ? url('STEADYSTATE_DATADOG_EVENTS_URL', override) : site ? url('DD_SITE', `https://${DATADOG_SITES[site]}`) : undefined;
    const apiKey = parseRef('STEADYSTATE_DATADOG_API_KEY', env.STEADYSTATE_DATADOG_API_KEY?.trim() || 'env:DD_API_KEY', problems);
    if (base && apiKey) out.datadog = { url: base, apiKey };
  }
  return Object.freeze(out);
}

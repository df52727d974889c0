/**
 * Service configuration: read from the environment (and flags) once, at start,
 * validated with one clear message per mistake, then frozen. Components get the
 * slice they need; nothing else reads process.env.
 */
import { z } from 'zod';
import { ConfigError } from './lib/errors.ts';
import { parseDuration } from './lib/duration.ts';
import { loadSecurityPolicy, type SecurityPolicy } from './security/policy.ts';
import { loadAnnotationsConfig, type AnnotationsConfig } from './annotations/annotations-config.ts';
import { DEPLOY_PROVIDERS, type DeployProviderName } from './triggers/types.ts';

export { hostAllowed } from './security/policy.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface ServiceConfig {
  listen: HostPort;
  /** PostgreSQL when set; otherwise PGlite in dataDir. A secret: never logged. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Bootstrap admin token (STEADYSTATE_ADMIN_TOKEN). A secret: never logged. */
  adminToken: string | undefined;
  /** Hosts specs may point sources, injectors and webhooks at; undefined = any host (= security.allowedHosts). */
  allowedHosts: readonly string[] | undefined;
  /** Outbound hosts, secret references, the command injector (src/security/policy.ts). */
  security: SecurityPolicy;
  limits: {
    maxConcurrentRuns: number;
    maxBodyBytes: number;
    maxSpecBytes: number;
    maxWindowMs: number;
    /** Largest share of traffic (0..1) a fault may affect, where the injector states one. */
    maxTrafficShare: number;
  };
  /** Base URL people reach the service at, for links in reports and Slack. */
  publicUrl: string | undefined;
  logLevel: string;
  shutdownGraceMs: number;
  /** Run lease: a replica silent this long loses its runs to another (STEADYSTATE_LEASE, default 10s). */
  leaseMs: number;
  /**
   * Deploy-webhook secrets by provider (STEADYSTATE_WEBHOOK_SECRET_<PROVIDER>);
   * a provider without one is disabled. Secrets: never logged.
   */
  webhookSecrets: Readonly<Partial<Record<DeployProviderName, string>>>;
  /** Slack for `notify.slack`. Secrets: never logged, never in a message. */
  slack: {
    /** STEADYSTATE_SLACK_BOT_TOKEN: the default bot token (xoxb-…). */
    botToken: string | undefined;
    /** STEADYSTATE_SLACK_WEBHOOK_URL: the default incoming webhook. */
    webhookUrl: string | undefined;
    /** STEADYSTATE_SLACK_API_URL, default https://slack.com/api (tests point it elsewhere). */
    apiUrl: string;
    /** The SLACK_* / STEADYSTATE_SLACK_* variables, which specs may reference with `{ fromEnv }`. */
    env: Readonly<Record<string, string>>;
  };
  /** STEADYSTATE_SCHEDULER=off keeps this replica from running schedules (default on). */
  scheduler: boolean;
  /** Grafana annotations and Datadog events for every run (src/annotations/annotations-config.ts). */
  annotations: AnnotationsConfig;
}

/** `HOST:PORT`, `[v6]:PORT`. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

const positiveInt = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a positive integer, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

/**
 * Build the configuration from an environment and the `serve` flags. Throws a
 * ConfigError listing every mistake (never including secret values).
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: { listen?: string } = {}): Readonly<ServiceConfig> {
  const problems: string[] = [];
  const listenText = flags.listen ?? env.STEADYSTATE_LISTEN ?? '127.0.0.1:8080';
  const listen = parseHostPort(listenText);
  if (!listen) problems.push(`listen address "${listenText}" is not HOST:PORT (e.g. 127.0.0.1:8080)`);

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const adminToken = env.STEADYSTATE_ADMIN_TOKEN?.trim() || undefined;
  if (adminToken !== undefined && adminToken.length < 32) {
    problems.push('STEADYSTATE_ADMIN_TOKEN must be at least 32 characters');
  }
  const security = loadSecurityPolicy(env, problems);
  const annotations = loadAnnotationsConfig(env, security, problems);
  const ints = z
    .object({
      maxConcurrentRuns: positiveInt('STEADYSTATE_MAX_CONCURRENT_RUNS', 20),
      maxBodyBytes: positiveInt('STEADYSTATE_MAX_BODY_BYTES', 1024 * 1024),
      maxSpecBytes: positiveInt('STEADYSTATE_MAX_SPEC_BYTES', 256 * 1024),
    })
    .safeParse({
      maxConcurrentRuns: env.STEADYSTATE_MAX_CONCURRENT_RUNS,
      maxBodyBytes: env.STEADYSTATE_MAX_BODY_BYTES,
      maxSpecBytes: env.STEADYSTATE_MAX_SPEC_BYTES,
    });
  if (!ints.success) problems.push(...ints.error.issues.map((i) => i.message));

  const maxWindowText = env.STEADYSTATE_MAX_WINDOW ?? '1h';
  const maxWindowMs = parseDuration(maxWindowText);
  if (maxWindowMs === undefined || maxWindowMs <= 0) problems.push(`STEADYSTATE_MAX_WINDOW "${maxWindowText}" is not a duration`);

  const shareText = env.STEADYSTATE_MAX_TRAFFIC_SHARE ?? '50%';
  const shareMatch = /^(\d+(?:\.\d+)?)%$/.exec(shareText.trim());
  const maxTrafficShare = shareMatch ? Number(shareMatch[1]) / 100 : NaN;
  if (!(maxTrafficShare > 0 && maxTrafficShare <= 1)) problems.push(`STEADYSTATE_MAX_TRAFFIC_SHARE "${shareText}" must be a percentage in (0%, 100%]`);

  const leaseText = env.STEADYSTATE_LEASE ?? '10s';
  const leaseMs = parseDuration(leaseText);
  if (leaseMs === undefined || leaseMs < 1_000) problems.push(`STEADYSTATE_LEASE "${leaseText}" must be a duration of at least 1s`);

  const publicUrl = env.STEADYSTATE_PUBLIC_URL?.trim() || undefined;
  if (publicUrl && !/^https?:\/\//.test(publicUrl)) problems.push('STEADYSTATE_PUBLIC_URL must be an http(s) URL');

  const webhookSecrets: Partial<Record<DeployProviderName, string>> = {};
  for (const [key, value] of Object.entries(env)) {
    const m = /^STEADYSTATE_WEBHOOK_SECRET_(.+)$/.exec(key);
    if (!m || value === undefined || value.trim() === '') continue;
    const provider = m[1]!.toLowerCase() as DeployProviderName;
    if (!DEPLOY_PROVIDERS.includes(provider)) {
      problems.push(`${key}: no webhook provider "${provider}"; known: ${DEPLOY_PROVIDERS.join(', ')}`);
    } else if (value.trim().length < 16) {
      problems.push(`${key} must be at least 16 characters`);
    } else {
      webhookSecrets[provider] = value.trim();
    }
  }
  const slackEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (/^(STEADYSTATE_)?SLACK_[A-Z0-9_]+$/.test(key) && value !== undefined && value.trim() !== '') slackEnv[key] = value.trim();
  }
  const slackToken = env.STEADYSTATE_SLACK_BOT_TOKEN?.trim() || undefined;
  if (slackToken !== undefined && !/^xox[a-z]-/.test(slackToken)) problems.push('STEADYSTATE_SLACK_BOT_TOKEN does not look like a Slack token (xoxb-…)');
  const slackWebhook = env.STEADYSTATE_SLACK_WEBHOOK_URL?.trim() || undefined;
  if (slackWebhook !== undefined && !/^https?:\/\//.test(slackWebhook)) problems.push('STEADYSTATE_SLACK_WEBHOOK_URL must be an http(s) URL');
  const slackApi = env.STEADYSTATE_SLACK_API_URL?.trim() || 'https://slack.com/api';
  if (!/^https?:\/\//.test(slackApi)) problems.push('STEADYSTATE_SLACK_API_URL must be an http(s) URL');
  const schedulerText = (env.STEADYSTATE_SCHEDULER ?? 'on').trim().toLowerCase();
  if (!['on', 'off'].includes(schedulerText)) problems.push(`STEADYSTATE_SCHEDULER must be on or off, got "${schedulerText}"`);

  if (problems.length > 0 || !listen || !ints.success || maxWindowMs === undefined) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return Object.freeze({
    listen,
    databaseUrl,
    dataDir: env.STEADYSTATE_DATA_DIR?.trim() || './data',
    adminToken,
    allowedHosts: security.allowedHosts,
    security,
    limits: Object.freeze({ ...ints.data, maxWindowMs, maxTrafficShare }),
    publicUrl,
    logLevel: env.STEADYSTATE_LOG_LEVEL ?? 'info',
    shutdownGraceMs: 20_000,
    leaseMs: leaseMs ?? 10_000,
    webhookSecrets: Object.freeze(webhookSecrets),
    slack: Object.freeze({ botToken: slackToken, webhookUrl: slackWebhook, apiUrl: slackApi.replace(/\/+$/, ''), env: Object.freeze(slackEnv) }),
    scheduler: schedulerText !== 'off',
    annotations,
  });
}

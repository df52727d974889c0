/**
 * Helpers for the trigger tests: signed deliveries for each provider, specs
 * tagged for deploys and schedules, an HTTP harness with the hook routes, and
 * a snapshot of every table so a test can prove that a refused delivery wrote
 * nothing at all.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig, type ServiceConfig } from '../../src/config.ts';
import { buildHttpApp, routesOf } from '../../src/http/app.ts';
import { registerHookRoutes } from '../../src/http/hook-routes.ts';
import type { ZodApp } from '../../src/http/types.ts';
import { RunService } from '../../src/service/run-service.ts';
import { loadExperiment } from '../../src/spec/load.ts';
import type { Experiment } from '../../src/spec/schema.ts';
import { createStore } from '../../src/store/open-store.ts';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import type { Sql } from '../../src/store/sql.ts';
import type { StoredRun, Store } from '../../src/store/types.ts';
import type { RunStarter } from '../../src/triggers/deploy-hooks.ts';
import { createTriggerRepository, type TriggerRepository } from '../../src/triggers/trigger-store.ts';

export const GITHUB_SECRET = "It's a Secret to Everybody";
export const ARGOCD_SECRET = 'argocd-shared-secret-0123456789';
export const CDEVENTS_SECRET = 'cdevents-shared-secret-0123456789';
export const GENERIC_SECRET = 'generic-hmac-secret-0123456789abcdef';

export const WEBHOOK_ENV = {
  STEADYSTATE_WEBHOOK_SECRET_GITHUB: GITHUB_SECRET,
  STEADYSTATE_WEBHOOK_SECRET_ARGOCD: ARGOCD_SECRET,
  STEADYSTATE_WEBHOOK_SECRET_CDEVENTS: CDEVENTS_SECRET,
  STEADYSTATE_WEBHOOK_SECRET_GENERIC: GENERIC_SECRET,
};

const FIXTURE = new URL('./fixtures/deployment-status-success.json', import.meta.url);

/**
 * A GitHub `deployment_status` payload in the documented shape (the fixture
 * follows GitHub's webhook reference), with the fields a test varies.
 */
export function deploymentStatus(opts: { state?: string; environment?: string; service?: string; repo?: string; at?: Date; statusId?: number } = {}): Record<string, any> {
  const payload = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  const at = (opts.at ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  payload.deployment_status.state = opts.state ?? 'success';
  payload.deployment_status.environment = opts.environment ?? 'staging';
  payload.deployment.environment = opts.environment ?? 'staging';
  payload.deployment_status.created_at = at;
  payload.deployment_status.updated_at = at;
  if (opts.statusId !== undefined) payload.deployment_status.id = opts.statusId;
  if (opts.service !== undefined) payload.deployment.payload = { service: opts.service };
  if (opts.repo !== undefined) payload.repository.name = opts.repo;
  return payload;
}

export function githubSignature(body: string | Buffer, secret = GITHUB_SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Headers GitHub sends with a delivery (the body as GitHub would: compact JSON). */
export function githubHeaders(body: string, opts: { delivery?: string; event?: string; secret?: string; signature?: string | null } = {}): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/7d3a2f1',
    'x-github-event': opts.event ?? 'deployment_status',
    'x-github-delivery': opts.delivery ?? '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    'x-github-hook-id': '292430182',
    'x-github-hook-installation-target-id': '668788891',
    'x-github-hook-installation-target-type': 'repository',
  };
  if (opts.signature !== null) headers['x-hub-signature-256'] = opts.signature ?? githubSignature(body, opts.secret);
  return headers;
}

export function genericHeaders(body: string, opts: { timestamp?: number; secret?: string; delivery?: string } = {}): Record<string, string> {
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', opts.secret ?? GENERIC_SECRET).update(`${ts}.`).update(body).digest('hex');
  return {
    'content-type': 'application/json',
    'x-steadystate-timestamp': ts,
    'x-steadystate-signature': `sha256=${sig}`,
    ...(opts.delivery ? { 'x-steadystate-delivery': opts.delivery } : {}),
  };
}

/** A minimal valid spec, tagged for deploys (service/environment) and optionally scheduled; each name its own fault target. */
export function taggedSpecYaml(
  name: string,
  opts: { service?: string; environment?: string | null; schedule?: string; notify?: string; duration?: string; admin?: string; labels?: Record<string, string> } = {},
): string {
  const environment = opts.environment === null ? '' : `\n  environment: ${JSON.stringify(opts.environment ?? 'staging')}`;
  const labels = opts.labels ? `\n  labels: ${JSON.stringify(opts.labels)}` : '';
  return `apiVersion: steadystate.dev/v1alpha1
kind: Experiment
metadata:
  name: ${JSON.stringify(name)}
  service: ${JSON.stringify(opts.service ?? 'shop')}${environment}${labels}
spec:
  source: { kind: prometheus, url: "http://127.0.0.1:9", step: 1s, timeout: 10s }
  steadyState:
    - name: checkout-sps
      query: sum(rate(shop_checkouts_total{group="$group"}[5s]))
      direction: decrease
      tolerance: 10%
  fault:
    injector: http-proxy
    params: { admin: ${JSON.stringify(opts.admin ?? `http://127.0.0.1:9/${encodeURIComponent(name)}`)}, latencyMs: 300 }
    duration: ${opts.duration ?? '1m'}
  analysis: { minSamples: 20 }
${opts.schedule ? `  schedule: ${opts.schedule}\n` : ''}${opts.notify ? `  notify: ${opts.notify}\n` : ''}`;
}

export function taggedSpec(name: string, opts: Parameters<typeof taggedSpecYaml>[1] = {}): Experiment {
  return loadExperiment(taggedSpecYaml(name, opts));
}

export async function addExperiment(store: Store, name: string, opts: Parameters<typeof taggedSpecYaml>[1] = {}, tweak?: (spec: Experiment) => void): Promise<void> {
  const source = taggedSpecYaml(name, opts);
  const spec = loadExperiment(source);
  tweak?.(spec);
  await store.experiments.create({ name, spec, source, format: 'yaml', actor: 'test' });
}

export interface TableState {
  rows: number;
  /** md5 of every row's text, in a stable order: any insert, update or delete changes it. */
  digest: string;
}

/** Row count and content digest of every table (but schema_migrations). */
export async function snapshotTables(sql: Sql): Promise<Record<string, TableState>> {
  const tables = await sql.query<{ tablename: string }>(
    `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations' ORDER BY tablename`,
  );
  const out: Record<string, TableState> = {};
  for (const { tablename } of tables) {
    if (!/^[a-z_][a-z0-9_]*$/.test(tablename)) throw new Error(`unexpected table name ${tablename}`);
    const [row] = await sql.query<{ rows: number; digest: string | null }>(
      `SELECT count(*) AS rows, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM "${tablename}" t`,
    );
    out[tablename] = { rows: row!.rows, digest: row!.digest ?? '' };
  }
  return out;
}

export interface HookHarness {
  app: ZodApp;
  sql: Sql;
  store: Store;
  runs: RunService;
  triggers: TriggerRepository;
  config: Readonly<ServiceConfig>;
  logger: Logger;
  /** The clock the hooks see; tests move it. */
  clock: { now: number };
  close(): Promise<void>;
}

/** The service's HTTP app on an in-memory PGlite, with the hook routes registered as the composition root would. */
export async function startHookHarness(env: NodeJS.ProcessEnv = WEBHOOK_ENV): Promise<HookHarness> {
  const config = loadConfig({ STEADYSTATE_LISTEN: '127.0.0.1:0', STEADYSTATE_PUBLIC_URL: 'https://chaos.example.com', ...env });
  const sql = await createPgliteSql({});
  const store = await createStore(sql);
  const triggers = createTriggerRepository(sql);
  const logger = pino({ level: process.env.STEADYSTATE_TEST_LOG ?? 'silent' });
  const runs = new RunService(store, config, logger);
  const clock = { now: Date.now() };
  const now = (): number => clock.now;
  // `now` and `triggers` ride along in the deps: once the composition root registers the hook
  // routes inside buildHttpApp (`registerHookRoutes(app, { ...deps, triggers })`), they reach them.
  const deps = { store, runs, config, logger, metrics: new Registry(), triggers, now };
  const app = await buildHttpApp(deps);
  // (GET /api/v1/schedules is registered at once; the webhook route only when the app loads its plugins.)
  if (!routesOf(app).some((r) => r.url === '/api/v1/schedules')) registerHookRoutes(app, deps);
  await app.ready();
  return {
    app,
    sql,
    store,
    runs,
    triggers,
    config,
    logger,
    clock,
    async close() {
      await runs.shutdown(5_000);
      await app.close();
      await store.close();
    },
  };
}

/** A starter that creates the run row (so overlap is real) and records each call. */
export class RecordingStarter implements RunStarter {
  readonly calls: { name: string; key: string | undefined }[] = [];
  private n = 0;
  constructor(
    private readonly store: Store,
    private readonly opts: { finish?: boolean; fail?: Error; label?: string } = {},
  ) {}
  async start(name: string, o: { actor: string; idempotencyKey?: string }): Promise<{ run: StoredRun; created: boolean }> {
    this.calls.push({ name, key: o.idempotencyKey });
    if (this.opts.fail) throw this.opts.fail;
    const version = (await this.store.experiments.get(name))!;
    this.n += 1;
    const result = await this.store.runs.create({
      id: `run-${this.opts.label ?? 's'}-${name}-${this.n}-${Math.random().toString(36).slice(2, 8)}`,
      experiment: name,
      version: version.version,
      target: `target:${name}`,
      actor: o.actor,
      ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
    });
    if (this.opts.finish) await this.store.runs.update(result.run.id, { state: 'passed', verdict: 'pass' });
    return result;
  }
}


/**
 * Kubernetes access shared by the chaos-mesh and litmus injectors: where the
 * cluster and credentials come from, the custom-objects REST calls they make,
 * how failures map to retryable or fatal errors, and the bounded polling both
 * use while an operator acts.
 *
 * Why not @kubernetes/client-node: its 2.x line bundles undici 8, which needs
 * Node ≥ 22.19 and throws as soon as the package is imported on Node 20 (our
 * runtime), taking the whole CLI down with it. The few calls we need are plain
 * REST (`/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]`), so they
 * are made here over node:http(s); the adapters only see `KubeClient`, so the
 * transport can be swapped back without touching them.
 *
 * Where the cluster comes from, first match wins:
 * 1. `kubeconfig` in the params (a file path), with an optional `context`;
 * 2. `KUBECONFIG` (one or more paths; for each name the first file wins);
 * 3. in-cluster: `KUBERNETES_SERVICE_HOST` and the service-account token file;
 * 4. `~/.kube/config`.
 * Credentials supported: bearer token, token file (re-read on every request,
 * so projected tokens rotate), client certificate, basic auth, and exec
 * plugins (client.authentication.k8s.io ExecCredential, as EKS, GKE and
 * kubelogin use). Legacy `auth-provider` entries are refused with a message.
 *
 * Error messages say where the credentials came from (file, context, user and
 * kind of credential), never a token, key or password.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { sleep } from '../lib/retry.ts';

// ---------------------------------------------------------------------------
// Marks we put on every object we create, and names derived from the run id.

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'steadystate';
/** Label (selectable, possibly shortened) and annotation (the exact run id). */
export const RUN_ID_KEY = 'steadystate.dev/run-id';
export const EXPERIMENT_ANNOTATION = 'steadystate.dev/experiment';
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** DNS-1123 label: what a namespace may be called. */
export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * `steadystate-<run id>` as a DNS-1123 name (≤ 63 characters), the same for
 * every call with the same run id, so a retried open finds what the first
 * attempt created. Run ids are lower-cased; anything else that had to change
 * (other characters, truncation) adds a hash of the exact id so two runs never
 * share a name.
 */
export function objectNameFor(runId: string): string {
  const lower = runId.toLowerCase();
  let safe = lower.replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  const prefix = 'steadystate-';
  const max = 63 - prefix.length;
  if (safe !== lower || safe.length > max || safe === '') {
    safe = `${safe.slice(0, max - 9).replace(/-$/, '')}-${shortHash(runId)}`.replace(/^-/, '');
  }
  return `${prefix}${safe}`;
}

/** The run id as a label value when it is one, else a shortened form with a hash (the annotation keeps it exact). */
export function runIdLabelValue(runId: string): string {
  if (runId.length <= 63 && LABEL_VALUE_RE.test(runId)) return runId;
  const safe = runId.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50).replace(/[^A-Za-z0-9]+$/, '');
  return `${safe}${safe ? '-' : ''}${shortHash(runId)}`;
}

/** Labels and annotations that mark an object as ours and name its run. */
export function ownershipMetadata(runId: string, experiment: string): { labels: Record<string, string>; annotations: Record<string, string> } {
  return {
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [RUN_ID_KEY]: runIdLabelValue(runId) },
    annotations: { [RUN_ID_KEY]: runId, [EXPERIMENT_ANNOTATION]: experiment },
  };
}

/** The exact run id recorded on an object: the annotation, else the label. */
export function runIdOf(obj: KubeObject): string | undefined {
  return obj.metadata?.annotations?.[RUN_ID_KEY] ?? obj.metadata?.labels?.[RUN_ID_KEY];
}

// ---------------------------------------------------------------------------
// Connection parameters (part of each adapter's params and of its handle).

export const kubeConnectionShape = {
  /** Path to a kubeconfig file. Default: KUBECONFIG, in-cluster, then ~/.kube/config. */
  kubeconfig: z.string().min(1).optional(),
  /** Context in that kubeconfig. Default: its current-context. */
  context: z.string().min(1).optional(),
};

export const kubeConnectionSchema = z.object(kubeConnectionShape);
export type KubeConnection = z.output<typeof kubeConnectionSchema>;

/** Keep only the fields that are set, so the connection stays plain JSON in a handle. */
export function connectionOf(params: KubeConnection): { kubeconfig?: string; context?: string } {
  const out: { kubeconfig?: string; context?: string } = {};
  if (params.kubeconfig !== undefined) out.kubeconfig = params.kubeconfig;
  if (params.context !== undefined) out.context = params.context;
  return out;
}

export interface KubeDeps {
  /** Per-request timeout in ms. Default 10 s. */
  timeoutMs?: number;
  /** Where KUBECONFIG, HOME and KUBERNETES_SERVICE_* are read. Default: process.env at load time. */
  env?: NodeJS.ProcessEnv;
  /** Prefix of the service-account paths (tests). Default: none. */
  inClusterRoot?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const EXEC_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

// ---------------------------------------------------------------------------
// Kubeconfig loading.

const execSchema = z
  .object({
    command: z.string().min(1),
    args: z.array(z.string()).nullish(),
    env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
    apiVersion: z.string().optional(),
  })
  .loose();

const clusterSchema = z
  .object({
    server: z.string(),
    'certificate-authority': z.string().optional(),
    'certificate-authority-data': z.string().optional(),
    'insecure-skip-tls-verify': z.boolean().optional(),
    'tls-server-name': z.string().optional(),
  })
  .loose();

const userSchema = z
  .object({
    token: z.string().optional(),
    tokenFile: z.string().optional(),
    'client-certificate': z.string().optional(),
    'client-certificate-data': z.string().optional(),
    'client-key': z.string().optional(),
    'client-key-data': z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    exec: execSchema.optional(),
    'auth-provider': z.object({ name: z.string() }).loose().optional(),
  })
  .loose();

const contextSchema = z.object({ cluster: z.string(), user: z.string().optional(), namespace: z.string().optional() }).loose();

const kubeconfigFileSchema = z
  .object({
    clusters: z.array(z.object({ name: z.string(), cluster: clusterSchema.optional() })).nullish(),
    users: z.array(z.object({ name: z.string(), user: userSchema.nullish() })).nullish(),
    contexts: z.array(z.object({ name: z.string(), context: contextSchema.optional() })).nullish(),
    'current-context': z.string().nullish(),
  })
  .loose();

type ClusterEntry = z.output<typeof clusterSchema> & { dir: string };
type UserEntry = z.output<typeof userSchema> & { dir: string };
type ContextEntry = z.output<typeof contextSchema>;

type Auth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'tokenFile'; file: string }
  | { kind: 'cert'; cert: Buffer; key: Buffer }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'exec'; exec: z.output<typeof execSchema>; dir: string };

/** A resolved cluster endpoint with its credentials. */
interface KubeTarget {
  server: URL;
  ca?: Buffer;
  insecure: boolean;
  tlsServerName?: string;
  auth: Auth;
  /** Where the credentials came from, without any secret: for error messages. */
  source: string;
}

function configError(message: string, cause?: unknown): InjectorError {
  return new InjectorError(`kubernetes: ${message}`, { retryable: false, code: 'injector_config', cause });
}

function readFileOr(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw configError(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function fileOrData(file: string | undefined, data: string | undefined, dir: string, what: string): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileOr(path.resolve(dir, file), what);
  return undefined;
}

function describeAuth(auth: Auth): string {
  switch (auth.kind) {
    case 'none':
      return 'no credentials';
    case 'token':
      return 'bearer token';
    case 'tokenFile':
      return `token file ${auth.file}`;
    case 'cert':
      return 'client certificate';
    case 'basic':
      return `basic auth as ${auth.username}`;
    case 'exec':
      return `exec plugin ${path.basename(auth.exec.command)}`;
  }
}

function loadKubeconfigFiles(files: string[], contextName: string | undefined, label: string): KubeTarget {
  const clusters = new Map<string, ClusterEntry>();
  const users = new Map<string, UserEntry>();
  const contexts = new Map<string, ContextEntry>();
  let current: string | undefined;
  for (const file of files) {
    const text = readFileOr(file, 'kubeconfig').toString('utf8');
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch {
      // No cause: a YAML error quotes the offending line, which may hold a token.
      throw configError(`kubeconfig ${file} is not valid YAML`);
    }
    const parsed = kubeconfigFileSchema.safeParse(doc ?? {});
    if (!parsed.success) {
      throw configError(`kubeconfig ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const dir = path.dirname(path.resolve(file));
    // kubectl's merge rule: for each name, the first file that defines it wins.
    for (const c of parsed.data.clusters ?? []) {
      if (!clusters.has(c.name) && c.cluster) clusters.set(c.name, { ...c.cluster, dir });
    }
    for (const u of parsed.data.users ?? []) {
      if (!users.has(u.name)) users.set(u.name, { ...(u.user ?? {}), dir });
    }
    for (const c of parsed.data.contexts ?? []) {
      if (!contexts.has(c.name) && c.context) contexts.set(c.name, c.context);
    }
    current ??= parsed.data['current-context'] ?? undefined;
  }

  const ctxName = contextName ?? current;
  if (!ctxName) throw configError(`${label} has no current-context; set "context" in the params`);
  const ctx = contexts.get(ctxName);
  if (!ctx) throw configError(`${label} has no context "${ctxName}"; known: ${[...contexts.keys()].join(', ') || 'none'}`);
  const cluster = clusters.get(ctx.cluster);
  if (!cluster) throw configError(`${label}: context "${ctxName}" names cluster "${ctx.cluster}", which is not defined`);
  const user = ctx.user ? users.get(ctx.user) : undefined;
  if (ctx.user && !user) throw configError(`${label}: context "${ctxName}" names user "${ctx.user}", which is not defined`);

  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw configError(`${label}: cluster "${ctx.cluster}" has an invalid server URL`);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') throw configError(`${label}: cluster server must be http(s)`);

  let auth: Auth = { kind: 'none' };
  if (user) {
    if (user['auth-provider']) {
      throw configError(
        `${label}: user "${ctx.user}" uses the legacy auth-provider "${user['auth-provider'].name}", which is not supported; use an exec plugin (e.g. kubelogin, gke-gcloud-auth-plugin)`,
      );
    }
    const cert = fileOrData(user['client-certificate'], user['client-certificate-data'], user.dir, 'client certificate');
    const key = fileOrData(user['client-key'], user['client-key-data'], user.dir, 'client key');
    if (user.token) auth = { kind: 'token', token: user.token };
    else if (user.tokenFile) auth = { kind: 'tokenFile', file: path.resolve(user.dir, user.tokenFile) };
    else if (cert && key) auth = { kind: 'cert', cert, key };
    else if (user.exec) auth = { kind: 'exec', exec: user.exec, dir: user.dir };
    else if (user.username !== undefined && user.password !== undefined) auth = { kind: 'basic', username: user.username, password: user.password };
  }
  const target: KubeTarget = {
    server,
    insecure: cluster['insecure-skip-tls-verify'] === true,
    auth,
    source: `${label} (context ${ctxName}, user ${ctx.user ?? '(none)'}, ${describeAuth(auth)})`,
  };
  const ca = fileOrData(cluster['certificate-authority'], cluster['certificate-authority-data'], cluster.dir, 'certificate authority');
  if (ca) target.ca = ca;
  if (cluster['tls-server-name']) target.tlsServerName = cluster['tls-server-name'];
  return target;
}

/** Resolve where to connect, following the order in the file comment. */
export function resolveKubeTarget(conn: KubeConnection, deps: KubeDeps = {}): KubeTarget {
  const env = deps.env ?? process.env;
  if (conn.kubeconfig) return loadKubeconfigFiles([conn.kubeconfig], conn.context, `kubeconfig file ${conn.kubeconfig}`);
  const fromEnv = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) return loadKubeconfigFiles(fromEnv, conn.context, `KUBECONFIG=${fromEnv.join(path.delimiter)}`);

  const root = deps.inClusterRoot ?? '';
  const tokenFile = `${root}${SA_DIR}/token`;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host && existsSync(tokenFile)) {
    if (conn.context) throw configError('"context" needs a kubeconfig; in-cluster there is only the service account');
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    const target: KubeTarget = {
      server: new URL(`https://${isIPv6(host) ? `[${host}]` : host}:${port}`),
      insecure: false,
      auth: { kind: 'tokenFile', file: tokenFile },
      source: `in-cluster service account (token file ${tokenFile})`,
    };
    const caFile = `${root}${SA_DIR}/ca.crt`;
    if (existsSync(caFile)) target.ca = readFileOr(caFile, 'service-account CA');
    return target;
  }

  const home = env.HOME ?? env.USERPROFILE;
  const fallback = home ? path.join(home, '.kube', 'config') : undefined;
  if (fallback && existsSync(fallback)) return loadKubeconfigFiles([fallback], conn.context, `kubeconfig file ${fallback}`);
  throw configError('no cluster configured: set "kubeconfig" in the params, or KUBECONFIG, or run inside a cluster');
}

// ---------------------------------------------------------------------------
// Exec credential plugins.

const execCredentialSchema = z.object({
  status: z
    .object({
      token: z.string().optional(),
      clientCertificateData: z.string().optional(),
      clientKeyData: z.string().optional(),
      expirationTimestamp: z.string().optional(),
    })
    .loose(),
});

interface ExecCredential {
  token?: string;
  cert?: string;
  key?: string;
  /** ms since epoch; undefined = valid until it fails. */
  expiresAt?: number;
}

function runExecPlugin(auth: Extract<Auth, { kind: 'exec' }>, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<ExecCredential> {
  const { exec } = auth;
  // Like kubectl: a command with a slash is relative to the kubeconfig's folder, a bare name is looked up on PATH.
  const command = exec.command.includes('/') ? path.resolve(auth.dir, exec.command) : exec.command;
  const what = `kubernetes exec plugin ${path.basename(command)}`;
  const childEnv: NodeJS.ProcessEnv = { ...env };
  for (const e of exec.env ?? []) childEnv[e.name] = e.value;
  childEnv.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    spec: { interactive: false },
  });
  return new Promise((resolve, reject) => {
    execFile(
      command,
      exec.args ?? [],
      { env: childEnv, timeout: EXEC_TIMEOUT_MS, signal, maxBuffer: 1024 * 1024, windowsHide: true },
      (err, stdout, stderr) => {
        if (err) {
          if (signal.aborted) {
            reject(new AbortedError(`${what}: aborted`));
            return;
          }
          const code = (err as NodeJS.ErrnoException).code;
          const permanent = code === 'ENOENT' || code === 'EACCES';
          // stderr may explain a login problem; stdout would hold the credential, so it is never quoted.
          const tail = String(stderr).trim().slice(-300);
          reject(
            new InjectorError(`${what} failed${typeof code === 'string' ? ` (${code})` : ''}${tail ? `: ${tail}` : ''}`, {
              retryable: !permanent,
              code: 'injector_auth',
            }),
          );
          return;
        }
        let parsed: z.output<typeof execCredentialSchema>;
        try {
          parsed = execCredentialSchema.parse(JSON.parse(String(stdout)));
        } catch {
          reject(new InjectorError(`${what} did not print an ExecCredential`, { retryable: false, code: 'injector_auth' }));
          return;
        }
        const s = parsed.status;
        const cred: ExecCredential = {};
        if (s.token) cred.token = s.token;
        if (s.clientCertificateData && s.clientKeyData) {
          cred.cert = s.clientCertificateData;
          cred.key = s.clientKeyData;
        }
        if (!cred.token && !cred.cert) {
          reject(new InjectorError(`${what} returned neither a token nor a client certificate`, { retryable: false, code: 'injector_auth' }));
          return;
        }
        const exp = s.expirationTimestamp ? Date.parse(s.expirationTimestamp) : NaN;
        if (Number.isFinite(exp)) cred.expiresAt = exp;
        resolve(cred);
      },
    );
  });
}

// ---------------------------------------------------------------------------
// Objects and errors.

export const kubeObjectSchema = z
  .object({
    apiVersion: z.string().optional(),
    kind: z.string().optional(),
    metadata: z
      .object({
        name: z.string().optional(),
        namespace: z.string().optional(),
        labels: z.record(z.string(), z.string()).nullish().transform((v) => v ?? undefined),
        annotations: z.record(z.string(), z.string()).nullish().transform((v) => v ?? undefined),
        creationTimestamp: z.string().nullish(),
        deletionTimestamp: z.string().nullish(),
      })
      .loose()
      .optional(),
    spec: z.unknown().optional(),
    status: z.unknown().optional(),
  })
  .loose();
export type KubeObject = z.output<typeof kubeObjectSchema>;

const listSchema = z.object({
  items: z.array(kubeObjectSchema).nullish(),
  metadata: z.object({ continue: z.string().nullish() }).loose().optional(),
});

/** A custom resource type: `/apis/{group}/{version}/namespaces/{ns}/{plural}`. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

/** Status code and the API server's own explanation (a Status object's `message`), shortened. */
function statusMessage(body: unknown): string {
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return `: ${(body as { message: string }).message.slice(0, 300)}`;
  }
  return '';
}

/** The HTTP status as an InjectorError: 401/403 fatal (naming the credential source), 408/429/5xx retryable. */
export function kubeStatusError(what: string, status: number, body: unknown, source: string): InjectorError {
  if (status === 401 || status === 403) {
    const why = status === 401 ? 'credentials rejected' : 'forbidden';
    return new InjectorError(`${what}: HTTP ${status} ${why}; credentials from ${source}${statusMessage(body)}`, {
      retryable: false,
      code: 'injector_auth',
    });
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  return new InjectorError(`${what}: HTTP ${status}${statusMessage(body)}`, {
    retryable,
    code: status === 409 ? 'injector_conflict' : 'injector_http_error',
  });
}

const TLS_CODES = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_)/;

function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

interface Answer {
  status: number;
  body: unknown;
}

export interface KubeClient {
  /** Where the credentials come from (for messages); loads the configuration if needed. */
  source(): string;
  /** `created` with the object, or `exists` when an object of that name is already there (409). */
  create(res: CustomResource, ns: string, body: object, what: string, signal?: AbortSignal): Promise<{ created: KubeObject } | { exists: true }>;
  /** The object, or undefined when it does not exist (404). */
  get(res: CustomResource, ns: string, name: string, what: string, signal?: AbortSignal): Promise<KubeObject | undefined>;
  /** Every object matching the label selector (all pages). A 404 means the resource type is not served: fatal. */
  list(res: CustomResource, ns: string, labelSelector: string | undefined, what: string, signal?: AbortSignal, limit?: number): Promise<KubeObject[]>;
  /** JSON merge patch (`application/merge-patch+json`); undefined when the object does not exist. */
  mergePatch(res: CustomResource, ns: string, name: string, patch: object, what: string, signal?: AbortSignal): Promise<KubeObject | undefined>;
  /** `deleted`, or `gone` when there was nothing to delete (404). */
  delete(res: CustomResource, ns: string, name: string, what: string, signal?: AbortSignal): Promise<'deleted' | 'gone'>;
}

function objectPath(res: CustomResource, ns: string, name?: string): string {
  const base = `/apis/${encodeURIComponent(res.group)}/${encodeURIComponent(res.version)}/namespaces/${encodeURIComponent(ns)}/${encodeURIComponent(res.plural)}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

function parseObject(what: string, body: unknown): KubeObject {
  const parsed = kubeObjectSchema.safeParse(body);
  if (!parsed.success) throw new InjectorError(`${what}: the API server answered with something that is not an object`, { retryable: true, code: 'injector_bad_response' });
  return parsed.data;
}

/** A client for one connection; the configuration is read on first use and kept. */
export function createKubeClient(conn: KubeConnection, deps: KubeDeps = {}): KubeClient {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env = deps.env ?? process.env;
  let target: KubeTarget | undefined;
  let execCred: ExecCredential | undefined;

  const load = (): KubeTarget => {
    // Not cached on failure: a kubeconfig that appears later is picked up.
    target ??= resolveKubeTarget(conn, deps);
    return target;
  };

  async function credentials(t: KubeTarget, signal: AbortSignal): Promise<{ authorization?: string; cert?: Buffer | string; key?: Buffer | string }> {
    const auth = t.auth;
    switch (auth.kind) {
      case 'none':
        return {};
      case 'token':
        return { authorization: `Bearer ${auth.token}` };
      case 'tokenFile':
        return { authorization: `Bearer ${readFileOr(auth.file, 'token file').toString('utf8').trim()}` };
      case 'cert':
        return { cert: auth.cert, key: auth.key };
      case 'basic':
        return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
      case 'exec': {
        // Refresh a minute before expiry, so a request never leaves with a token about to lapse.
        if (!execCred || (execCred.expiresAt !== undefined && execCred.expiresAt - 60_000 <= Date.now())) {
          execCred = await runExecPlugin(auth, env, signal);
        }
        return execCred.token ? { authorization: `Bearer ${execCred.token}` } : { cert: execCred.cert ?? '', key: execCred.key ?? '' };
      }
    }
  }

  async function send(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    pathname: string,
    opts: { what: string; query?: Record<string, string>; body?: object; contentType?: string; signal?: AbortSignal | undefined },
  ): Promise<Answer> {
    const label = `${opts.what}: ${method} ${pathname}`;
    if (opts.signal?.aborted) throw new AbortedError(`${label}: aborted`);
    const t = load();
    const limit = requestSignal(timeoutMs, opts.signal);
    try {
      return await sendWith(t, limit, method, requestUrl(t, pathname, opts.query), opts, label);
    } finally {
      limit.done();
    }
  }

  function requestUrl(t: KubeTarget, pathname: string, query: Record<string, string> | undefined): URL {
    const url = new URL(pathname, t.server);
    // A server URL with a path prefix (e.g. behind a proxy) keeps it.
    if (t.server.pathname !== '/') url.pathname = `${t.server.pathname.replace(/\/$/, '')}${pathname}`;
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    return url;
  }

  async function sendWith(
    t: KubeTarget,
    limit: ReturnType<typeof requestSignal>,
    method: string,
    url: URL,
    opts: { body?: object; contentType?: string; signal?: AbortSignal | undefined },
    label: string,
  ): Promise<Answer> {
    const signal = limit.signal;
    const cred = await credentials(t, signal);
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'steadystate' };
    if (cred.authorization) headers.authorization = cred.authorization;
    if (payload !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const options: RequestOptions & { ca?: Buffer; cert?: Buffer | string; key?: Buffer | string; rejectUnauthorized?: boolean; servername?: string } = {
      method,
      headers,
      signal,
    };
    if (url.protocol === 'https:') {
      if (t.ca) options.ca = t.ca;
      if (cred.cert) options.cert = cred.cert;
      if (cred.key) options.key = cred.key;
      options.rejectUnauthorized = !t.insecure;
      if (t.tlsServerName) options.servername = t.tlsServerName;
    }

    try {
      return await new Promise<Answer>((resolve, reject) => {
        const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy(new Error('response too large'));
              return;
            }
            chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              // Not JSON (a proxy's error page): keep the text, it is only used for the status message.
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
        req.on('error', reject);
        req.end(payload);
      });
    } catch (err) {
      if (opts.signal?.aborted) throw new AbortedError(`${label}: aborted`);
      if (limit.timedOut()) throw new InjectorError(`${label}: no answer within ${timeoutMs} ms`, { retryable: true, code: 'injector_timeout' });
      const code = errnoCode(err);
      if (code && TLS_CODES.test(code)) {
        throw new InjectorError(`${label}: TLS verification failed (${code}); check the cluster's certificate-authority in ${t.source}`, {
          retryable: false,
          code: 'injector_tls',
        });
      }
      // Only the code as cause: a socket error's message can quote the request.
      throw new InjectorError(`${label}: network error${code ? ` (${code})` : ''}`, {
        retryable: true,
        code: 'injector_network',
        cause: code ? new Error(code) : undefined,
      });
    }
  }

  const ok = (s: number): boolean => s >= 200 && s < 300;

  function fail(what: string, method: string, pathname: string, a: Answer): never {
    if ((a.status === 401 || a.status === 403) && target?.auth.kind === 'exec') execCred = undefined;
    throw kubeStatusError(`${what}: ${method} ${pathname}`, a.status, a.body, target?.source ?? 'unknown');
  }

  return {
    source: () => load().source,

    async create(res, ns, body, what, signal) {
      const p = objectPath(res, ns);
      const a = await send('POST', p, { what, body, signal });
      if (a.status === 409) return { exists: true };
      if (!ok(a.status)) fail(what, 'POST', p, a);
      return { created: parseObject(what, a.body) };
    },

    async get(res, ns, name, what, signal) {
      const p = objectPath(res, ns, name);
      const a = await send('GET', p, { what, signal });
      if (a.status === 404) return undefined;
      if (!ok(a.status)) fail(what, 'GET', p, a);
      return parseObject(what, a.body);
    },

    async list(res, ns, labelSelector, what, signal, limit) {
      const p = objectPath(res, ns);
      const items: KubeObject[] = [];
      let cont: string | undefined;
      do {
        const query: Record<string, string> = {};
        if (labelSelector) query.labelSelector = labelSelector;
        if (limit !== undefined) query.limit = String(limit);
        else query.limit = '500';
        if (cont) query.continue = cont;
        const a = await send('GET', p, { what, query, signal });
        if (a.status === 404) {
          throw new InjectorError(`${what}: GET ${p}: HTTP 404; is the ${res.group} custom resource (${res.plural}) installed in this cluster?`, {
            retryable: false,
            code: 'injector_not_found',
          });
        }
        if (!ok(a.status)) fail(what, 'GET', p, a);
        const parsed = listSchema.safeParse(a.body);
        if (!parsed.success) throw new InjectorError(`${what}: GET ${p}: not a list`, { retryable: true, code: 'injector_bad_response' });
        items.push(...(parsed.data.items ?? []));
        cont = limit === undefined ? (parsed.data.metadata?.continue ?? undefined) : undefined;
      } while (cont);
      return items;
    },

    async mergePatch(res, ns, name, patch, what, signal) {
      const p = objectPath(res, ns, name);
      const a = await send('PATCH', p, { what, body: patch, contentType: 'application/merge-patch+json', signal });
      if (a.status === 404) return undefined;
      if (!ok(a.status)) fail(what, 'PATCH', p, a);
      return parseObject(what, a.body);
    },

    async delete(res, ns, name, what, signal) {
      const p = objectPath(res, ns, name);
      const a = await send('DELETE', p, { what, signal });
      if (a.status === 404) return 'gone';
      if (!ok(a.status)) fail(what, 'DELETE', p, a);
      return 'deleted';
    },
  };
}

// ---------------------------------------------------------------------------
// Bounded polling while a backend acts. Generic; the FIS and Gremlin adapters
// use it too (it belongs in src/lib once the lead moves it there).

/**
 * A per-request timeout joined with the caller's signal. Unlike
 * AbortSignal.timeout, its timer is cleared when the request is over: a
 * client that leaves a listener on the signal (the AWS SDK does) would
 * otherwise hold the process open until the timer fires.
 */
export function requestSignal(timeoutMs: number, signal?: AbortSignal): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
  return {
    signal: signal ? AbortSignal.any([controller.signal, signal]) : controller.signal,
    timedOut: () => controller.signal.aborted,
    done: () => clearTimeout(timer),
  };
}

export type PollJudgement = { done: true } | { done: false; failed?: string; detail?: string };

export type PollOutcome<T> =
  | { outcome: 'done'; value: T }
  | { outcome: 'failed'; reason: string; value: T }
  | { outcome: 'timeout'; detail: string };

export interface PollOptions<T> {
  read: (signal?: AbortSignal) => Promise<T>;
  judge: (value: T) => PollJudgement;
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * Read until `judge` says done or failed, or `timeoutMs` passes. Retryable
 * read errors (a 503, a dropped connection) are waited out like a "not yet";
 * fatal ones (auth, not found) and aborts end the wait at once by throwing.
 */
export async function pollUntil<T>(opts: PollOptions<T>): Promise<PollOutcome<T>> {
  const until = Date.now() + opts.timeoutMs;
  let detail: string | undefined;
  for (;;) {
    try {
      const value = await opts.read(opts.signal);
      const j = opts.judge(value);
      if (j.done) return { outcome: 'done', value };
      if (j.failed !== undefined) return { outcome: 'failed', reason: j.failed, value };
      detail = j.detail ?? 'not yet';
    } catch (err) {
      if (err instanceof AbortedError || !(err instanceof InjectorError) || !err.retryable) throw err;
      detail = `last read failed: ${err.message}`;
    }
    if (Date.now() >= until) return { outcome: 'timeout', detail: detail ?? 'no answer yet' };
    await sleep(Math.min(opts.intervalMs, Math.max(0, until - Date.now())), opts.signal);
  }
}

/** Seconds left until the deadline, rounded up; throws (fatal) when none are left. */
export function secondsUntil(deadline: Date, what: string, now: number = Date.now()): number {
  const ms = deadline.getTime() - now;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new InjectorError(`${what}: the window's deadline (${Number.isFinite(deadline.getTime()) ? deadline.toISOString() : 'invalid'}) has already passed`, {
      retryable: false,
      code: 'injector_deadline',
    });
  }
  return Math.max(1, Math.ceil(ms / 1000));
}

/** `status.conditions[type=…].status === "True"` (Kubernetes condition convention). */
export function conditionTrue(obj: KubeObject | undefined, type: string): boolean {
  const conditions = (obj?.status as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions)) return false;
  return conditions.some((c: unknown) => {
    const cond = c as { type?: unknown; status?: unknown };
    return cond.type === type && cond.status === 'True';
  });
}

/** `AllInjected=True, Selected=False` — for messages. */
export function describeConditions(obj: KubeObject | undefined): string {
  const conditions = (obj?.status as { conditions?: unknown } | undefined)?.conditions;
  if (!Array.isArray(conditions) || conditions.length === 0) return 'no conditions reported yet';
  return conditions
    .map((c: unknown) => {
      const cond = c as { type?: unknown; status?: unknown };
      return `${String(cond.type)}=${String(cond.status)}`;
    })
    .join(', ');
}

/**
 * A client per (kubeconfig, context), built on first use. Handles carry their
 * own connection, so a process that never saw the spec can still close them.
 */
export function kubeClientPool(deps: KubeDeps = {}): (conn: KubeConnection) => KubeClient {
  const clients = new Map<string, KubeClient>();
  return (conn) => {
    const key = JSON.stringify([conn.kubeconfig ?? null, conn.context ?? null]);
    let client = clients.get(key);
    if (!client) {
      client = createKubeClient(conn, deps);
      clients.set(key, client);
    }
    return client;
  };
}

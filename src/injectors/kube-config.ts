/**
 * Where the Kubernetes injectors' cluster and credentials come from, read with
 * @kubernetes/client-node's KubeConfig (it parses kubeconfigs and applies
 * client certificates, CAs, tokens and exec plugins). First match wins:
 * 1. `kubeconfig` in the params (a file path), with an optional `context`;
 * 2. `KUBECONFIG` (one or more paths; for each name the first file wins);
 * 3. in-cluster: `KUBERNETES_SERVICE_HOST` and the service-account token file;
 * 4. `~/.kube/config`.
 * What kubectl does and the client does not is done here: its merge rule,
 * `tokenFile`, exec commands relative to the kubeconfig, http:// on loopback.
 * Legacy `auth-provider` entries (gcp, azure, oidc) are refused with a message.
 * Messages name the source (file, context, user, kind of credential), never a secret.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InjectorError } from '../lib/errors.ts';
import { loadedKubeLib } from './kube-lib.ts';

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
  /** Per-request timeout in ms (also bounds an exec credential plugin). Default 10 s. */
  timeoutMs?: number;
  /** Where KUBECONFIG, HOME and KUBERNETES_SERVICE_* are read. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Prefix of the service-account paths (tests). Default: none. */
  inClusterRoot?: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function configError(message: string): InjectorError {
  return new InjectorError(`kubernetes: ${message}`, { retryable: false, code: 'injector_config' });
}

type RawUser = { tokenFile?: unknown; exec?: { command?: unknown } | null; [k: string]: unknown };
type RawCluster = { server?: unknown; [k: string]: unknown };

/** Plain http:// only to this machine (`kubectl proxy`, contract tests): elsewhere credentials would cross the network unencrypted. */
function loopbackHttp(server: string): boolean {
  try {
    const url = new URL(server);
    return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname));
  } catch {
    return false;
  }
}

/**
 * One kubeconfig file, with what the client leaves out done as kubectl does: a
 * user's `tokenFile` becomes a token file re-read while it rotates, an exec
 * command with a slash is relative to the file's folder, and an http:// server
 * on loopback is allowed (the client refuses plain http unless TLS checks are
 * off, which for http changes nothing else).
 */
function loadFile(file: string): KubeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(`cannot read kubeconfig ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let doc: { users?: { user?: RawUser | null }[] | null; clusters?: { cluster?: RawCluster | null }[] | null } | null;
  try {
    doc = parseYaml(text) as typeof doc;
  } catch {
    // No cause and no YAML message: it quotes the offending line, which may hold a token.
    throw configError(`kubeconfig ${file} is not valid YAML`);
  }
  const dir = path.dirname(path.resolve(file));
  for (const { user } of Array.isArray(doc?.users) ? doc.users : []) {
    if (user && typeof user.tokenFile === 'string') user['auth-provider'] = { name: TOKEN_FILE_PROVIDER, config: { file: path.resolve(dir, user.tokenFile) } };
    const command = user?.exec?.command;
    if (user?.exec && typeof command === 'string' && command.includes('/')) user.exec.command = path.resolve(dir, command);
  }
  for (const { cluster } of Array.isArray(doc?.clusters) ? doc.clusters : []) {
    if (cluster && typeof cluster.server === 'string' && loopbackHttp(cluster.server)) cluster['insecure-skip-tls-verify'] = true;
  }
  const kc = newKubeConfig();
  try {
    kc.loadFromString(JSON.stringify(doc ?? {}));
  } catch (err) {
    throw configError(`kubeconfig ${file}: ${(err as Error).message.split('\n')[0]?.slice(0, 200)}`);
  }
  kc.makePathsAbsolute(dir);
  return kc;
}

/**
 * kubectl's `tokenFile`: read on every request (a projected token rotates) and
 * trimmed, as kubectl does — the client's own token-file provider keeps a
 * trailing newline, which no HTTP header accepts.
 */
const TOKEN_FILE_PROVIDER = 'steadystate-token-file';
const tokenFileAuth: Parameters<KubeConfig['addAuthenticator']>[0] = {
  isAuthProvider: (user) => (user.authProvider as { name?: string } | undefined)?.name === TOKEN_FILE_PROVIDER,
  applyAuthentication: async (user, opts) => {
    const file = (user.authProvider as { config: { file: string } }).config.file;
    let token: string;
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw Object.assign(new Error(`cannot read token file ${file}`), { code: (err as NodeJS.ErrnoException).code });
    }
    const o = opts as { headers?: Record<string, unknown> };
    o.headers = { ...o.headers, Authorization: `Bearer ${token}` };
  },
};

function newKubeConfig(): KubeConfig {
  const kc = new (loadedKubeLib().KubeConfig)();
  kc.addAuthenticator(tokenFileAuth);
  return kc;
}

/** kubectl's merge rule: for each name, the first file that defines it wins. */
function loadFiles(files: string[], contextName: string | undefined, label: string): KubeConfig {
  const kc = newKubeConfig();
  let current: string | undefined;
  for (const file of files) {
    const one = loadFile(file);
    for (const c of one.getClusters()) if (!kc.getCluster(c.name)) kc.addCluster(c);
    for (const u of one.getUsers()) if (!kc.getUser(u.name)) kc.addUser(u);
    for (const c of one.getContexts()) if (!kc.getContextObject(c.name)) kc.addContext(c);
    current ||= one.getCurrentContext() || undefined;
  }
  const ctxName = contextName ?? current;
  if (!ctxName) throw configError(`${label} has no current-context; set "context" in the params`);
  const ctx = kc.getContextObject(ctxName);
  if (!ctx) throw configError(`${label} has no context "${ctxName}"; known: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}`);
  const cluster = kc.getCluster(ctx.cluster);
  if (!cluster) throw configError(`${label}: context "${ctxName}" names cluster "${ctx.cluster}", which is not defined`);
  if (!/^https?:\/\//.test(cluster.server)) throw configError(`${label}: cluster "${ctx.cluster}" server must be an http(s) URL`);
  if (cluster.server.startsWith('http:') && !loopbackHttp(cluster.server)) {
    throw configError(`${label}: cluster "${ctx.cluster}" is plain http on another host; credentials would cross the network unencrypted (use https; http is accepted on loopback only, e.g. kubectl proxy)`);
  }
  if (ctx.user && !kc.getUser(ctx.user)) throw configError(`${label}: context "${ctxName}" names user "${ctx.user}", which is not defined`);
  const provider = (kc.getUser(ctx.user)?.authProvider as { name?: string } | undefined)?.name;
  if (provider && provider !== TOKEN_FILE_PROVIDER) {
    throw configError(`${label}: user "${ctx.user}" uses the legacy auth-provider "${provider}", which is not supported; use an exec plugin (e.g. kubelogin, gke-gcloud-auth-plugin)`);
  }
  kc.setCurrentContext(ctxName);
  return kc;
}

/** Where the credentials come from, without any secret: for error messages. */
function describe(kc: KubeConfig, label: string): string {
  const u = kc.getCurrentUser();
  const tokenFile = (u?.authProvider as { config?: { file?: string } } | undefined)?.config?.file;
  const kind = !u
    ? 'no credentials'
    : u.token
      ? 'bearer token'
      : tokenFile
        ? `token file ${tokenFile}`
        : u.certData || u.certFile
          ? 'client certificate'
          : u.exec
            ? `exec plugin ${path.basename(String((u.exec as { command?: unknown }).command))}`
            : u.username
              ? `basic auth as ${u.username}`
              : 'no credentials';
  return label.startsWith('in-cluster') ? label : `${label} (context ${kc.getCurrentContext()}, user ${u?.name ?? '(none)'}, ${kind})`;
}

/** Resolve where to connect, following the order in the file comment. */
export function loadKubeConfig(conn: KubeConnection, deps: KubeDeps = {}): { kc: KubeConfig; source: string } {
  const env = deps.env ?? process.env;
  const from = (files: string[], label: string): { kc: KubeConfig; source: string } => {
    const kc = loadFiles(files, conn.context, label);
    return { kc, source: describe(kc, label) };
  };
  if (conn.kubeconfig) return from([conn.kubeconfig], `kubeconfig file ${conn.kubeconfig}`);
  const fromEnv = (env.KUBECONFIG ?? '').split(path.delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) return from(fromEnv, `KUBECONFIG=${fromEnv.join(path.delimiter)}`);

  const root = deps.inClusterRoot ?? '';
  const tokenFile = `${root}${SA_DIR}/token`;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host && existsSync(tokenFile)) {
    if (conn.context) throw configError('"context" needs a kubeconfig; in-cluster there is only the service account');
    // As KubeConfig.loadFromCluster, but from `env` and `root`.
    const kc = new (loadedKubeLib().KubeConfig)();
    const caFile = `${root}${SA_DIR}/ca.crt`;
    kc.loadFromClusterAndUser(
      { name: 'inCluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`, skipTLSVerify: false, ...(existsSync(caFile) ? { caFile } : {}) },
      { name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile } } },
    );
    return { kc, source: `in-cluster service account (token file ${tokenFile})` };
  }
  const home = env.HOME ?? env.USERPROFILE;
  const fallback = home ? path.join(home, '.kube', 'config') : undefined;
  if (fallback && existsSync(fallback)) return from([fallback], `kubeconfig file ${fallback}`);
  throw configError('no cluster configured: set "kubeconfig" in the params, or KUBECONFIG, or run inside a cluster');
}

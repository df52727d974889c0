/**
 * The Kubernetes client of the chaos-mesh and litmus injectors, on the official
 * @kubernetes/client-node 1.x (its transport runs on Node 20; see
 * docs/adr/005-kubernetes-client.md): the five custom-objects calls they make,
 * each bounded by a timeout and the caller's signal, with failures turned into
 * retryable or fatal InjectorErrors that name the credential source and never
 * a secret. Where the configuration comes from: kube-config.ts.
 */
import type { ApiException, CustomObjectsApi, ObservableMiddleware, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { z } from 'zod';
import { AbortedError, InjectorError } from '../lib/errors.ts';
import { loadKubeConfig, type KubeConnection, type KubeDeps } from './kube-config.ts';
import { kubeLib, loadedKubeLib } from './kube-lib.ts';
import { kubeObjectSchema, type CustomResource, type KubeObject } from './kube-objects.ts';
import { requestSignal } from './poll.ts';

export { connectionOf, kubeConnectionSchema, kubeConnectionShape, loadKubeConfig, type KubeConnection, type KubeDeps } from './kube-config.ts';
export * from './kube-objects.ts';
// The polling helpers lived here first; other injectors still import them from this module.
export * from './poll.ts';

const DEFAULT_TIMEOUT_MS = 10_000;

/** Status code and the API server's own explanation (a Status object's `message`), shortened. */
function statusMessage(body: unknown): string {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return '';
    }
  }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? `: ${message.slice(0, 300)}` : '';
}

/** The HTTP status as an InjectorError: 401/403 fatal (naming the credential source), 408/429/5xx retryable. */
export function kubeStatusError(what: string, status: number, body: unknown, source: string): InjectorError {
  if (status === 401 || status === 403) {
    const why = status === 401 ? 'credentials rejected' : 'forbidden';
    return new InjectorError(`${what}: HTTP ${status} ${why}; credentials from ${source}${statusMessage(body)}`, { retryable: false, code: 'injector_auth' });
  }
  return new InjectorError(`${what}: HTTP ${status}${statusMessage(body)}`, {
    retryable: status === 408 || status === 429 || status >= 500,
    code: status === 409 ? 'injector_conflict' : 'injector_http_error',
  });
}

const TLS_CODES = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_)/;

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

const listSchema = z.object({
  items: z.array(kubeObjectSchema).nullish(),
  metadata: z.object({ continue: z.string().nullish() }).loose().optional(),
});

/** A client for one connection; the configuration is read on first use and kept (not when it fails). */
export function createKubeClient(conn: KubeConnection, deps: KubeDeps = {}): KubeClient {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let loaded: { api: CustomObjectsApi; source: string } | undefined;
  const load = (k8s: Awaited<ReturnType<typeof kubeLib>>): { api: CustomObjectsApi; source: string } => {
    if (!loaded) {
      const { kc, source } = loadKubeConfig(conn, deps);
      loaded = { api: kc.makeApiClient(k8s.CustomObjectsApi), source };
    }
    return loaded;
  };

  /**
   * One call, bounded by the timeout and the caller's signal — the whole call, since an exec
   * plugin runs before the request and the client gives it no deadline — with `status` the
   * answer's HTTP status, or undefined for 2xx.
   */
  async function call<T>(label: string, signal: AbortSignal | undefined, run: (api: CustomObjectsApi, opts: { middleware: ObservableMiddleware[]; middlewareMergeStrategy: 'append' }, patch?: true) => Promise<T>, patch?: true): Promise<{ value?: T; status?: number; body?: unknown }> {
    if (signal?.aborted) throw new AbortedError(`${label}: aborted`);
    const k8s = await kubeLib();
    const { api, source } = load(k8s);
    const limit = requestSignal(timeoutMs, signal);
    const middleware: ObservableMiddleware = {
      pre: (ctx: RequestContext) => {
        ctx.setSignal(limit.signal);
        if (patch) ctx.setHeaderParam('Content-Type', k8s.PatchStrategy.MergePatch);
        return new k8s.Observable(Promise.resolve(ctx));
      },
      post: (res: ResponseContext) => new k8s.Observable(Promise.resolve(res)),
    };
    let onAbort: (() => void) | undefined;
    try {
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new Error('aborted'));
        limit.signal.addEventListener('abort', onAbort, { once: true });
      });
      return { value: await Promise.race([run(api, { middleware: [middleware], middlewareMergeStrategy: 'append' }), aborted]) };
    } catch (err) {
      if (err instanceof k8s.ApiException) {
        const status = (err as ApiException<unknown>).code;
        if (status === 401 || status === 403) throw kubeStatusError(label, status, err.body, source);
        return { status, body: err.body };
      }
      if (signal?.aborted) throw new AbortedError(`${label}: aborted`);
      if (limit.timedOut()) throw new InjectorError(`${label}: no answer within ${timeoutMs} ms`, { retryable: true, code: 'injector_timeout' });
      throw transportError(label, err, source);
    } finally {
      if (onAbort) limit.signal.removeEventListener('abort', onAbort);
      limit.done();
    }
  }

  const fail = (label: string, a: { status?: number; body?: unknown }): never => {
    throw kubeStatusError(label, a.status ?? 0, a.body, loaded?.source ?? 'unknown');
  };
  const object = (label: string, body: unknown): KubeObject => {
    const parsed = kubeObjectSchema.safeParse(body);
    if (!parsed.success) throw new InjectorError(`${label}: the API server answered with something that is not an object`, { retryable: true, code: 'injector_bad_response' });
    return parsed.data;
  };
  const at = (res: CustomResource, ns: string, name?: string): string => `/apis/${res.group}/${res.version}/namespaces/${ns}/${res.plural}${name === undefined ? '' : `/${name}`}`;

  return {
    source: () => load(loadedKubeLib()).source,

    async create(res, ns, body, what, signal) {
      const label = `${what}: POST ${at(res, ns)}`;
      const a = await call(label, signal, (api, o) => api.createNamespacedCustomObject({ group: res.group, version: res.version, namespace: ns, plural: res.plural, body }, o));
      if (a.status === 409) return { exists: true };
      if (a.status !== undefined) fail(label, a);
      return { created: object(label, a.value) };
    },

    async get(res, ns, name, what, signal) {
      const label = `${what}: GET ${at(res, ns, name)}`;
      const a = await call(label, signal, (api, o) => api.getNamespacedCustomObject({ group: res.group, version: res.version, namespace: ns, plural: res.plural, name }, o));
      if (a.status === 404) return undefined;
      if (a.status !== undefined) fail(label, a);
      return object(label, a.value);
    },

    async list(res, ns, labelSelector, what, signal, limit) {
      const label = `${what}: GET ${at(res, ns)}`;
      const items: KubeObject[] = [];
      let cont: string | undefined;
      // Bounded by the server's pages: each answer either ends the list or names the next page.
      do {
        const a = await call(label, signal, (api, o) =>
          api.listNamespacedCustomObject(
            { group: res.group, version: res.version, namespace: ns, plural: res.plural, limit: limit ?? 500, ...(labelSelector ? { labelSelector } : {}), ...(cont ? { _continue: cont } : {}) },
            o,
          ),
        );
        if (a.status === 404) {
          throw new InjectorError(`${label}: HTTP 404; is the ${res.group} custom resource (${res.plural}) installed in this cluster?`, { retryable: false, code: 'injector_not_found' });
        }
        if (a.status !== undefined) fail(label, a);
        const parsed = listSchema.safeParse(a.value);
        if (!parsed.success) throw new InjectorError(`${label}: not a list`, { retryable: true, code: 'injector_bad_response' });
        items.push(...(parsed.data.items ?? []));
        cont = limit === undefined ? (parsed.data.metadata?.continue ?? undefined) : undefined;
      } while (cont);
      return items;
    },

    async mergePatch(res, ns, name, patch, what, signal) {
      const label = `${what}: PATCH ${at(res, ns, name)}`;
      const a = await call(label, signal, (api, o) => api.patchNamespacedCustomObject({ group: res.group, version: res.version, namespace: ns, plural: res.plural, name, body: patch }, o), true);
      if (a.status === 404) return undefined;
      if (a.status !== undefined) fail(label, a);
      return object(label, a.value);
    },

    async delete(res, ns, name, what, signal) {
      const label = `${what}: DELETE ${at(res, ns, name)}`;
      const a = await call(label, signal, (api, o) => api.deleteNamespacedCustomObject({ group: res.group, version: res.version, namespace: ns, plural: res.plural, name }, o));
      if (a.status === 404) return 'gone';
      if (a.status !== undefined) fail(label, a);
      return 'deleted';
    },
  };
}

/**
 * A failure before an HTTP answer: TLS (fatal), the network (retryable), or the credentials
 * (an exec plugin or a token file). Only codes and a plugin's stderr are quoted: a parse
 * error's message can quote a plugin's stdout, which holds the credential.
 */
function transportError(label: string, err: unknown, source: string): InjectorError {
  let code: string | undefined;
  for (let e: unknown = err, depth = 0; e && depth < 4 && code === undefined; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
  }
  const isFetch = (err as { name?: unknown }).name === 'FetchError';
  if (code && TLS_CODES.test(code)) {
    return new InjectorError(`${label}: TLS verification failed (${code}); check the cluster's certificate-authority in ${source}`, { retryable: false, code: 'injector_tls' });
  }
  if (isFetch) {
    return new InjectorError(`${label}: network error${code ? ` (${code})` : ''}`, { retryable: true, code: 'injector_network', cause: code ? new Error(code) : undefined });
  }
  const permanent = code === 'ENOENT' || code === 'EACCES' || err instanceof SyntaxError;
  // The client's exec plugin rejects with `new Error(stderr)`: that, and only that, is quoted. A
  // TypeError from header validation quotes the header (the token); a SyntaxError, the plugin's stdout.
  const plain = err instanceof Error && err.constructor === Error && !/bearer|authorization/i.test(err.message);
  const stderr = !code && plain ? err.message.trim().slice(-300) : '';
  return new InjectorError(`${label}: credentials from ${source} failed${code ? ` (${code})` : err instanceof SyntaxError ? ' (the exec plugin did not print an ExecCredential)' : ''}${stderr ? `: ${stderr}` : ''}`, {
    retryable: !permanent,
    code: 'injector_auth',
  });
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

/**
 * A Kubernetes API server for contract tests, on the recording contract
 * server: the custom-objects paths (`/apis/{group}/{version}/namespaces/{ns}/
 * {plural}[/{name}]`) with create (409 AlreadyExists), get and list (404 Status
 * objects, equality label selectors, `limit`), JSON merge patch (only with
 * `application/merge-patch+json`, 415 otherwise, as for custom resources) and
 * delete; bearer-token auth (401) and a switch for RBAC denials (403).
 *
 * Operators are simulated by hooks a test sets: `onGet` runs before each read
 * of one object (to move its status along), `onDelete` decides whether a
 * delete removes the object now or leaves it behind a finalizer.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ContractServer, type Recorded, type Reply } from '../helpers/contract-server.ts';

export type Obj = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  spec?: any;
  status?: any;
  [k: string]: unknown;
};

export const TOKEN = 'kube-token-do-not-print';

function status(code: number, reason: string, message: string): Reply {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code } };
}

/** RFC 7386 JSON merge patch. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/** The route's path parameters, all present by construction. */
function parts(req: Recorded): { group: string; ns: string; plural: string; name: string } {
  const { group = '', ns = '', plural = '', name = '' } = req.params;
  return { group, ns, plural, name };
}

function selects(selector: string | null, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=') as [string, string];
    return labels?.[k] === v;
  });
}

export class FakeKube {
  readonly server = new ContractServer();
  readonly objects = new Map<string, Obj>();
  /** `group/plural` pairs the API serves; others answer 404 like an absent CRD. */
  readonly served = new Set(['chaos-mesh.org/httpchaos', 'chaos-mesh.org/networkchaos', 'chaos-mesh.org/podchaos', 'litmuschaos.io/chaosengines']);
  /** Answer 403 to every request (RBAC denies). */
  forbidden = false;
  onGet: ((obj: Obj) => void) | undefined;
  /** `remove` (default) deletes at once; `keep` leaves it, e.g. behind a finalizer. */
  onDelete: ((obj: Obj) => 'remove' | 'keep') | undefined;
  private uid = 0;

  get url(): string {
    return this.server.url;
  }

  static key(group: string, ns: string, plural: string, name: string): string {
    return `${group}/${ns}/${plural}/${name}`;
  }

  async start(): Promise<this> {
    await this.server.start();
    this.install();
    return this;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  /** Forget requests, objects and hooks; keep the routes. */
  reset(): void {
    this.server.reset();
    this.install();
    this.objects.clear();
    this.forbidden = false;
    this.onGet = undefined;
    this.onDelete = undefined;
    this.served.clear();
    for (const s of ['chaos-mesh.org/httpchaos', 'chaos-mesh.org/networkchaos', 'chaos-mesh.org/podchaos', 'litmuschaos.io/chaosengines']) this.served.add(s);
  }

  /** Put an object straight into the store (a planted orphan, an object someone else made). */
  plant(group: string, plural: string, obj: Obj): void {
    this.objects.set(FakeKube.key(group, obj.metadata.namespace, plural, obj.metadata.name), structuredClone(obj));
  }

  get(group: string, ns: string, plural: string, name: string): Obj | undefined {
    return this.objects.get(FakeKube.key(group, ns, plural, name));
  }

  /** A kubeconfig file pointing at this server with a token user. */
  writeKubeconfig(opts: { token?: string; user?: string } = {}): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'steadystate-kube-'));
    const file = path.join(dir, 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        `  cluster: { server: "${this.url}" }`,
        'users:',
        `- name: ${opts.user ?? 'steadystate-runner'}`,
        `  user: { token: "${opts.token ?? TOKEN}" }`,
        'contexts:',
        '- name: test',
        `  context: { cluster: test, user: ${opts.user ?? 'steadystate-runner'} }`,
        'current-context: test',
        '',
      ].join('\n'),
    );
    return file;
  }

  private guard(req: Recorded): Reply | undefined {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return status(401, 'Unauthorized', 'Unauthorized');
    if (this.forbidden) {
      const { group, plural, ns } = parts(req);
      return status(403, 'Forbidden', `${plural}.${group} is forbidden: User "system:serviceaccount:chaos:steadystate" cannot ${req.method.toLowerCase()} resource "${plural}" in API group "${group}" in the namespace "${ns}"`);
    }
    const { group, plural } = parts(req);
    if (!this.served.has(`${group}/${plural}`)) return status(404, 'NotFound', 'the server could not find the requested resource');
    return undefined;
  }

  private install(): void {
    const base = '/apis/:group/:version/namespaces/:ns/:plural';
    this.server
      .route('POST', base, (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const { group, ns, plural } = parts(req);
        const obj = JSON.parse(req.body) as Obj;
        const key = FakeKube.key(group, ns, plural, obj.metadata.name);
        if (this.objects.has(key)) return status(409, 'AlreadyExists', `${plural}.${group} "${obj.metadata.name}" already exists`);
        obj.metadata = { ...obj.metadata, namespace: ns, uid: `uid-${++this.uid}`, creationTimestamp: new Date().toISOString(), resourceVersion: '1' };
        this.objects.set(key, obj);
        return { status: 201, body: obj };
      })
      .route('GET', base, (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const { group, ns, plural } = parts(req);
        const prefix = `${group}/${ns}/${plural}/`;
        let items = [...this.objects.entries()].filter(([k, o]) => k.startsWith(prefix) && selects(req.query.get('labelSelector'), o.metadata.labels)).map(([, o]) => o);
        const limit = Number(req.query.get('limit') ?? 'NaN');
        if (Number.isFinite(limit)) items = items.slice(0, limit);
        return { status: 200, body: { apiVersion: `${group}/v1alpha1`, kind: 'List', metadata: { resourceVersion: '1' }, items } };
      })
      .route('GET', `${base}/:name`, (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const { group, ns, plural, name } = parts(req);
        const obj = this.objects.get(FakeKube.key(group, ns, plural, name));
        if (!obj) return status(404, 'NotFound', `${plural}.${group} "${name}" not found`);
        this.onGet?.(obj);
        // The hook may have removed it (a finalizer finishing).
        const now = this.objects.get(FakeKube.key(group, ns, plural, name));
        if (!now) return status(404, 'NotFound', `${plural}.${group} "${name}" not found`);
        return { status: 200, body: now };
      })
      .route('PATCH', `${base}/:name`, (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        if (req.headers['content-type'] !== 'application/merge-patch+json') {
          return status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
        }
        const { group, ns, plural, name } = parts(req);
        const key = FakeKube.key(group, ns, plural, name);
        const obj = this.objects.get(key);
        if (!obj) return status(404, 'NotFound', `${plural}.${group} "${name}" not found`);
        const patched = applyMergePatch(obj, JSON.parse(req.body)) as Obj;
        this.objects.set(key, patched);
        return { status: 200, body: patched };
      })
      .route('DELETE', `${base}/:name`, (req) => {
        const denied = this.guard(req);
        if (denied) return denied;
        const { group, ns, plural, name } = parts(req);
        const key = FakeKube.key(group, ns, plural, name);
        const obj = this.objects.get(key);
        if (!obj) return status(404, 'NotFound', `${plural}.${group} "${name}" not found`);
        if ((this.onDelete?.(obj) ?? 'remove') === 'remove') this.objects.delete(key);
        else obj.metadata.deletionTimestamp ??= new Date().toISOString();
        return { status: 200, body: obj };
      });
  }
}

/** The Chaos Mesh condition list with the given types True. */
export function conditions(...trueTypes: string[]): { type: string; status: string }[] {
  return ['Selected', 'AllInjected', 'AllRecovered', 'Paused'].map((type) => ({ type, status: trueTypes.includes(type) ? 'True' : 'False' }));
}

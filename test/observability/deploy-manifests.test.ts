/**
 * deploy/kubernetes/: every file is valid YAML, and the manifests keep the
 * promises docs/operations.md makes — 2+ replicas that survive a drain,
 * non-root with a read-only root filesystem, probes on the right paths,
 * secrets only by reference, a template without a real secret, and RBAC no
 * wider than the Chaos Mesh adapter needs. (The Dockerfile's promises are
 * checked here too: it is the other half of the deployment.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'deploy/kubernetes');

type Obj = Record<string, any>;

function load(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'), { prettyErrors: true });
  for (const doc of docs) {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${file}: YAML errors`);
    assert.deepEqual(doc.warnings.map((e) => e.message), [], `${file}: YAML warnings`);
  }
  return docs.map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
const kustomization = load('kustomization.yaml')[0]!;
const applied = (kustomization.resources as string[]).flatMap(load);
const one = (kind: string): Obj => {
  const found = applied.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
};

test('every manifest is valid YAML with apiVersion, kind and a name; kustomization lists files that exist', () => {
  assert.ok(files.length >= 7, files.join(', '));
  for (const file of files) {
    for (const obj of load(file)) {
      assert.equal(typeof obj.apiVersion, 'string', file);
      assert.equal(typeof obj.kind, 'string', file);
      if (obj.kind !== 'Kustomization') assert.match(String(obj.metadata?.name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, file);
    }
  }
  for (const resource of kustomization.resources as string[]) assert.ok(files.includes(resource), resource);
  assert.ok(!(kustomization.resources as string[]).includes('secret.example.yaml'), 'applying must never overwrite the real Secret');
});

test('the Deployment: 2+ replicas, non-root, read-only root fs, probes, resources, secrets by reference', () => {
  const deployment = one('Deployment');
  assert.ok(deployment.spec.replicas >= 2);
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  const pod = deployment.spec.template.spec;
  assert.deepEqual(deployment.spec.selector.matchLabels, Object.fromEntries(Object.entries(deployment.spec.template.metadata.labels).filter(([k]) => k in deployment.spec.selector.matchLabels)));
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.serviceAccountName, one('ServiceAccount').metadata.name);
  assert.ok(pod.terminationGracePeriodSeconds > 20, 'longer than the 20 s the service takes to close windows on SIGTERM');
  const [container, ...more] = pod.containers as Obj[];
  assert.ok(container && more.length === 0);
  assert.deepEqual(container.args, ['serve']);
  const sc = container.securityContext;
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.equal(sc.privileged, undefined);

  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  const readiness = (container.readinessProbe.exec.command as string[]).join(' ');
  assert.match(readiness, /127\.0\.0\.1:8080\/readyz/);
  assert.match(readiness, /authorization: 'Bearer ' \+ process\.env\.STEADYSTATE_ADMIN_TOKEN/);
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);

  const env = new Map((container.env as Obj[]).map((e) => [e.name as string, e]));
  for (const [name, key] of [['DATABASE_URL', 'database-url'], ['STEADYSTATE_ADMIN_TOKEN', 'admin-token']] as const) {
    const ref = env.get(name)?.valueFrom?.secretKeyRef;
    assert.ok(ref, `${name} comes from a Secret`);
    assert.equal(ref.key, key);
    assert.equal(ref.optional, undefined, `${name} is required`);
    assert.equal(env.get(name)?.value, undefined);
  }
  assert.equal(env.get('STEADYSTATE_LISTEN')?.value, `0.0.0.0:${container.ports[0].containerPort}`);
  // No literal value anywhere looks like a credential.
  for (const e of env.values()) if (typeof e.value === 'string') assert.doesNotMatch(e.value, /postgres(ql)?:\/\/|token|password/i, e.name);

  const mounts = new Set((container.volumeMounts as Obj[]).map((m) => m.mountPath));
  assert.ok(mounts.has('/tmp'));
});

test('Service and PodDisruptionBudget select the Deployment pods; the PDB lets one go at a time', () => {
  const labels = one('Deployment').spec.template.metadata.labels as Record<string, string>;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  const service = one('Service');
  assert.ok(matches(service.spec.selector));
  assert.equal(service.spec.ports[0].targetPort, 'http');
  const pdb = one('PodDisruptionBudget');
  assert.ok(matches(pdb.spec.selector.matchLabels));
  assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < one('Deployment').spec.replicas);
  assert.equal(one('Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('the Secret template holds placeholders only and names the keys the Deployment reads', () => {
  const [secret, ...more] = load('secret.example.yaml');
  assert.ok(secret && more.length === 0);
  assert.equal(secret.kind, 'Secret');
  assert.equal(secret.data, undefined, 'no base64 blobs that could hide a real value');
  assert.deepEqual(Object.keys(secret.stringData).sort(), ['admin-token', 'database-url']);
  assert.match(secret.stringData['database-url'], /USER:PASSWORD@HOST/);
  assert.match(secret.stringData['admin-token'], /^REPLACE/);
});

test('RBAC: a namespaced Role on the three Chaos Mesh kinds with create/get/list/delete, bound to our ServiceAccount', () => {
  assert.equal(applied.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding').length, 0);
  const role = one('Role');
  assert.deepEqual(role.rules, [{ apiGroups: ['chaos-mesh.org'], resources: ['httpchaos', 'networkchaos', 'podchaos'], verbs: ['create', 'get', 'list', 'delete'] }]);
  const binding = one('RoleBinding');
  assert.equal(binding.metadata.namespace, role.metadata.namespace);
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  const sa = one('ServiceAccount');
  assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  // The Role matches what docs/injectors/chaos-mesh.md tells people to grant.
  const doc = readFileSync(join(ROOT, 'docs/injectors/chaos-mesh.md'), 'utf8');
  assert.ok(doc.includes('resources: ["httpchaos", "networkchaos", "podchaos"]') && doc.includes('verbs: ["create", "get", "list", "delete"]'));
});

test('the Dockerfile: multi-stage, non-root by uid, migrations and query library copied, a healthcheck, serve by default', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.equal(dockerfile.match(/^FROM /gm)?.length, 2);
  // Both stages on one supported Node LTS (Node 20 reached end of life in April 2026), the one .ci/run also tests.
  const bases = [...dockerfile.matchAll(/^FROM node:(\d+)-/gm)].map((m) => m[1]);
  assert.deepEqual(bases, ['24', '24']);
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^LTS_NODE_MAJOR=24$/m);
  // The build (scripts/build.js) compiles and copies the SQL migrations beside the compiled store.
  assert.match(dockerfile, /COPY scripts \.\/scripts\nRUN npm run build/);
  assert.match(readFileSync(new URL('../../scripts/build.js', import.meta.url), 'utf8'), /cpSync\(`\$\{root\}src\/store\/migrations`, `\$\{root\}dist\/store\/migrations`/);
  assert.match(dockerfile, /^COPY --from=build \/app\/queries \.\/queries$/m);
  assert.match(dockerfile, /^USER 1000:1000$/m);
  assert.match(dockerfile, /^HEALTHCHECK .*\n\s+CMD .*\/healthz/m);
  assert.match(dockerfile, /^ENTRYPOINT \["node", "dist\/cli\/main\.js"\]$/m);
  assert.match(dockerfile, /^CMD \["serve"\]$/m);
  // The runtime stage copies what the compiled code reads at run time.
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
  for (const path of ['dist', 'node_modules', 'queries', 'package.json']) assert.match(runtime, new RegExp(`COPY --from=build /app/${path}`));
});

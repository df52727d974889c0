/**
 * What src/injectors/kube.ts adds around @kubernetes/client-node, against the
 * local Kubernetes API server of the contract tests: where the configuration
 * comes from (kubectl's merge rule, `tokenFile`, in-cluster), what is refused
 * (legacy auth providers, plain http to another host), the bound on an exec
 * plugin that hangs, and errors that never quote a credential.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { after, afterEach, before, describe, it } from 'node:test';
import { createKubeClient, loadKubeConfig } from '../../src/injectors/kube.ts';
import { kubeLib } from '../../src/injectors/kube-lib.ts';
import { InjectorError } from '../../src/lib/errors.ts';
import { FakeKube, TOKEN } from './fake-kube.ts';

// The client library loads on first use (kube-lib.ts); these tests call the synchronous parts directly.
before(async () => {
  await kubeLib();
});

const kube = new FakeKube();
before(async () => {
  await kube.start();
});
after(async () => {
  await kube.stop();
});
afterEach(() => {
  kube.reset();
});

const NETWORK_CHAOS = { group: 'chaos-mesh.org', version: 'v1alpha1', plural: 'networkchaos' };

function kubeconfig(lines: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'steadystate-kubecfg-'));
  const file = path.join(dir, 'config');
  writeFileSync(file, lines.join('\n'));
  return file;
}

function withUser(user: string[], server = kube.url): string {
  return kubeconfig([
    'apiVersion: v1',
    `clusters: [{ name: c, cluster: { server: "${server}" } }]`,
    'users:',
    '- name: u',
    '  user:',
    ...user.map((l) => `    ${l}`),
    'contexts: [{ name: c, context: { cluster: c, user: u } }]',
    'current-context: c',
  ]);
}

async function rejectsWith(p: Promise<unknown>, check: (err: InjectorError) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InjectorError, `not an InjectorError: ${inspect(err)}`);
    check(err);
    return true;
  });
}

void describe('kubernetes client configuration', () => {
  void it('a user with tokenFile (kubectl field) sends the token from that file, relative to the kubeconfig', async () => {
    const file = withUser(['tokenFile: token']);
    writeFileSync(path.join(path.dirname(file), 'token'), `${TOKEN}\n`);
    const client = createKubeClient({ kubeconfig: file });
    assert.deepEqual(await client.list(NETWORK_CHAOS, 'shop', undefined, 'list', undefined, 1), []);
    assert.equal(kube.server.requests.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
    assert.match(client.source(), /user u, token file .*\/token\)$/);
  });

  void it('KUBECONFIG with several files: for each name the first file wins, as kubectl merges', async () => {
    const first = kubeconfig(['apiVersion: v1', `clusters: [{ name: c, cluster: { server: "${kube.url}" } }]`, `users: [{ name: u, user: { token: "${TOKEN}" } }]`, 'contexts: [{ name: c, context: { cluster: c, user: u } }]', 'current-context: c']);
    const second = kubeconfig(['apiVersion: v1', 'clusters: [{ name: c, cluster: { server: "https://elsewhere.invalid" } }]', 'users: [{ name: u, user: { token: "not-this-one" } }]', 'current-context: other']);
    const client = createKubeClient({}, { env: { KUBECONFIG: [first, second].join(path.delimiter) } });
    await client.list(NETWORK_CHAOS, 'shop', undefined, 'list', undefined, 1);
    assert.equal(kube.server.requests.at(-1)?.headers.authorization, `Bearer ${TOKEN}`);
    assert.ok(client.source().startsWith(`KUBECONFIG=${first}${path.delimiter}${second} (context c, user u, bearer token)`), client.source());
  });

  void it('in-cluster: the service-account token file and CA, from the environment given', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'steadystate-sa-'));
    const sa = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(path.join(sa, 'token'), TOKEN);
    writeFileSync(path.join(sa, 'ca.crt'), 'not read until a request');
    const { kc, source } = loadKubeConfig({}, { env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, inClusterRoot: root });
    assert.equal(kc.getCurrentCluster()?.server, 'https://[fd00::1]:6443');
    assert.equal(kc.getCurrentCluster()?.caFile, path.join(sa, 'ca.crt'));
    assert.equal(source, `in-cluster service account (token file ${path.join(sa, 'token')})`);
    assert.throws(() => loadKubeConfig({ context: 'x' }, { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, inClusterRoot: root }), /"context" needs a kubeconfig/);
  });

  void it('refuses legacy auth providers and plain http to another host, before any request', async () => {
    const gcp = withUser(['auth-provider: { name: gcp, config: { cmd-path: /usr/bin/gcloud } }']);
    await rejectsWith(createKubeClient({ kubeconfig: gcp }).get(NETWORK_CHAOS, 'shop', 'x', 'get'), (err) => {
      assert.equal(err.code, 'injector_config');
      assert.match(err.message, /legacy auth-provider "gcp", which is not supported; use an exec plugin/);
    });
    const remote = withUser([`token: "${TOKEN}"`], 'http://192.0.2.10:8080');
    await rejectsWith(createKubeClient({ kubeconfig: remote }).get(NETWORK_CHAOS, 'shop', 'x', 'get'), (err) => {
      assert.equal(err.retryable, false);
      assert.match(err.message, /plain http on another host; credentials would cross the network unencrypted/);
    });
    assert.equal(kube.server.requests.length, 0);
  });

  void it('a kubeconfig that is not YAML is a config error that quotes none of it', async () => {
    const file = kubeconfig(['users:', `- name: u`, `  user: { token: "${TOKEN}" ]`]);
    await rejectsWith(createKubeClient({ kubeconfig: file }).get(NETWORK_CHAOS, 'shop', 'x', 'get'), (err) => {
      assert.equal(err.code, 'injector_config');
      assert.equal(err.message, `kubernetes: kubeconfig ${file} is not valid YAML`);
      assert.doesNotMatch(inspect(err, { depth: 5 }), new RegExp(TOKEN));
    });
  });
});

void describe('kubernetes exec credential plugins', () => {
  const plugin = (script: string): string =>
    withUser(['exec:', '  apiVersion: client.authentication.k8s.io/v1', `  command: ${JSON.stringify(process.execPath)}`, `  args: ["-e", ${JSON.stringify(script)}]`]);

  void it('one that hangs is bounded by the request timeout (retryable), and no request leaves', async () => {
    const client = createKubeClient({ kubeconfig: plugin('setTimeout(() => {}, 3_000)') }, { timeoutMs: 300 });
    const started = Date.now();
    await rejectsWith(client.get(NETWORK_CHAOS, 'shop', 'x', 'get'), (err) => {
      assert.equal(err.code, 'injector_timeout');
      assert.equal(err.retryable, true);
    });
    assert.ok(Date.now() - started < 5_000, 'bounded');
    assert.equal(kube.server.requests.length, 0);
  });

  void it('one that prints something else is a fatal auth error that never quotes its output', async () => {
    const client = createKubeClient({ kubeconfig: plugin(`process.stdout.write('token=${TOKEN} oops')`) });
    await rejectsWith(client.get(NETWORK_CHAOS, 'shop', 'x', 'get'), (err) => {
      assert.equal(err.code, 'injector_auth');
      assert.equal(err.retryable, false);
      assert.match(err.message, /exec plugin node\) failed \(the exec plugin did not print an ExecCredential\)/);
      assert.doesNotMatch(inspect(err, { depth: 5 }), new RegExp(TOKEN));
    });
  });

  void it('one that fails says what it wrote to stderr (retryable: a login may come back)', async () => {
    const client = createKubeClient({ kubeconfig: plugin(`process.stderr.write('error: you must be logged in to the server'); process.exit(1)`) });
    await rejectsWith(client.get(NETWORK_CHAOS, 'shop', 'x', 'get'), (err) => {
      assert.equal(err.code, 'injector_auth');
      assert.equal(err.retryable, true);
      assert.match(err.message, /failed: error: you must be logged in to the server$/);
    });
  });
});

/**
 * The service CLI's HTTP client and credentials file: what is retried (and
 * what is not), which exit code each failure carries, and the file's mode
 * and atomic replacement. Against a local contract server (loopback only).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiClient, ApiError, ServerUnreachableError } from '../../src/cli/client.ts';
import { credentialsPath, normalizeServer, readCredentials, writeCredentials } from '../../src/cli/credentials.ts';
import { connect } from '../../src/cli/service-context.ts';
import { startContractServer, type ContractServer } from '../helpers/contract-server.ts';
import { freePort } from '../helpers/ports.ts';

describe('ApiClient', () => {
  let api: ContractServer;
  let slept: number[];
  const client = (server = api.url): ApiClient => new ApiClient({ server, token: 'sst_secret', sleep: async (ms) => void slept.push(ms) });

  before(async () => {
    api = await startContractServer();
  });
  after(async () => api?.stop());

  const answers = (statuses: number[]) => {
    api.reset();
    slept = [];
    const left = [...statuses];
    api.route('GET', '/x', () => ({ status: left.shift() ?? 200, body: { ok: true } }));
    api.route('POST', '/x', () => ({ status: left.shift() ?? 200, body: { ok: true } }));
  };

  it('sends the bearer token and a user agent; parses JSON', async () => {
    answers([]);
    assert.deepEqual(await client().get('/x'), { ok: true });
    const [req] = api.sent('GET', '/x');
    assert.equal(req?.headers.authorization, 'Bearer sst_secret');
    assert.match(String(req?.headers['user-agent']), /^steadystate-cli/);
  });

  it('retries 503 and 502 on a GET, 3 attempts at most, then exit 4', async () => {
    answers([503, 502, 200]);
    assert.deepEqual(await client().get('/x'), { ok: true });
    assert.equal(api.sent('GET', '/x').length, 3);
    answers([503, 503, 503, 200]);
    await assert.rejects(client().get('/x'), (e: unknown) => e instanceof ApiError && e.status === 503 && e.exitCode === 4);
    assert.equal(api.sent('GET', '/x').length, 3);
  });

  it('does not retry a POST without an Idempotency-Key on 503; does with one', async () => {
    answers([503, 200]);
    await assert.rejects(client().request('POST', '/x', { body: {} }), (e: unknown) => e instanceof ApiError && e.status === 503);
    assert.equal(api.sent('POST', '/x').length, 1);
    answers([503, 200]);
    await client().request('POST', '/x', { body: {}, idempotent: true });
    assert.equal(api.sent('POST', '/x').length, 2);
  });

  it('client errors are bad input (64) at once, with the server\'s message and field errors; 409 is 4', async () => {
    api.reset();
    api.route('POST', '/v', () => ({ status: 400, body: { error: 'invalid_input', message: 'the experiment spec is invalid', errors: [{ path: 'spec.fault.duration', message: 'bad', line: 7 }] } }));
    api.route('POST', '/c', () => ({ status: 409, body: { error: 'halt_all_active', message: 'halt-all is on' } }));
    api.route('GET', '/t', () => ({ status: 401, body: { error: 'unauthorized', message: 'the bearer token is not valid' } }));
    await assert.rejects(client().request('POST', '/v', { body: {} }), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.exitCode, 64);
      assert.equal(e.message, 'POST /v answered 400: the experiment spec is invalid\n  spec.fault.duration (line 7): bad');
      return true;
    });
    await assert.rejects(client().request('POST', '/c', { body: {} }), (e: unknown) => e instanceof ApiError && e.exitCode === 4 && /answered 409: halt-all is on/.test(e.message));
    await assert.rejects(client().get('/t'), (e: unknown) => e instanceof ApiError && e.exitCode === 64 && /refused the token \(401\)/.test(e.message) && !e.message.includes('sst_secret'));
    assert.equal(api.sent('GET', '/t').length, 1);
  });

  it('a refused connection: 3 attempts (even for a write: nothing reached the server), then exit 4 naming the server', async () => {
    slept = [];
    const port = await freePort();
    await assert.rejects(client(`http://127.0.0.1:${port}`).request('POST', '/x', { body: {} }), (e: unknown) => {
      assert.ok(e instanceof ServerUnreachableError);
      assert.equal(e.exitCode, 4);
      assert.equal(e.message, `cannot reach the server: nothing listens at 127.0.0.1:${port} (connection refused) (3 attempts); check --server or STEADYSTATE_SERVER`);
      return true;
    });
    assert.deepEqual(slept, [300, 1000]);
  });

  it('an unknown host is not retried', async () => {
    slept = [];
    let calls = 0;
    const noHost = new ApiClient({
      server: 'http://steadystate.invalid',
      token: 't',
      sleep: async (ms) => void slept.push(ms),
      fetch: async () => {
        calls++;
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }) });
      },
    });
    await assert.rejects(noHost.get('/x'), /cannot resolve "steadystate\.invalid"/);
    assert.equal(calls, 1);
    assert.deepEqual(slept, []);
  });
});

describe('credentials file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'steadystate-creds-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('lives under XDG_CONFIG_HOME (else ~/.config) and is written 0600 in a 0700 directory, atomically', async () => {
    const file = credentialsPath({ XDG_CONFIG_HOME: dir });
    assert.equal(file, join(dir, 'steadystate', 'credentials.json'));
    assert.equal(credentialsPath({ HOME: '/home/x' }), '/home/x/.config/steadystate/credentials.json');
    await writeCredentials(file, { current: 'http://a', servers: { 'http://a': { token: 't1', savedAt: 'now' } } });
    await writeCredentials(file, { current: 'http://b', servers: { 'http://b': { token: 't2', savedAt: 'now' } } });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'steadystate'))).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(join(dir, 'steadystate')), ['credentials.json'], 'no temporary file left behind');
    assert.equal((await readCredentials(file)).current, 'http://b');
    assert.match(await readFile(file, 'utf8'), /"t2"/);
  });

  it('a broken file is bad input naming it; a missing one is empty', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{not json');
    await assert.rejects(readCredentials(file), (e: unknown) => e instanceof Error && e.message.startsWith(`${file}: not JSON`) && (e as unknown as { exitCode: number }).exitCode === 64);
    assert.deepEqual(await readCredentials(join(dir, 'absent.json')), { servers: {} });
  });

  it('server URLs are keys without a trailing slash; a URL with userinfo is refused', () => {
    assert.equal(normalizeServer('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
    assert.equal(normalizeServer('https://chaos.example/steadystate/'), 'https://chaos.example/steadystate');
    assert.throws(() => normalizeServer('ftp://x'), /not an http\(s\) URL/);
    assert.throws(() => normalizeServer('http://u:p@x'), /must not carry credentials/);
    assert.throws(() => normalizeServer('nope'), /--server "nope" is not a URL/);
  });

  it('connect: --server over STEADYSTATE_SERVER over the login; STEADYSTATE_TOKEN over the file; none is 64', async () => {
    const env = { XDG_CONFIG_HOME: dir };
    await writeCredentials(credentialsPath(env), { current: 'http://saved:1', servers: { 'http://saved:1': { token: 'from-file', savedAt: '' } } });
    assert.equal((await connect(undefined, { env })).server, 'http://saved:1');
    assert.equal((await connect(undefined, { env })).token, 'from-file');
    assert.equal((await connect(undefined, { env: { ...env, STEADYSTATE_TOKEN: 'from-env' } })).token, 'from-env');
    assert.equal((await connect('http://flag:2', { env: { ...env, STEADYSTATE_SERVER: 'http://env:3', STEADYSTATE_TOKEN: 'x' } })).server, 'http://flag:2');
    assert.equal((await connect(undefined, { env: { ...env, STEADYSTATE_SERVER: 'http://env:3', STEADYSTATE_TOKEN: 'x' } })).server, 'http://env:3');
    await assert.rejects(connect('http://other:4', { env }), /no token for http:\/\/other:4: run `steadystate login --server http:\/\/other:4`/);
    await assert.rejects(connect(undefined, { env: { XDG_CONFIG_HOME: join(dir, 'empty') } }), /no server: give --server URL/);
  });
});

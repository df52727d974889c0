/**
 * PGlite stores start from a saved initdb cluster (src/store/pglite-template.ts): each store still
 * migrates and holds only its own data; a process with one store pays nothing extra; with a template
 * directory the first process saves the cluster (owner-only) and the next one runs no initdb, for its
 * memory stores and for a new data directory (opened in its own thread); a data directory that exists
 * is opened as it is and keeps its data. Each case runs in a fresh process: the in-process template is
 * per process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const FIXTURE = fileURLToPath(new URL('../fixtures/store/template-stores.ts', import.meta.url));

interface Outcome {
  initdbs: number;
  loads: number;
  names: string[];
}

async function stores(args: string[], templateDir?: string): Promise<Outcome> {
  const env = { ...process.env };
  delete env.STEADYSTATE_PGLITE_TEMPLATE_DIR;
  if (templateDir) env.STEADYSTATE_PGLITE_TEMPLATE_DIR = templateDir;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { env, timeout: 120_000 });
  return JSON.parse(stdout) as Outcome;
}

describe('PGlite stores from a saved initdb cluster', { timeout: 300_000 }, () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'steadystate-template-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('without a template directory: one store runs initdb once; the third store of a process loads the second one\'s cluster', async () => {
    assert.deepEqual(await stores(['1']), { initdbs: 1, loads: 0, names: ['t0'] });
    // Each store is migrated and empty: a token of one store is not in the next.
    assert.deepEqual(await stores(['3']), { initdbs: 2, loads: 1, names: ['t0', 't1', 't2'] });
  });

  it('with a template directory: the first process saves the cluster owner-only, the next runs no initdb for memory stores or a new data directory', async () => {
    const dir = join(root, 'cache');
    const first = await stores(['1'], dir);
    assert.deepEqual(first, { initdbs: 1, loads: 0, names: ['t0'] });
    const [file, ...others] = await readdir(dir);
    assert.match(file ?? '', /^pglite-[\d.]+-initdb\.tar$/);
    assert.deepEqual(others, [], 'no temporary file is left behind');
    assert.equal((await stat(join(dir, file!))).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);

    const second = await stores(['2', join(root, 'data')], dir);
    // Two memory stores and the new data directory from the template; its reopen loads nothing.
    assert.equal(second.initdbs, 0);
    assert.equal(second.loads, 3);
    // The data directory kept what was written before it was reopened.
    assert.deepEqual(second.names, ['t0', 't1', 'kept']);
  });
});

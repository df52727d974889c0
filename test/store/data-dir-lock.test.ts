/**
 * The PGlite data-dir lock (src/store/data-dir-lock.ts): one process per data
 * directory, also when the two are pid 1 of two pid namespaces (two
 * containers on one volume), shown with `unshare --pid --fork`; the record is
 * written atomically; only our own lock is ever released; a holder that is
 * provably gone is taken over at once, one in another namespace once its lease
 * lapses; a process whose lock was taken over stops using the database.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { acquireDataDirLock, LOCK_FILE, ownIdentity, type LockRecord } from '../../src/store/data-dir-lock.ts';
import { DataDirInUseError, DataDirLockLostError } from '../../src/store/errors.ts';
import { createPgliteSql } from '../../src/store/pglite-sql.ts';
import { missingPrerequisite } from '../helpers/skip.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/store/open-data-dir.ts', import.meta.url));

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'steadystate-lock-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

function foreignRecord(over: Partial<LockRecord> = {}): LockRecord {
  // Another container on this kernel: same boot id, its own pid namespace, pid 1.
  return { ...ownIdentity(), host: 'other-container', pidNs: 'pid:[1]', pid: 1, startTicks: 42, startedAt: '2026-01-01T00:00:00.000Z', nonce: 'f'.repeat(24), ...over };
}

/** `p`, or a failure after `ms`; its timer also keeps the event loop alive while the lock's (unref'd) heartbeat works. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Child {
  proc: ChildProcessWithoutNullStreams;
  /** The child's one JSON line. */
  line: Promise<{ opened?: true; refused?: true; pid: number; pidNs: string; names?: string[]; code?: string; message?: string }>;
}

/** The fixture in a child process, in a new pid namespace when `unshare` is given (where it is pid 1). */
function openChild(dataDir: string, leaseMs: number, name: string, unshare?: string, mode = 'store'): Child {
  const node = [process.execPath, '--import', 'tsx', FIXTURE, dataDir, String(leaseMs), name, mode];
  const [cmd, ...args] = unshare ? [unshare, '--pid', '--fork', '--mount-proc', '--kill-child', ...node] : node;
  const proc = spawn(cmd!, args, { stdio: 'pipe' });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const line = (async () => {
    const lines = createInterface({ input: proc.stdout });
    const exited = once(proc, 'exit').then(([code]) => {
      throw new Error(`child exited (${String(code)}) without a line: ${stderr}`);
    });
    const first = once(lines, 'line').then(([l]) => JSON.parse(l as string));
    return Promise.race([first, exited]);
  })();
  return { proc, line };
}

async function ended(child: Child): Promise<number | null> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return child.proc.exitCode;
  const [code] = await once(child.proc, 'exit');
  return code as number | null;
}

/** `unshare` that can make a pid namespace here (util-linux, and root or user namespaces), or the skip reason. */
function unshareCheck(): { path?: string; skip: string | false } {
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
  if (probe.status === 0) return { path: 'unshare', skip: false };
  return { skip: missingPrerequisite('unshare', `\`unshare --pid --fork --mount-proc true\` failed (${probe.error?.message ?? `exit ${String(probe.status)}`}); needs util-linux and root`) };
}

const unshare = unshareCheck();

void describe('data-dir lock across pid namespaces (unshare)', { skip: unshare.skip }, () => {
  void it('two openings, each pid 1 of its own namespace: the second refuses, and the data stays one', { timeout: 60_000 }, async () => {
    const dataDir = await freshDir('two-containers');
    const first = openChild(dataDir, 20_000, 'first', unshare.path);
    const a = await first.line;
    assert.equal(a.opened, true, JSON.stringify(a));
    assert.equal(a.pid, 1);

    const second = openChild(dataDir, 20_000, 'second', unshare.path);
    const b = await second.line;
    assert.equal(b.pid, 1, 'the second is pid 1 too');
    assert.notEqual(b.pidNs, a.pidNs);
    assert.equal(b.refused, true, JSON.stringify(b));
    assert.equal(b.code, 'data_dir_in_use');
    assert.ok(b.message?.includes(`process 1 on host`) && b.message.includes(a.pidNs), b.message);
    assert.match(b.message ?? '', /lease renewed \d+ s ago/);
    assert.equal(await ended(second), 3);

    first.proc.stdin.end();
    assert.equal(await ended(first), 0);
    assert.equal(await readFile(join(dataDir, LOCK_FILE)).catch(() => 'gone'), 'gone', 'a clean exit releases the lock');

    const third = openChild(dataDir, 20_000, 'third', unshare.path);
    const c = await third.line;
    assert.equal(c.opened, true, JSON.stringify(c));
    assert.deepEqual(c.names?.sort(), ['first', 'third'], 'the third sees what the first wrote; the second wrote nothing');
    third.proc.stdin.end();
    assert.equal(await ended(third), 0);
  });

  void it('a holder killed with SIGKILL in another namespace is taken over once its lease lapses, not before', { timeout: 60_000 }, async () => {
    const dataDir = await freshDir('killed-container');
    const leaseMs = 1_500;
    const first = openChild(dataDir, leaseMs, 'first', unshare.path);
    assert.equal((await first.line).opened, true);
    first.proc.kill('SIGKILL');
    await ended(first);
    const lockPath = join(dataDir, LOCK_FILE);
    assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, 1, 'the dead holder left its lock');

    // While the lease is fresh the next opening is refused: pid 1 proves nothing from another namespace.
    // (A process start takes seconds here, so this one judges with a lease that cannot have lapsed.)
    const early = openChild(dataDir, 600_000, 'early', unshare.path);
    const e = await early.line;
    assert.equal(e.refused, true, JSON.stringify(e));
    assert.match(e.message ?? '', /in use by process 1 on host .* lease renewed \d+ s ago/);
    assert.equal(await ended(early), 3);
    // Once the lease has lapsed (an event in time: its mtime + lease), the next opening takes over.
    const lapse = (await stat(lockPath).then((s) => s.mtimeMs, () => 0)) + leaseMs - Date.now();
    if (lapse > 0) await new Promise((r) => setTimeout(r, lapse + 50));
    const next = openChild(dataDir, leaseMs, 'next', unshare.path);
    const n = await next.line;
    assert.equal(n.opened, true, JSON.stringify(n));
    assert.ok(n.names?.includes('first'), 'what the killed holder committed is there');
    next.proc.stdin.end();
    assert.equal(await ended(next), 0);
  });
});

void describe('data-dir lock', () => {
  void it('writes the whole record atomically, 0600, and leaves no temp files', async () => {
    const dir = await freshDir('record');
    const lock = await acquireDataDirLock(dir);
    try {
      const text = await readFile(join(dir, LOCK_FILE), 'utf8');
      const record = JSON.parse(text) as LockRecord;
      assert.deepEqual(Object.keys(record).sort(), ['bootId', 'host', 'nonce', 'pid', 'pidNs', 'startTicks', 'startedAt']);
      assert.equal(record.pid, process.pid);
      assert.equal(record.nonce, lock.record.nonce);
      if (process.platform === 'linux') {
        assert.match(record.bootId, /^[0-9a-f-]{36}$/);
        assert.match(record.pidNs, /^pid:\[\d+\]$/);
        assert.ok(record.startTicks > 0);
      }
      assert.equal((await stat(join(dir, LOCK_FILE))).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(dir), [LOCK_FILE]);
      await assert.rejects(acquireDataDirLock(dir), (err) => err instanceof DataDirInUseError && /this very process/.test(err.message));
    } finally {
      await lock.release();
    }
    assert.deepEqual(await readdir(dir), []);
  });

  void it('takes over at once a lock whose holder in our own namespace is gone (kill -9)', { timeout: 30_000 }, async () => {
    const dir = await freshDir('killed-here');
    const child = openChild(dir, 60_000, 'child', undefined, 'lock-only');
    assert.equal((await child.line).opened, true);
    child.proc.kill('SIGKILL');
    await ended(child);
    const left = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as LockRecord;
    assert.equal(left.pid, child.proc.pid);
    // Its lease (60 s) is fresh, but in our namespace the pid check is proof.
    const lock = await acquireDataDirLock(dir, { leaseMs: 60_000 });
    await lock.release();
  });

  void it('a record naming our own pid from an earlier life (another start time) is stale', async () => {
    const dir = await freshDir('earlier-life');
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ ...ownIdentity(), startTicks: ownIdentity().startTicks - 1, startedAt: 'x', nonce: 'e'.repeat(24) }));
    const lock = await acquireDataDirLock(dir, { leaseMs: 60_000 });
    await lock.release();
  });

  void it('refuses a fresh lock from another namespace (pid 1 proves nothing), and takes it once the lease lapsed', async () => {
    const dir = await freshDir('foreign');
    const lockPath = join(dir, LOCK_FILE);
    await writeFile(lockPath, JSON.stringify(foreignRecord()));
    await assert.rejects(acquireDataDirLock(dir, { leaseMs: 30_000 }), (err) => {
      assert.ok(err instanceof DataDirInUseError);
      assert.match(err.message, /in use by process 1 on host other-container \(pid:\[1\]\) since 2026-01-01T00:00:00.000Z, lease renewed 0 s ago/);
      return true;
    });
    const old = new Date(Date.now() - 31_000);
    await utimes(lockPath, old, old);
    const lock = await acquireDataDirLock(dir, { leaseMs: 30_000 });
    assert.equal(JSON.parse(await readFile(lockPath, 'utf8')).nonce, lock.record.nonce);
    await lock.release();
  });

  void it('of many racing for one stale lock, exactly one wins', async () => {
    const dir = await freshDir('race');
    const lockPath = join(dir, LOCK_FILE);
    await writeFile(lockPath, JSON.stringify(foreignRecord()));
    const old = new Date(Date.now() - 60_000);
    await utimes(lockPath, old, old);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => acquireDataDirLock(dir, { leaseMs: 30_000 })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'won'))));
    assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof DataDirInUseError));
    const winner = won[0]!.value;
    assert.equal(JSON.parse(await readFile(lockPath, 'utf8')).nonce, winner.record.nonce);
    await winner.release();
    assert.deepEqual(await readdir(dir), []);
  });

  void it('renews its lease, notices a takeover, and then releases nothing but its own', async () => {
    const dir = await freshDir('lost');
    const lockPath = join(dir, LOCK_FILE);
    let onLost!: (err: DataDirLockLostError) => void;
    const lost = new Promise<DataDirLockLostError>((resolve) => (onLost = resolve));
    const lock = await acquireDataDirLock(dir, { leaseMs: 400, heartbeatMs: 50, onLost });

    const past = Date.now() - 10_000;
    await utimes(lockPath, new Date(past), new Date(past));
    // The heartbeat moves the mtime forward again (bounded wait for it).
    for (let i = 0; i < 100 && (await stat(lockPath)).mtimeMs < past + 5_000; i += 1) await new Promise((r) => setTimeout(r, 20));
    assert.ok((await stat(lockPath)).mtimeMs >= past + 5_000, 'the lease was renewed');

    // Someone takes over (as if our lease had lapsed): the name now holds their record.
    await unlink(lockPath);
    await writeFile(lockPath, JSON.stringify(foreignRecord({ nonce: 'a'.repeat(24) })));
    assert.match((await within(lost, 5_000, 'the loss')).message, /replaced by another process/);
    assert.ok(lock.lost() instanceof DataDirLockLostError);
    await lock.release();
    assert.equal(JSON.parse(await readFile(lockPath, 'utf8')).nonce, 'a'.repeat(24), 'their lock stays');
    assert.deepEqual(await readdir(dir), [LOCK_FILE]);
  });

  void it('a store whose lock was taken over refuses every query, and its close leaves the new holder alone', { timeout: 30_000 }, async () => {
    const dir = await freshDir('store-lost');
    const sql = await createPgliteSql({ dataDir: dir, lock: { leaseMs: 400, heartbeatMs: 50 } });
    await sql.query('SELECT 1');
    const lockPath = join(dir, LOCK_FILE);
    await unlink(lockPath);
    await writeFile(lockPath, JSON.stringify(foreignRecord({ nonce: 'b'.repeat(24) })));
    let refused: unknown;
    for (let i = 0; i < 100 && refused === undefined; i += 1) {
      await sql.query('SELECT 1').then(
        () => new Promise((r) => setTimeout(r, 20)),
        (err: unknown) => (refused = err),
      );
    }
    assert.ok(refused instanceof DataDirLockLostError, String(refused));
    await assert.rejects(sql.transaction(async () => undefined), DataDirLockLostError);
    await sql.close();
    assert.equal(JSON.parse(await readFile(lockPath, 'utf8')).nonce, 'b'.repeat(24));
  });
});

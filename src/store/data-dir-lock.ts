/**
 * One process per PGlite data directory, across pid namespaces and hosts
 * (see docs/adr/012-data-dir-lock.md).
 *
 * The lock is a file, `pglite.lock`, created atomically with its content: the
 * record is written to a private temp file and hard-linked into place (link
 * fails when the name exists, so there is never an empty or half-written
 * lock). The record says who holds it: host, kernel boot id, pid namespace,
 * pid and the process's start time, when, and a random nonce. The holder
 * renews a lease by setting the file's mtime every `heartbeatMs`.
 *
 * A lock is taken over only when its holder is provably gone — same boot and
 * same pid namespace as us, and its pid no longer names the process that
 * wrote the record (gone, or a different start time) — or when its lease has
 * expired and its holder is not provably alive. A pid alone proves nothing:
 * two containers on one volume are both pid 1.
 *
 * Every removal (a takeover of a stale lock, or a release of our own) runs
 * under a second exclusive file, `pglite.lock.takeover`, and re-reads the
 * nonce first: only the record judged stale, or our own, is ever removed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { link, open, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { DataDirInUseError, DataDirLockLostError } from './errors.ts';

export const LOCK_FILE = 'pglite.lock';
export const DEFAULT_LEASE_MS = 20_000;

/** What the lock file holds (JSON). */
export interface LockRecord {
  host: string;
  /** /proc/sys/kernel/random/boot_id; '' where there is none. */
  bootId: string;
  /** `pid:[inode]` of the holder's pid namespace; '' where unknown. */
  pidNs: string;
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22); -1 where unknown. */
  startTicks: number;
  startedAt: string;
  nonce: string;
}

export interface DataDirLockOptions {
  /** A lock whose mtime is older than this, and whose holder is not provably alive, is stale. */
  leaseMs?: number;
  /** How often the holder renews the lease. Default a quarter of the lease. */
  heartbeatMs?: number;
  /** Called once when the lock turns out to be gone or replaced (the lease lapsed and someone took over). */
  onLost?: (err: DataDirLockLostError) => void;
}

export interface DataDirLock {
  readonly path: string;
  readonly record: LockRecord;
  /** Set once the lock was lost; the database must not be touched after that. */
  lost(): DataDirLockLostError | undefined;
  /** Stop renewing and remove the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

/** Nonces of the locks this process holds, by lock path. */
const held = new Map<string, string>();

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** Field 22 of /proc/<pid>/stat, counted after the command name (which may hold spaces and parentheses). */
function startTicksOf(pid: number | 'self'): number | undefined {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return stat && Number.isInteger(ticks) ? ticks : undefined;
}

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process, as a lock record would describe it. */
export function ownIdentity(): Omit<LockRecord, 'startedAt' | 'nonce'> {
  return {
    host: hostname(),
    bootId: readOr('/proc/sys/kernel/random/boot_id', ''),
    pidNs: pidNamespace(),
    pid: process.pid,
    startTicks: startTicksOf('self') ?? -1,
  };
}

type Judgement = { verdict: 'held'; why: string } | { verdict: 'stale' };

/** Whether the holder of `record` (mtime `mtimeMs`) still has the directory. */
function judge(lockPath: string, record: LockRecord | number | undefined, mtimeMs: number, leaseMs: number): Judgement {
  const ageS = Math.max(0, Math.round((Date.now() - mtimeMs) / 1000));
  if (typeof record === 'number') {
    // A bare pid, written by an earlier version of this lock: its pid rule, as then.
    return record !== process.pid && alive(record) ? { verdict: 'held', why: `process ${record} (an older steadystate)` } : { verdict: 'stale' };
  }
  if (record === undefined) {
    return Date.now() - mtimeMs < leaseMs ? { verdict: 'held', why: `an unreadable lock written ${ageS} s ago` } : { verdict: 'stale' };
  }
  const who = `process ${record.pid} on host ${record.host}${record.pidNs ? ` (${record.pidNs})` : ''} since ${record.startedAt}`;
  if (held.get(lockPath) === record.nonce) return { verdict: 'held', why: `${who}: this very process` };
  const me = ownIdentity();
  const sameNs = record.bootId !== '' && record.bootId === me.bootId && record.pidNs !== '' && record.pidNs === me.pidNs;
  if (sameNs) {
    // In our own pid namespace a pid check is meaningful; the start time tells a reused pid apart.
    if (!alive(record.pid)) return { verdict: 'stale' };
    const ticks = startTicksOf(record.pid);
    // Unreadable (/proc mounted with hidepid, say): alive is all we know, so it holds.
    if (ticks !== undefined && record.startTicks >= 0 && ticks !== record.startTicks) return { verdict: 'stale' };
    return { verdict: 'held', why: `${who}, alive` };
  }
  if (Date.now() - mtimeMs < leaseMs) {
    return { verdict: 'held', why: `${who}, lease renewed ${ageS} s ago (it lapses after ${Math.round(leaseMs / 1000)} s without renewal)` };
  }
  return { verdict: 'stale' };
}

function parseRecord(text: string): LockRecord | number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  try {
    const r = JSON.parse(trimmed) as Partial<LockRecord>;
    if (typeof r.nonce === 'string' && typeof r.pid === 'number' && typeof r.host === 'string') {
      return { host: r.host, bootId: String(r.bootId ?? ''), pidNs: String(r.pidNs ?? ''), pid: r.pid, startTicks: Number(r.startTicks ?? -1), startedAt: String(r.startedAt ?? '?'), nonce: r.nonce };
    }
  } catch {
    // Not a record of ours: judged by its age alone.
  }
  return undefined;
}

function nonceOf(text: string): string | undefined {
  const r = parseRecord(text);
  return typeof r === 'object' ? r.nonce : undefined;
}

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Create `file` with `content`, atomically and only if absent (write a temp file, fsync, hard-link it). */
async function createWith(file: string, content: string, temp: string): Promise<boolean> {
  const fh = await open(temp, 'wx', 0o600);
  try {
    await fh.writeFile(content);
    await fh.sync();
    await link(temp, file);
    return true;
  } catch (err) {
    if (code(err) === 'EEXIST') return false;
    throw err;
  } finally {
    await fh.close();
    await unlink(temp).catch(() => undefined);
  }
}

/** A takeover mutex older than this was left by a process that died in the middle of one (which takes milliseconds). */
const MUTEX_STALE_MS = 10_000;

/**
 * Remove the lock file if it still holds `expected` (its nonce, or its exact
 * text when it has none). Every removal — a takeover or a release — happens
 * under `pglite.lock.takeover`, created exclusively: creators only create
 * where nothing is, so between our read and our unlink nobody can swap the
 * file, and a fresh lock is never deleted on the strength of a stale read.
 * Returns false when another process holds the mutex (try again later).
 */
async function removeIf(lockPath: string, expected: string, nonce: string): Promise<boolean> {
  const mutex = `${lockPath}.takeover`;
  if (!(await createWith(mutex, `${nonce}\n`, `${mutex}.${nonce}.tmp`))) {
    const age = await stat(mutex).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > MUTEX_STALE_MS) await unlink(mutex).catch(() => undefined);
    return false;
  }
  try {
    const text = await readFile(lockPath, 'utf8').catch(() => undefined);
    if (text !== undefined && (nonceOf(text) ?? text) === expected) await unlink(lockPath);
    return true;
  } finally {
    await unlink(mutex);
  }
}

/** Take the lock on `dir` (which must exist), or throw DataDirInUseError naming the holder. */
export async function acquireDataDirLock(dir: string, opts: DataDirLockOptions = {}): Promise<DataDirLock> {
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 4));
  const lockPath = `${dir}/${LOCK_FILE}`;
  const record: LockRecord = { ...ownIdentity(), startedAt: new Date().toISOString(), nonce: randomBytes(12).toString('hex') };
  const content = `${JSON.stringify(record)}\n`;

  // Bounded: each pass links, refuses, or removes one stale lock; a pass lost to a concurrent takeover waits a little.
  let linked = false;
  for (let attempt = 0; attempt < 10 && !linked; attempt += 1) {
    if (await createWith(lockPath, content, `${lockPath}.${record.nonce}.tmp`)) {
      linked = true;
      break;
    }
    let text: string;
    let mtimeMs: number;
    try {
      [text, mtimeMs] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath).then((s) => s.mtimeMs)]);
    } catch (err) {
      if (code(err) === 'ENOENT') continue;
      throw err;
    }
    const j = judge(lockPath, parseRecord(text), mtimeMs, leaseMs);
    if (j.verdict === 'held') throw new DataDirInUseError(dir, j.why);
    if (!(await removeIf(lockPath, nonceOf(text) ?? text, record.nonce))) await pause(20 * (attempt + 1));
  }
  if (!linked) throw new DataDirInUseError(dir, 'other processes racing for it (gave up after 10 attempts)');
  held.set(lockPath, record.nonce);
  // Our descriptor renews the lease on our own inode, and tells us when the name points elsewhere.
  const fh: FileHandle = await open(lockPath, 'r');
  const ino = (await fh.stat()).ino;
  if ((await readFile(lockPath, 'utf8').catch(() => '')) !== content) {
    await fh.close();
    held.delete(lockPath);
    throw new DataDirInUseError(dir, 'another process that replaced our fresh lock');
  }
  let lostError: DataDirLockLostError | undefined;
  let released: Promise<void> | undefined;
  const markLost = (why: string): void => {
    if (lostError) return;
    lostError = new DataDirLockLostError(dir, why);
    clearInterval(timer);
    if (opts.onLost) opts.onLost(lostError);
    else process.emitWarning(lostError.message, { code: 'STEADYSTATE_DATA_DIR_LOCK_LOST' });
  };
  let beating = false;
  const timer = setInterval(() => {
    if (beating || lostError || released) return;
    beating = true;
    void (async () => {
      try {
        // Renew on our own inode (through our descriptor): a replaced lock's holder keeps its own lease.
        const now = new Date();
        await fh.utimes(now, now);
        const current = await stat(lockPath).catch(() => undefined);
        if (!released && current?.ino !== ino) markLost(current ? 'the lock file was replaced by another process' : 'the lock file was removed');
      } catch (err) {
        if (!released) markLost(`renewing the lease failed (${code(err) ?? String(err)})`);
      } finally {
        beating = false;
      }
    })();
  }, heartbeatMs);
  timer.unref();

  return {
    path: lockPath,
    record,
    lost: () => lostError,
    release(): Promise<void> {
      released ??= (async () => {
        clearInterval(timer);
        held.delete(lockPath);
        try {
          // Bounded: the mutex is held for milliseconds; if it stays busy, a takeover is removing our lock anyway.
          for (let attempt = 0; attempt < 10; attempt += 1) {
            if (await removeIf(lockPath, record.nonce, record.nonce)) break;
            await pause(20 * (attempt + 1));
          }
        } finally {
          await fh.close();
        }
      })();
      return released;
    },
  };
}

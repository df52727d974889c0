/**
 * A freshly initialised PGlite cluster, kept as a tarball so later stores skip initdb.
 *
 * `PGlite.create()` on an empty data directory runs initdb inside WebAssembly: about 3.5 s of CPU,
 * three quarters of what opening a store costs. The cluster initdb writes is the same every time for
 * one PGlite version, so a process that opens a second store dumps the fresh cluster (`dumpDataDir`,
 * about 0.3 s) and every later empty store loads the dump instead (`loadDataDir`, about 1 s). A process
 * that opens one store (`run`, `serve`) pays nothing extra. Migrations still run on each store as usual:
 * the template is what initdb makes, nothing of ours.
 *
 * Memory stores use it, and so does a new data directory (in its own thread, pglite-thread.ts), where
 * only the on-disk template can be at hand: a thread is a process of its own here. A store loaded from
 * a template keeps its process (or thread) alive until it is closed (postgres inside PGlite keeps a 10 s
 * timer armed); a data directory's thread does not keep the process alive while idle.
 *
 * Across processes the template can also live on disk, in the directory `STEADYSTATE_PGLITE_TEMPLATE_DIR`
 * names (the test suite points it into node_modules/.cache; off unless set). The file is keyed by the
 * PGlite version, written whole or not at all (temporary file, then rename), readable by its owner only.
 * Whoever can write that directory decides what a new store starts from: keep it private to the service.
 */
import { PGlite } from '@electric-sql/pglite';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { StoreBeginning } from './pglite-thread-protocol.ts';

/** The template belongs to one PGlite build (its package.json is not exported: found next to the wasm). */
const PGLITE_VERSION: string = (
  JSON.parse(readFileSync(join(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite/pglite.wasm')), '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

let inProcess: Promise<Blob> | undefined;
let initdbs = 0;
let loads = 0;

/** How this process's PGlite stores began: initdb run, or loaded from the template. */
export function templateStats(): { initdbs: number; loads: number } {
  return { initdbs, loads };
}

/** A data directory's store, begun in its own thread (whose counts are its own), counted here too. */
export function countStoreBeginning(began: StoreBeginning): void {
  if (began === 'initdb') initdbs += 1;
  if (began === 'template') loads += 1;
}

/** Where the on-disk template lives, when the operator asked for one. */
export function templateFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env.STEADYSTATE_PGLITE_TEMPLATE_DIR?.trim();
  return dir ? join(resolve(dir), `pglite-${PGLITE_VERSION}-initdb.tar`) : undefined;
}

/** The template if there is one (made earlier in this process, or saved on disk), else undefined. */
export async function existingTemplate(): Promise<Blob | undefined> {
  const blob = inProcess ? await inProcess.catch(() => undefined) : await readSaved();
  if (blob) {
    inProcess ??= Promise.resolve(blob);
    loads += 1;
  }
  return blob;
}

async function readSaved(): Promise<Blob | undefined> {
  const file = templateFile();
  if (!file) return undefined;
  try {
    return new Blob([await readFile(file)]);
  } catch {
    return undefined;
  }
}

/**
 * Called with a store that initdb has just made, before anything else touches it: keeps its cluster as
 * the template when that will pay (a second store in this process, or a template directory to fill).
 */
export async function keepAsTemplate(db: PGlite): Promise<void> {
  initdbs += 1;
  const file = templateFile();
  if (inProcess || (!file && initdbs < 2)) return;
  // A checkpoint first: the dump is then a cleanly written cluster, not one that needs recovery.
  const made = db.exec('CHECKPOINT').then(() => db.dumpDataDir('none'));
  inProcess = made;
  try {
    const blob = await made;
    // A cache: failing to keep it costs time, not data.
    if (file) await saveAtomically(file, blob).catch(() => undefined);
  } catch {
    if (inProcess === made) inProcess = undefined;
  }
}

async function saveAtomically(file: string, blob: Blob): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, Buffer.from(await blob.arrayBuffer()), { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * A data directory's PGlite, served by a worker thread (pglite-thread.ts; ADR
 * 027), with the surface pglite-sql.ts uses: query, exec, transaction, close.
 * Statements cross the thread as messages; values keep their types (the
 * structured clone keeps Dates, numbers, JSON values). A database error comes
 * back with its SQLSTATE `code`, `constraint` and message.
 *
 * The thread keeps the process alive only while a call is waiting on it, as a
 * socket would. If the thread dies, every waiting call fails and so does every
 * later one: the store is then unusable, and says why.
 */
import { Worker } from 'node:worker_threads';
import { countStoreBeginning } from './pglite-template.ts';
import { fromThreadError, type ThreadReply, type ThreadRequest } from './pglite-thread-protocol.ts';

type Rows<R> = { rows: R[] };

export interface PgliteTxPort {
  query<R>(text: string, params?: unknown[]): Promise<Rows<R>>;
  exec(script: string): Promise<unknown>;
}

export interface PgliteThread extends PgliteTxPort {
  transaction<T>(fn: (tx: PgliteTxPort) => Promise<T>): Promise<T>;
  /** Closes the database (flushing it), then ends the thread. */
  close(): Promise<void>;
  /** Ends the thread at once, without writing anything more (a lost data-dir lock). */
  terminate(): Promise<void>;
}

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
type Request = Distribute<ThreadRequest>;

/** The thread's entry: the compiled .js beside this file, or the .ts source through tsx. */
function spawnThread(dataDir: string): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./pglite-thread${fromSource ? '.ts' : '.js'}`, import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: { dataDir } });
  // From sources (a checkout, the tests) the thread loads TypeScript the way bin/steadystate.js does:
  // tsx registered in code. Node 20 does not apply `--import tsx` to a worker's own modules.
  const boot = `const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData: { dataDir }, execArgv: [] });
}

export async function openPgliteThread(dataDir: string): Promise<PgliteThread> {
  const worker = spawnThread(dataDir);
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let dead: Error | undefined;

  const die = (err: Error): void => {
    dead ??= err;
    for (const w of waiting.values()) w.reject(dead);
    waiting.clear();
  };
  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: ThreadReply) => {
      if ('ready' in m) {
        if (m.error) return reject(fromThreadError(m.error));
        if (m.began) countStoreBeginning(m.began);
        return resolve();
      }
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      if (waiting.size === 0) worker.unref();
      if (m.ok) w.resolve(m.value);
      else w.reject(fromThreadError(m.error));
    });
    worker.on('error', (err) => {
      reject(err);
      die(new Error(`the PGlite thread failed: ${err.message}`, { cause: err }));
    });
    worker.on('exit', (code) => {
      reject(new Error(`the PGlite thread exited (code ${code}) before the database opened`));
      die(new Error(`the PGlite thread has ended (code ${code})`));
    });
  });
  try {
    await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  worker.unref();

  const call = (req: Request, id = nextId++): Promise<unknown> => {
    if (dead) return Promise.reject(dead);
    if (waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...req, id });
    });
  };
  const port = (tx?: number): PgliteTxPort => ({
    async query<R>(text: string, params?: unknown[]) {
      return { rows: (await call({ op: 'query', text, ...(params ? { params } : {}), ...(tx ? { tx } : {}) })) as R[] };
    },
    exec: (script) => call({ op: 'exec', script, ...(tx ? { tx } : {}) }),
  });

  return {
    ...port(),
    async transaction<T>(fn: (tx: PgliteTxPort) => Promise<T>): Promise<T> {
      // The begin request's id names the transaction.
      const id = nextId++;
      await call({ op: 'begin' }, id);
      let result: T;
      try {
        result = await fn(port(id));
      } catch (err) {
        await call({ op: 'end', tx: id, commit: false }).catch(() => undefined);
        throw err;
      }
      await call({ op: 'end', tx: id, commit: true });
      return result;
    },
    async close() {
      if (!dead) await call({ op: 'close' });
      await worker.terminate();
    },
    async terminate() {
      dead ??= new Error('the PGlite thread was ended');
      await worker.terminate();
    },
  };
}

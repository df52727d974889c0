/**
 * The PGlite thread (ADR 027): a data directory's database, opened and served
 * in a worker thread so that its WebAssembly never holds up the service's
 * event loop. It answers the requests of pglite-thread-client.ts, in the order
 * PGlite itself gives them: PGlite serialises calls, and a query outside a
 * transaction waits for the transaction in progress to end.
 *
 * The data-dir lock stays with the service's thread, which checks it before
 * every call and ends this thread when the lock is lost.
 */
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { existingTemplate, keepAsTemplate } from './pglite-template.ts';
import { toThreadError, type ThreadReply, type ThreadRequest } from './pglite-thread-protocol.ts';

type Tx = Parameters<Parameters<PGlite['transaction']>[0]>[0];

interface OpenTx {
  tx: Tx;
  finish(commit: boolean): void;
  /** The id of the `end` request, answered when the transaction has ended. */
  endId?: number;
}

const port = parentPort;
if (!port) throw new Error('pglite-thread.ts runs in a worker thread');
const { dataDir } = workerData as { dataDir: string };

const reply = (m: ThreadReply): void => port.postMessage(m);
/** Thrown inside a transaction the client rolls back. */
const ROLLBACK = new Error('rolled back by the client');

let db: PGlite;
try {
  // A new data directory starts from initdb's saved cluster when the operator keeps one
  // (pglite-template.ts); an existing one is opened as it is, never overwritten.
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  const tpl = fresh ? await existingTemplate() : undefined;
  db = await PGlite.create({
    dataDir,
    ...(tpl ? { loadDataDir: tpl } : {}),
    // Same value types as the pg adapter (see sql.ts).
    parsers: { [pgliteTypes.INT8]: Number, [pgliteTypes.NUMERIC]: Number },
  });
  if (fresh && !tpl) await keepAsTemplate(db);
  reply({ id: 0, ready: true, began: !fresh ? 'existing' : tpl ? 'template' : 'initdb' });
} catch (err) {
  reply({ id: 0, ready: true, error: toThreadError(err) });
  throw err;
}

const open = new Map<number, OpenTx>();

function begin(id: number): void {
  let began = false;
  let finish: (commit: boolean) => void = () => undefined;
  const ended = new Promise<boolean>((resolve) => (finish = resolve));
  db.transaction(async (tx) => {
    began = true;
    open.set(id, { tx, finish });
    reply({ id, ok: true });
    if (!(await ended)) throw ROLLBACK;
  }).then(
    () => settle(id, began, undefined),
    (err: unknown) => settle(id, began, err === ROLLBACK ? undefined : err),
  );
}

/** Answers the `end` of a transaction that has ended, or its `begin` when it never began. */
function settle(id: number, began: boolean, err: unknown): void {
  const entry = open.get(id);
  open.delete(id);
  const to = began ? entry?.endId : id;
  if (to === undefined) return;
  reply(err === undefined ? { id: to, ok: true } : { id: to, ok: false, error: toThreadError(err) });
}

async function handle(m: ThreadRequest): Promise<unknown> {
  switch (m.op) {
    case 'query':
      return (await target(m.tx).query(m.text, m.params)).rows;
    case 'exec':
      await target(m.tx).exec(m.script);
      return undefined;
    case 'close':
      await db.close();
      return undefined;
    default:
      throw new Error(`unknown request ${JSON.stringify(m)}`);
  }
}

function target(tx: number | undefined): Pick<Tx, 'query' | 'exec'> {
  if (tx === undefined) return db;
  const entry = open.get(tx);
  if (!entry) throw new Error(`transaction ${tx} is not open`);
  return entry.tx;
}

port.on('message', (m: ThreadRequest) => {
  if (m.op === 'begin') return begin(m.id);
  if (m.op === 'end') {
    const entry = open.get(m.tx);
    if (!entry) return reply({ id: m.id, ok: false, error: toThreadError(new Error(`transaction ${m.tx} is not open`)) });
    entry.endId = m.id;
    return entry.finish(m.commit);
  }
  handle(m).then(
    (value) => reply({ id: m.id, ok: true, value }),
    (err: unknown) => reply({ id: m.id, ok: false, error: toThreadError(err) }),
  );
});

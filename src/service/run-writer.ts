/**
 * Write-behind for what the service's runs collect: steady-state samples and
 * guardrail evaluations are buffered per run and written for every run at
 * once, in one transaction, every `flushMs` (store/run-data.ts). A run's
 * events are not buffered; before one is written, that run's buffer is
 * flushed, so a reader who sees an event (a halt, the end) also sees the data
 * that led to it.
 *
 * What a crash loses is at most the last `flushMs` of samples and evaluations,
 * which are copies: the samples live in the metric source, and a replica that
 * takes the run over re-reads them (ADR 015).
 *
 * Bounded: past `maxPendingRows` rows a writer waits for the flush under way,
 * so a store slower than the runs slows the runs down rather than growing the
 * buffer without end.
 */
import type { Logger } from 'pino';
import type { CollectedSeries, GuardrailObservation } from '../engine/types.ts';
import type { RunDataItem, RunDataRepository } from '../store/run-data.ts';

export interface RunWriterOptions {
  /** How often buffered data is written (default 1 s). */
  flushMs?: number;
  /** Rows buffered before writers wait for a flush (default 50,000). */
  maxPendingRows?: number;
}

interface Pending {
  samples: CollectedSeries[];
  evaluations: GuardrailObservation[];
}

export class RunWriter {
  private pending = new Map<string, Pending>();
  private pendingRows = 0;
  /** The flush under way; flushes never overlap, so a run's rows land in the order they came. */
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly maxPendingRows: number;
  private closed = false;

  constructor(
    private readonly store: Pick<RunDataRepository, 'appendRunData'>,
    private readonly log: Logger,
    opts: RunWriterOptions = {},
  ) {
    this.maxPendingRows = opts.maxPendingRows ?? 50_000;
    this.timer = setInterval(() => void this.flush(), opts.flushMs ?? 1_000);
    this.timer.unref();
  }

  async samples(runId: string, chunk: CollectedSeries): Promise<void> {
    this.entry(runId).samples.push(chunk);
    await this.added(chunk.samples.length);
  }

  async evaluations(runId: string, observations: readonly GuardrailObservation[]): Promise<void> {
    this.entry(runId).evaluations.push(...observations);
    await this.added(observations.length);
  }

  /** Forget what a run has buffered (it lost its lease: another replica owns it now). */
  drop(runId: string): void {
    const p = this.pending.get(runId);
    if (!p) return;
    this.pendingRows -= rowsOf(p);
    this.pending.delete(runId);
  }

  /** Write what is buffered, for one run or for all; resolves when it is stored (or failed and was logged). */
  flush(runId?: string): Promise<void> {
    const next = this.chain.then(() => this.write(runId));
    this.chain = next;
    return next;
  }

  /** Write everything and stop the timer. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private entry(runId: string): Pending {
    let p = this.pending.get(runId);
    if (!p) {
      p = { samples: [], evaluations: [] };
      this.pending.set(runId, p);
    }
    return p;
  }

  private async added(rows: number): Promise<void> {
    this.pendingRows += rows;
    if (this.closed) await this.flush();
    else if (this.pendingRows > this.maxPendingRows) await this.flush();
  }

  private async write(runId: string | undefined): Promise<void> {
    const items: RunDataItem[] = [];
    const take = (id: string, p: Pending): void => {
      if (p.samples.length > 0 || p.evaluations.length > 0) items.push({ runId: id, samples: p.samples, evaluations: p.evaluations });
      this.pendingRows -= rowsOf(p);
      this.pending.delete(id);
    };
    if (runId === undefined) for (const [id, p] of this.pending) take(id, p);
    else {
      const p = this.pending.get(runId);
      if (p) take(runId, p);
    }
    if (items.length === 0) return;
    try {
      await this.store.appendRunData(items);
    } catch (err) {
      if (items.length === 1) {
        this.log.warn({ err, runId: items[0]!.runId }, 'could not record collected samples and guardrail evaluations');
        return;
      }
      // One run's bad batch (deleted, a changed query) must not cost the others theirs.
      for (const item of items) {
        try {
          await this.store.appendRunData([item]);
        } catch (itemErr) {
          this.log.warn({ err: itemErr, runId: item.runId }, 'could not record collected samples and guardrail evaluations');
        }
      }
    }
  }
}

function rowsOf(p: Pending): number {
  return p.samples.reduce((n, c) => n + c.samples.length, 0) + p.evaluations.length;
}

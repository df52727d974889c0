/**
 * Group commit: work submitted while a batch is being written waits for the
 * next batch, which takes everything queued (up to `maxBatch`). Nothing waits
 * on a timer: a lone submission runs at once, and a burst shares one
 * transaction instead of queueing behind one transaction each.
 *
 * Look-ups use the same queue (`batchedLookup`): a key asked while a query is
 * in flight waits for the next one, which asks for every waiting key at once.
 * The next query is sent after each of its keys was asked, so an answer is
 * never older than the question.
 */
export type Settled<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Waiting<I, O> {
  input: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private running = false;

  /** `write` settles each input of a batch, in order; if it throws, every input of the batch fails with that error. */
  constructor(
    private readonly write: (inputs: I[]) => Promise<Settled<O>[]>,
    private readonly maxBatch = 200,
  ) {}

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      // Bounded by the queue: each pass takes at least one entry off it.
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.write(batch.map((w) => w.input));
          batch.forEach((w, i) => {
            const r = results[i];
            if (!r) w.reject(new Error('group commit: no result for this input'));
            else if (r.ok) w.resolve(r.value);
            else w.reject(r.error);
          });
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/**
 * One query for every key asked while the previous one was in flight: `fetch`
 * answers a set of distinct keys with what it found (a key it leaves out is
 * not there). For the reads every API request makes (ADR 024).
 */
export function batchedLookup<K, V>(fetch: (keys: K[]) => Promise<Map<K, V>>): (key: K) => Promise<V | undefined> {
  const queue = new GroupCommit<K, V | undefined>(async (keys) => {
    const found = await fetch([...new Set(keys)]);
    return keys.map((k) => ({ ok: true as const, value: found.get(k) }));
  });
  return (key) => queue.submit(key);
}

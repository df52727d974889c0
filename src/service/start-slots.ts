/**
 * A bounded number of runs in their start-up (pending → preflight → the
 * window's open) at once. A burst of starts is answered at once — each run is
 * persisted `pending` and waits here for a slot — while the CPU and database
 * work of preflight is spread out instead of competing with the answers
 * (bench:starts, ADR 015). A run leaves its slot when its window opens or it
 * ends. Waiting is abortable: an aborted wait resolves without a slot, and the
 * run then ends `aborted` in its first step.
 *
 * Answers come first: while start requests are being handled (`answering`),
 * no run enters its start-up — a burst of 100 starts is answered before the
 * first preflight competes with it for the event loop and the database
 * (PGlite runs in this thread) — for at most `yieldMs`, so a steady stream of
 * starts cannot hold the runs back.
 */
export class StartSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  private answering = 0;
  private idle: Promise<void> = Promise.resolve();
  private wakeIdle: () => void = () => undefined;

  constructor(
    size: number,
    private readonly yieldMs = 1_000,
  ) {
    this.free = Math.max(1, Math.floor(size));
  }

  /** Around the handling of one start request. */
  async answer<T>(fn: () => Promise<T>): Promise<T> {
    if (this.answering++ === 0) this.idle = new Promise((resolve) => (this.wakeIdle = resolve));
    try {
      return await fn();
    } finally {
      if (--this.answering === 0) this.wakeIdle();
    }
  }

  /** Resolves with the slot's release (idempotent), or a no-op when `signal` aborted the wait. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.answering > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.yieldMs)))]);
      clearTimeout(timer);
    }
    return this.slot(signal);
  }

  private slot(signal?: AbortSignal): Promise<() => void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const handOver = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.releaser());
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(handOver);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(() => undefined);
      };
      if (signal?.aborted) return resolve(() => undefined);
      this.waiting.push(handOver);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get queued(): number {
    return this.waiting.length;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}

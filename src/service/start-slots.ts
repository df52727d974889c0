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
 * and until none has arrived or ended for `quietMs`, no run enters its
 * start-up — a burst of 100 starts is answered before the first preflight
 * competes with it for the event loop and the database. A burst's requests
 * reach the server in waves as its connections are accepted (ADR 027), so an
 * empty moment between two waves is not its end. A run waits for this at most
 * `yieldMs`, so a steady stream of starts cannot hold the runs back.
 */
export class StartSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  private answering = 0;
  /** performance.now() of the last arrival or end of a start request. */
  private lastActivity = -Infinity;
  private idle: Promise<void> = Promise.resolve();
  private wakeIdle: () => void = () => undefined;

  constructor(
    size: number,
    private readonly yieldMs = 1_000,
    private readonly quietMs = 100,
  ) {
    this.free = Math.max(1, Math.floor(size));
  }

  /** Around the handling of one start request. */
  async answer<T>(fn: () => Promise<T>): Promise<T> {
    const done = this.hold();
    try {
      return await fn();
    } finally {
      done();
    }
  }

  /**
   * A start request is being answered from now until the returned release
   * (idempotent) is called: the HTTP layer holds from the request's arrival,
   * before its credentials are looked up, to its response's end.
   */
  hold(): () => void {
    this.lastActivity = performance.now();
    if (this.answering++ === 0) this.idle = new Promise((resolve) => (this.wakeIdle = resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.lastActivity = performance.now();
      if (--this.answering === 0) this.wakeIdle();
    };
  }

  /** Resolves with the slot's release (idempotent), or a no-op when `signal` aborted the wait. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    const until = performance.now() + this.yieldMs;
    // Each turn waits for the answers in flight to end, or for the quiet to last; bounded by `yieldMs`.
    for (let turn = 0; turn < 1_000 && !signal?.aborted; turn++) {
      const now = performance.now();
      const quietAt = this.lastActivity + this.quietMs;
      if ((this.answering === 0 && now >= quietAt) || now >= until) break;
      const wait = this.answering > 0 ? until - now : Math.min(quietAt, until) - now;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        ...(this.answering > 0 ? [this.idle] : []),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(1, Math.ceil(wait))))),
      ]);
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

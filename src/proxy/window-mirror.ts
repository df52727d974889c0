/**
 * A worker's copy of the primary's fault window. The worker never opens a
 * window of its own; it drops its copy — stops injecting — as soon as any of
 * these holds: the deadline has passed (checked on every request, against
 * this machine's clock, like the primary's), the lease has lapsed (no word
 * from the primary for LEASE_MS: a hung primary cannot close windows), or the
 * link to the primary is gone.
 */
import { type ActiveWindow, toActiveWindow, type WindowSource, type WindowWire } from './fault-windows.ts';

export class WindowMirror implements WindowSource {
  private current: ActiveWindow | undefined;
  private leaseUntil = 0;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** The primary's word: this window (or none) for the next leaseMs. */
  set(window: WindowWire | null, leaseMs: number): void {
    this.current = window ? toActiveWindow(window) : undefined;
    this.renew(leaseMs);
  }

  renew(leaseMs: number): void {
    this.leaseUntil = this.now() + leaseMs;
  }

  /** The primary is gone: nothing is injected from now on. */
  drop(): void {
    this.current = undefined;
    this.leaseUntil = 0;
  }

  active(): ActiveWindow | undefined {
    const cur = this.current;
    if (cur === undefined) return undefined;
    const now = this.now();
    if (now >= cur.deadlineMs || now >= this.leaseUntil) {
      this.current = undefined;
      return undefined;
    }
    return cur;
  }

  /** The id of the window in effect, for the primary's view of its workers. */
  activeId(): string | null {
    return this.active()?.id ?? null;
  }
}

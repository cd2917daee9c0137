/** A pending deadline: `at` is a `performance.now()` time; move it to push the deadline back (an idle timeout). */
export interface Deadline {
  at: number;
  readonly fire: () => void;
}

/**
 * Coarse deadlines for upstream attempts (the router's response and first-token bounds): one shared interval sweeps
 * them every `tickMs`, instead of a Node timer created and cleared per attempt (a Timeout object, an async resource
 * and a timer-list entry per request). A deadline fires at most one tick late, which is nothing next to the routing
 * timeouts it serves (seconds). The interval is unref'd and stops at the first sweep that finds nothing pending.
 */
export class Deadlines {
  private readonly pending = new Set<Deadline>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(tickMs = 10) {
    this.tickMs = tickMs;
  }

  /** Calls `fire` once, `ms` from now (up to one tick later), unless cleared first. */
  after(ms: number, fire: () => void): Deadline {
    const deadline: Deadline = { at: performance.now() + ms, fire };
    this.pending.add(deadline);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
    return deadline;
  }

  clear(deadline: Deadline): void {
    this.pending.delete(deadline);
  }

  get size(): number {
    return this.pending.size;
  }

  private sweep(): void {
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = performance.now();
    for (const d of this.pending) {
      if (d.at > now) continue;
      this.pending.delete(d);
      d.fire();
    }
  }
}

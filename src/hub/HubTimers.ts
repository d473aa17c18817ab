// The timers the local hub owns (delayed twin answers, delayed method requests, waits), so close() can cancel them.

/** A set of tracked timers: each forgets itself when it fires; `cancelAll()` clears what is left. */
export class HubTimers {
  private readonly timers = new Set<NodeJS.Timeout>();

  /** Runs `fn` after `ms` (at once, synchronously, when `ms` ≤ 0). */
  later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    this.start(ms, fn);
  }

  /** Starts a tracked timer and returns it (for {@link cancel}). */
  start(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  /** Stops one timer started here. */
  cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Stops every pending timer. */
  cancelAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

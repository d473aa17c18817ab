// A manual clock for timing tests (renewal, back-off): timers fire only when the test advances time.
import type { Clock } from '../../src/client/clock';

/** A manual clock: timers fire only when the test advances time. */
export class FakeClock implements Clock {
  private timers = new Map<number, { at: number; fn: () => void; ms: number; keepAlive: boolean }>();
  private next = 1;
  constructor(public time: number) {}
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number, keepAlive = false): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.time + ms, fn, ms, keepAlive });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** The armed timers, soonest first: their delay as asked for and whether they were to keep the process alive. */
  armed(): Array<{ ms: number; keepAlive: boolean; dueIn: number }> {
    return [...this.timers.values()]
      .sort((a, b) => a.at - b.at)
      .map((t) => ({ ms: t.ms, keepAlive: t.keepAlive, dueIn: t.at - this.time }));
  }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!best || entry[1].at < best[1].at)) best = entry;
      if (!best) break;
      this.timers.delete(best[0]);
      this.time = best[1].at;
      best[1].fn();
    }
    this.time = end;
  }
}

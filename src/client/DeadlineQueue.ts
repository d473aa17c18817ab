// One timer for many operations with the same time limit: deadlines arrive in creation order, so a FIFO suffices.
import type { Clock } from './clock';

/** Something with a deadline that may have settled already. */
export interface Expirable {
  readonly deadline: number;
  /** True once the operation finished (it is then skipped). */
  readonly settled: boolean;
  expire(): void;
}

/**
 * A FIFO of operations whose deadlines are non-decreasing (all created with the same timeout). One timer is armed
 * for the oldest unsettled entry; cheap even with tens of thousands of operations in flight.
 */
export class DeadlineQueue {
  private items: Expirable[] = [];
  private head = 0;
  private timer: unknown;

  constructor(private readonly clock: Clock) {}

  add(item: Expirable): void {
    this.items.push(item);
    if (this.timer === undefined) this.arm();
    else if ((this.items.length & 1023) === 0) this.compact();
  }

  /** Forgets settled entries at the head so that finished operations are not kept alive until the timer fires. */
  private compact(): void {
    while (this.head < this.items.length && this.items[this.head]!.settled) this.head += 1;
    if (this.head > 0) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  private arm(): void {
    while (this.head < this.items.length && this.items[this.head]!.settled) this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    if (this.head >= this.items.length) {
      this.items = [];
      this.head = 0;
      this.timer = undefined;
      return;
    }
    const at = this.items[this.head]!.deadline;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.head < this.items.length) {
      const item = this.items[this.head]!;
      if (!item.settled && item.deadline > now) break;
      this.head += 1;
      if (!item.settled) item.expire();
    }
    this.arm();
  }

  /** Drops every entry and the timer (entries are not expired). */
  clear(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.items = [];
    this.head = 0;
  }
}

// A bounded wait-list for sends made while disconnected: they go out in order after reconnect, or fail visibly
// (queue full, time limit) — never silently.
import { NodeError } from './errors';

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class SendQueue {
  private readonly waiters: Waiter[] = [];

  /**
   * @param limit how many sends may wait (0 = none: a send while disconnected fails at once)
   * @param timeoutMs how long one send may wait
   */
  constructor(private readonly limit: number, private readonly timeoutMs: number) {}

  get size(): number {
    return this.waiters.length;
  }

  /**
   * Waits for {@link release}.
   * @throws NodeError `queue-full` at once when the queue is full; `operation-timeout` after the time limit.
   */
  wait(): Promise<void> {
    if (this.waiters.length >= this.limit) return Promise.reject(new NodeError('queue-full', String(this.limit)));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(new NodeError('operation-timeout', `${this.timeoutMs} ms`));
        }, this.timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Lets every waiting send go, oldest first. */
  release(): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  }

  /** Fails every waiting send (node closing). */
  rejectAll(err: Error): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }
}

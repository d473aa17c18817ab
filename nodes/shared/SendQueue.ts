// A bounded wait-list for sends made while disconnected: they go out in order after reconnect, or fail visibly
// (queue full, time limit) — never silently. Bounded in count and in bytes, so a long outage cannot exhaust memory.
import { NodeError } from './errors';

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Defaults sized to ride out a minute-long outage (an edgeHub restart during an IoT Edge update takes tens of
 * seconds) at a few hundred messages a second: 20,000 messages, at most 64 MB of payload and properties.
 */
export const QUEUE_DEFAULTS = { size: 20_000, megabytes: 64, timeoutSeconds: 60 } as const;

export interface SendQueueLimits {
  /** How many sends may wait (0 = none: a send while disconnected fails at once). */
  count: number;
  /** How many bytes (payload and properties, see {@link SendQueue.wait}) may wait in all. */
  bytes: number;
  /** How long one send may wait, in ms. */
  timeoutMs: number;
}

export class SendQueue {
  private readonly waiters: Waiter[] = [];
  private queuedBytes = 0;

  constructor(private readonly limits: SendQueueLimits) {}

  get size(): number {
    return this.waiters.length;
  }

  /** Bytes held by the waiting sends. */
  get bytes(): number {
    return this.queuedBytes;
  }

  /**
   * Waits for {@link release}.
   * @param bytes the size of the message that waits (its payload and properties).
   * @throws NodeError `queue-full` at once when the count or the byte bound would be exceeded; `operation-timeout`
   *   after the time limit.
   */
  wait(bytes = 0): Promise<void> {
    const { count, timeoutMs } = this.limits;
    if (this.waiters.length >= count) return Promise.reject(new NodeError('queue-full', `${count} messages`));
    if (this.queuedBytes + bytes > this.limits.bytes)
      return Promise.reject(new NodeError('queue-full', `${this.limits.bytes} bytes`));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) {
            this.waiters.splice(index, 1);
            this.queuedBytes -= waiter.bytes;
          }
          reject(new NodeError('operation-timeout', `${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
      this.queuedBytes += bytes;
    });
  }

  /** Lets every waiting send go, oldest first. */
  release(): void {
    this.queuedBytes = 0;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  }

  /** Fails every waiting send (node closing). */
  rejectAll(err: Error): void {
    this.queuedBytes = 0;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }
}

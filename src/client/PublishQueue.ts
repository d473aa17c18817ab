// QoS 1 publishes (telemetry, outputs, method responses) from the call until PUBACK: sent at once when connected,
// queued while not, and re-sent on the next connection when the PUBACK was lost with the old one (at least once).
import { ConnectionDroppedError, OperationTimeout } from './errors';
import type { Expirable } from './DeadlineQueue';
import { TimedOperations } from './TimedOperations';
import type { MqttConnection } from './transport/MqttConnection';

/** A QoS 1 publish waiting to be sent or acknowledged. */
class PublishOp implements Expirable {
  settled = false;
  constructor(
    readonly topic: string,
    readonly payload: Buffer | string,
    readonly deadline: number,
    private readonly resolve: () => void,
    private readonly reject: (err: Error) => void,
    private readonly expiryError: (timedOut: () => Error) => Error,
  ) {}
  finish(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    if (err) this.reject(err);
    else this.resolve();
  }
  expire(): void {
    this.finish(
      this.expiryError(() => new OperationTimeout(`Publish to ${this.topic.split('/?')[0]} not acknowledged in time`)),
    );
  }
}

/**
 * Every publish of one client, in order; each one times out after `timeoutMs` (ConnectionFailedError when it was
 * still waiting for a connection then, OperationTimeout when the hub did not acknowledge it).
 */
export class PublishQueue extends TimedOperations {
  private readonly expiryOf = (timedOut: () => Error): Error => this.expiryError(timedOut);

  /** Publishes waiting for a connection (new ones and those to resend after a drop). */
  private waiting: PublishOp[] = [];

  get pending(): boolean {
    return this.waiting.length > 0;
  }

  /**
   * Sends one QoS 1 publish now, or after the next connect; resolves on PUBACK. Not `async` on purpose: one promise
   * per message on the hot path.
   */
  publish(topic: string, payload: Buffer | string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const op = new PublishOp(topic, payload, this.deadlineFromNow(), resolve, reject, this.expiryOf);
      this.deadlines.add(op);
      const live = this.link.live;
      // Behind queued publishes a new one waits its turn, so the hub sees them in call order.
      if (live && this.waiting.length === 0) {
        this.send(op, live);
        return;
      }
      this.waiting.push(op);
      try {
        this.link.requireConnection();
      } catch (err) {
        this.waiting.pop();
        op.finish(err as Error);
      }
    });
  }

  resume(connection: MqttConnection): void {
    const queued = this.waiting;
    this.waiting = [];
    for (const op of queued) if (!op.settled) this.send(op, connection);
  }

  failWaiting(error: Error): void {
    const queued = this.waiting;
    this.waiting = [];
    for (const op of queued) op.finish(error);
  }

  cancelAll(reason: Error): void {
    this.failWaiting(reason);
    this.deadlines.clear();
  }

  private send(op: PublishOp, connection: MqttConnection): void {
    connection.publishCb(op.topic, op.payload, (raw) => {
      if (!raw) return op.finish();
      if (op.settled) return;
      const err = connection.publishError(raw);
      const cancelled = this.link.cancelReason;
      if (cancelled) return op.finish(cancelled);
      if (err instanceof ConnectionDroppedError && !this.link.isShutDown) {
        // Not acknowledged before the connection went away: send again on the next connection (at least once).
        this.waiting.push(op);
        // Normally the reconnect resumes the queue; only a failure from an older connection needs a flush now.
        const live = this.link.live;
        if (live && live !== connection) queueMicrotask(() => this.flush());
        return;
      }
      op.finish(err);
    });
  }

  private flush(): void {
    const live = this.link.live;
    if (live) this.resume(live);
  }
}

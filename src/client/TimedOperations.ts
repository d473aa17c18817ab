// The contract between the session (connection lifecycle) and the operations that outlive one connection: the
// publish queue (PublishQueue.ts) and the twin request ledger (TwinLedger.ts), and the base they share.
import type { MqttConnection } from './transport/MqttConnection';
import { ConnectionFailedError } from './errors';
import { DeadlineQueue } from './DeadlineQueue';
import type { Clock } from './clock';

/** What the operation ledgers need from the session: the live connection, and a way to ask for one. */
export interface ConnectionSource {
  /**
   * The connection while the state is 'connected', else undefined (operations then wait for {@link
   * PendingOperations.resume}).
   */
  readonly live: MqttConnection | undefined;
  /**
   * Makes sure a connection exists or is coming (auto-connect).
   * @throws NoConnectionError when disconnected and autoConnect is off.
   */
  requireConnection(): void;
  /** Set while disconnect / shutdown closes the connection: what fails then is cancelled with it, not resent. */
  readonly cancelReason: Error | undefined;
  readonly isShutDown: boolean;
  /** Why there is no connection now: the last failed connect, or the drop when no reconnect has failed yet. */
  readonly outageError: Error | undefined;
}

/** Operations that outlive one connection; the session drives them through its lifecycle. */
export interface PendingOperations {
  /** True while any operation waits or is in flight. */
  readonly pending: boolean;
  /** A (re)connect completed and every subscription is restored: send what waits on `connection`. */
  resume(connection: MqttConnection): void;
  /** A connect failed and no retry follows: fail what waits for a connection (not what already went out). */
  failWaiting(error: Error): void;
  /** Disconnect, shutdown, or a drop without retry: fail everything and drop the deadlines. */
  cancelAll(reason: Error): void;
}

/**
 * What the publish queue and the twin ledger share: the session link, and one deadline queue for operations that all
 * have the same time limit (`timeoutMs`), so no operation can wait forever (the Python SDK waits for a twin response
 * without a limit).
 */
export abstract class TimedOperations implements PendingOperations {
  protected readonly deadlines: DeadlineQueue;

  constructor(
    protected readonly link: ConnectionSource,
    protected readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {
    this.deadlines = new DeadlineQueue(clock);
  }

  /** The deadline of an operation that starts now. */
  protected deadlineFromNow(): number {
    return this.clock.now() + this.timeoutMs;
  }

  /**
   * The error of an operation whose time is up. Connected, the hub did not answer: `timedOut` (OperationTimeout).
   * Without a connection the operation was still waiting for one (a reconnect during an outage): that is a
   * ConnectionFailedError whose cause is the last connect error, as the Python SDK fails an operation at once during
   * an outage (and OperationTimeout is not a ClientError, so `catch (ClientError)` code would miss it).
   */
  protected expiryError(timedOut: () => Error): Error {
    if (this.link.live) return timedOut();
    const cause = this.link.outageError;
    return new ConnectionFailedError(
      `No connection to the hub within operationTimeout (${this.timeoutMs / 1000} s)`,
      cause ? { cause } : {},
    );
  }

  abstract readonly pending: boolean;
  abstract resume(connection: MqttConnection): void;
  abstract failWaiting(error: Error): void;
  abstract cancelAll(reason: Error): void;
}

// The connection lifecycle of one client: the state machine, connect and reconnect with capped back-off,
// re-subscription of every enabled feature after each connect (Subscriptions.ts), SAS renewal with
// re-authorization, and disconnect / shutdown. Operations that outlive a connection (publish queue, twin ledger) are
// driven through PendingOperations; the client facade hears about the rest through SessionEvents.
import { ClientError, ConnectionDroppedError, NoConnectionError, OperationCancelled } from './errors';
import { mapTransportError } from './errorMapping';
import { backoffDelayMs, retryCapSeconds } from './backoff';
import { Alarm } from './Alarm';
import type { Clock } from './clock';
import type { Credentials } from './Credentials';
import type { ConnectionSource, PendingOperations } from './TimedOperations';
import type { ResolvedOptions } from './options';
import { MqttConnection } from './transport/MqttConnection';
import type { TopicIdentity } from './transport/topics';
import { Subscriptions, type Feature } from './Subscriptions';
import type { ConnectionState } from './types';

/** What the session tells the client facade. */
export interface SessionEvents {
  /** `nextRetryAt`: when the reconnect loop tries next (clock time, ms), when it waits to. */
  stateChanged(state: ConnectionState, reason: Error | undefined, nextRetryAt?: number): void;
  /** A failure nobody awaits (dropped connection, failed reconnect or renewal, refused subscription). */
  background(error: Error): void;
  incoming(topic: string, payload: Buffer): void;
  /** A (re)connect completed: subscriptions restored, pending operations resumed. */
  connected(): void;
  /** A connection ended (dropped or closed by disconnect). */
  connectionEnded(): void;
  /** A user-supplied token is about to expire (renewal margin reached). */
  newSastokenRequired(): void;
}

/** The options the session reads. */
type SessionOptions = Pick<
  ResolvedOptions,
  | 'autoConnect'
  | 'connectionRetry'
  | 'connectionRetryInterval'
  | 'connectionRetryForever'
  | 'operationTimeout'
  | 'ensureDesiredProperties'
>;

/** The error of every call on a client that was shut down. */
export function shutDownError(): ClientError {
  return new ClientError('Client has already been shut down', { code: 'shut-down' });
}

/** The one connection of a client, over its whole life. */
export class Session implements ConnectionSource {
  private state: ConnectionState = 'disconnected';
  private connection: MqttConnection | undefined;
  private connecting: Promise<void> | undefined;
  /** A re-authorization or disconnect in progress. */
  private transition: Promise<void> | undefined;
  private connectAbort: AbortController | undefined;
  private shutDown = false;
  private closingReason: Error | undefined;
  /** Counts user disconnects / shutdowns, so a call can tell its connection was closed on purpose. */
  private hardDisconnects = 0;

  private reconnectTimer: unknown;
  private reconnectAttempt = 0;
  /** True from an unexpected drop until a connect succeeds, the user disconnects, or a failure is not transient. */
  private retrying = false;
  /** Why the client has no connection (see ConnectionSource.outageError); cleared by a successful connect. */
  private lastOutageError: Error | undefined;
  private readonly renewal: Alarm;

  private readonly subscriptions: Subscriptions;
  private operations: readonly PendingOperations[] = [];

  constructor(
    private readonly credentials: Credentials,
    private readonly options: SessionOptions,
    topicId: TopicIdentity,
    private readonly clock: Clock,
    private readonly events: SessionEvents,
  ) {
    this.renewal = new Alarm(clock);
    this.subscriptions = new Subscriptions(
      topicId,
      clock,
      options.operationTimeout * 1000,
      options.ensureDesiredProperties,
    );
  }

  /** Hands the session the operations it resumes after each connect and fails when no connection will come. */
  drive(...operations: PendingOperations[]): void {
    this.operations = operations;
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  get live(): MqttConnection | undefined {
    return this.state === 'connected' ? this.connection : undefined;
  }

  get cancelReason(): Error | undefined {
    return this.closingReason;
  }

  get isShutDown(): boolean {
    return this.shutDown;
  }

  get outageError(): Error | undefined {
    return this.lastOutageError;
  }

  isEnabled(feature: Feature): boolean {
    return this.subscriptions.has(feature);
  }

  // ---------------------------------------------------------------- connect / disconnect

  /**
   * Connects (no-op when connected) and restores every enabled subscription.
   * @throws ConnectionFailedError, CredentialError, ClientError, OperationTimeout, OperationCancelled;
   *   ClientError 'shut-down' after shutdown.
   */
  async connect(): Promise<void> {
    if (this.shutDown) throw shutDownError();
    // A re-authorization or disconnect in progress finishes first (it owns the connection until then).
    while (this.transition) await this.transition.catch(() => undefined);
    if (this.shutDown) throw shutDownError();
    if (this.state === 'connected') return;
    if (this.connecting) return this.connecting;
    this.cancelReconnect();
    return this.startConnect(false);
  }

  /** Closes the connection; every pending operation fails with `reason`. */
  disconnect(reason: Error): Promise<void> {
    // Abort a connect now (also one inside a re-authorization), so the disconnect does not wait for it.
    this.connectAbort?.abort();
    return this.runTransition(() => this.hardDisconnect(reason));
  }

  /** Disconnects for good: afterwards {@link connect} fails with ClientError 'shut-down'. */
  shutdown(reason: Error): Promise<void> {
    this.shutDown = true;
    return this.disconnect(reason);
  }

  /**
   * Makes sure a connection exists or is coming for an operation.
   * @throws NoConnectionError when disconnected and autoConnect is off.
   */
  requireConnection(): void {
    // Connected, connecting, re-authorizing or closing: whoever runs that transition resumes the operations afterwards.
    if (this.state !== 'disconnected' || this.connecting || this.reconnectTimer !== undefined) return;
    if (!this.options.autoConnect) throw new NoConnectionError('Client is not connected and autoConnect is off');
    this.startConnect(false).catch(() => undefined);
  }

  /**
   * Re-authenticates with the current credentials (after the user replaced the token), connecting when
   * disconnected, as the Python SDK's update_sastoken does.
   * @throws as {@link connect}.
   */
  async reauthenticate(): Promise<void> {
    if (this.state === 'connected') return this.reauthorize();
    this.cancelReconnect();
    if (!this.connecting) return this.connect();
    await this.connecting.catch(() => undefined);
    return this.connectionState === 'connected' ? this.reauthorize() : this.connect();
  }

  /**
   * The Python SDK's hard disconnect (user disconnect / shutdown): no reconnect, pending operations fail with `reason`.
   */
  private async hardDisconnect(reason: Error): Promise<void> {
    this.hardDisconnects += 1;
    this.cancelReconnect();
    this.reconnectAttempt = 0;
    this.retrying = false;
    this.renewal.cancel();
    this.connectAbort?.abort();
    const connecting = this.connecting;
    this.cancelOperations(reason);
    if (connecting) await connecting.catch(() => undefined);
    const connection = this.connection;
    this.connection = undefined;
    if (connection) {
      this.setState('disconnecting');
      this.closingReason = reason;
      try {
        await connection.close(true, 0);
      } finally {
        this.closingReason = undefined;
      }
    }
    this.events.connectionEnded();
    this.setState('disconnected');
    if (!this.shutDown && this.operations.some((o) => o.pending)) {
      // Operations started while disconnecting: they get a connection of their own (or fail without autoConnect).
      try {
        this.requireConnection();
      } catch (err) {
        this.cancelOperations(err as Error);
      }
    }
  }

  private cancelOperations(reason: Error): void {
    for (const o of this.operations) o.cancelAll(reason);
  }

  private setState(state: ConnectionState, reason?: Error, nextRetryAt?: number): void {
    if (this.state === state) return;
    this.state = state;
    this.events.stateChanged(state, reason, nextRetryAt);
  }

  /** Opens a connection, re-signing a renewable token once if the hub refuses it. */
  private async openConnection(signal: AbortSignal): Promise<MqttConnection> {
    await this.credentials.refresh();
    try {
      return await MqttConnection.open(this.credentials.connectionSettings(), signal);
    } catch (err) {
      if (!this.credentials.shouldResignAfter(err) || signal.aborted) throw err;
      await this.credentials.refresh(true);
      return MqttConnection.open(this.credentials.connectionSettings(), signal);
    }
  }

  private startConnect(isRetry: boolean, reauth = false): Promise<void> {
    const abort = new AbortController();
    this.connectAbort = abort;
    this.setState(reauth ? 'reauthorizing' : 'connecting');
    const run = (async () => {
      let connection: MqttConnection | undefined;
      try {
        connection = await this.openConnection(abort.signal);
        if (abort.signal.aborted) throw new OperationCancelled('Connect cancelled');
        this.attach(connection);
        const refused = await this.subscriptions.restore(connection);
        if (refused.length > 0) {
          this.events.background(
            new ClientError(`Subscription refused by the hub: ${refused.join(', ')}`, { code: 'service-error' }),
          );
        }
        if (abort.signal.aborted || !connection.isOpen)
          throw new ConnectionDroppedError('Connection lost while subscribing');
      } catch (err) {
        // A user disconnect / shutdown during the connect (its subscriptions included) cancels it, whatever the
        // transport reported as the socket went away: the Python SDK fails such operations with OperationCancelled.
        const error =
          abort.signal.aborted && !(err instanceof OperationCancelled)
            ? new OperationCancelled('Connect cancelled', { cause: err })
            : mapTransportError(err, true);
        if (connection) {
          if (this.connection === connection) this.connection = undefined;
          await connection.close(false);
        }
        throw error;
      }
      this.reconnectAttempt = 0;
      this.retrying = false;
      this.lastOutageError = undefined;
      this.setState('connected');
      this.armRenewal();
      for (const o of this.operations) o.resume(connection);
      this.events.connected();
    })();
    const tracked = run.then(
      () => {
        if (this.connecting === tracked) this.connecting = undefined;
      },
      (err: Error) => {
        if (this.connecting === tracked) this.connecting = undefined;
        if (abort.signal.aborted) throw err;
        this.afterFailedConnect(err, isRetry || reauth);
        throw err;
      },
    );
    this.connecting = tracked;
    return tracked;
  }

  /** After a failed connect: retry (background loop) or give up and fail what waits for a connection. */
  private afterFailedConnect(err: Error, background: boolean): void {
    this.lastOutageError = err;
    if (background) this.events.background(err);
    // A connect that fails while the retry loop runs (also one the user or an operation started) keeps the loop
    // going; with connectionRetryForever a failed first connect starts it.
    const cap = this.options.connectionRetry ? retryCapSeconds(err, this.options) : undefined;
    if ((background || this.retrying || this.options.connectionRetryForever) && cap !== undefined) {
      this.retrying = true;
      this.scheduleReconnect(cap, err);
      return;
    }
    this.retrying = false;
    this.setState('disconnected', err);
    for (const o of this.operations) o.failWaiting(err);
  }

  /** Goes to 'disconnected' because of `reason` and arms the next reconnect attempt, capped at `capSeconds`. */
  private scheduleReconnect(capSeconds: number, reason: Error): void {
    if (this.reconnectTimer !== undefined || this.shutDown) {
      this.setState('disconnected', reason);
      return;
    }
    const delay = backoffDelayMs(this.reconnectAttempt, capSeconds);
    this.reconnectAttempt += 1;
    this.reconnectTimer = this.clock.setTimeout(
      () => {
        this.reconnectTimer = undefined;
        if (this.state !== 'disconnected' || this.connecting) return;
        this.startConnect(true).catch(() => undefined);
      },
      delay,
      true,
    ); // the reconnect loop keeps a stand-alone module process alive while the hub is away
    this.setState('disconnected', reason, this.clock.now() + delay);
  }

  private cancelReconnect(): void {
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private attach(connection: MqttConnection): void {
    this.connection = connection;
    connection.on('message', (topic, payload) => this.events.incoming(topic, payload));
    connection.on('close', (error) => this.onConnectionClosed(connection, error));
  }

  private onConnectionClosed(connection: MqttConnection, error: Error | undefined): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    if (error === undefined) return; // a close we asked for
    if (this.state !== 'connected') return; // the connect / reauth in progress handles it
    const dropped =
      error instanceof ConnectionDroppedError ? error : new ConnectionDroppedError('Connection lost', { cause: error });
    this.lastOutageError = dropped;
    this.renewal.cancel();
    this.events.connectionEnded();
    if (this.options.connectionRetry) {
      this.retrying = true;
      this.scheduleReconnect(this.options.connectionRetryInterval, dropped);
      this.events.background(dropped);
    } else {
      this.setState('disconnected', dropped);
      this.events.background(dropped);
      this.cancelOperations(new OperationCancelled('Connection lost', { cause: dropped }));
    }
  }

  // ---------------------------------------------------------------- subscriptions

  /**
   * Enables a feature: subscribes now when connected, otherwise at the next connect (auto-connecting).
   * @throws ClientError 'service-error' when the hub refuses the subscription; NoConnectionError; connect errors
   *   (unless the retry loop runs: it subscribes at its next connect and reports its own failures).
   */
  async enableFeature(feature: Feature): Promise<void> {
    if (!this.subscriptions.enable(feature)) return;
    if (this.state === 'connected' && this.connection) return this.subscribeNow(this.connection, feature);
    // A failed connect leaves the feature enabled (unlike the Python SDK): the next successful connect subscribes it,
    // so a handler set while the hub is down starts working once the hub is back.
    this.requireConnection();
    try {
      if (this.connecting) await this.connecting;
      else if (this.state !== 'connected') await this.connect();
    } catch (err) {
      if (this.retrying) return; // the retry loop subscribes it at its next connect (and reports its failures)
      throw err;
    }
    if (!this.subscriptions.has(feature))
      throw new ClientError(`Subscription for ${feature} refused by the hub`, { code: 'service-error' });
  }

  /**
   * Subscribes on the open connection. When it goes away before the SUBACK: a user disconnect / shutdown cancels
   * the call (OperationCancelled, as in the Python SDK); an unexpected drop with retry on leaves the feature enabled,
   * and the reconnect subscribes it.
   */
  private async subscribeNow(connection: MqttConnection, feature: Feature): Promise<void> {
    const hardDisconnects = this.hardDisconnects;
    try {
      await this.subscriptions.subscribe(connection, feature);
    } catch (err) {
      if (!(err instanceof ConnectionDroppedError)) throw err;
      if (this.hardDisconnects !== hardDisconnects)
        throw new OperationCancelled('Cancelled by disconnect', { cause: err });
      if (!this.options.connectionRetry) throw err;
    }
  }

  /** Disables a feature: UNSUBSCRIBE when connected (the next connects no longer subscribe it). */
  async disableFeature(feature: Feature): Promise<void> {
    if (!this.subscriptions.disable(feature)) return;
    if (this.state === 'connected' && this.connection) await this.subscriptions.unsubscribe(this.connection, feature);
  }

  // ---------------------------------------------------------------- SAS renewal

  private armRenewal(retryAt?: number): void {
    if (!this.credentials.usesSasToken) return;
    this.renewal.set(retryAt ?? this.credentials.renewAt(), () => {
      this.onRenewalAlarm().catch((err: Error) => this.events.background(err));
    });
  }

  private async onRenewalAlarm(): Promise<void> {
    if (!this.credentials.renewable) {
      this.events.newSastokenRequired();
      return;
    }
    try {
      await this.credentials.refresh(true);
    } catch (err) {
      this.events.background(new ClientError('SAS token renewal failed', { cause: err }));
      if (this.state === 'connected') this.armRenewal(this.clock.now() + this.options.connectionRetryInterval * 1000);
      return;
    }
    // Connected: re-authenticate now. Otherwise the next (re)connect uses the new token.
    if (this.state === 'connected') await this.reauthorize();
  }

  /**
   * Re-authenticates with the current token: DISCONNECT after the in-flight publishes are acknowledged, then
   * CONNECT with the new password. Publishes made meanwhile wait in the queue; none is lost.
   */
  private reauthorize(): Promise<void> {
    return this.runTransition(() => this.reconnectWithNewCredentials());
  }

  /** Runs a connection transition (re-authorize, disconnect) exclusively; connect() waits for it. */
  private async runTransition(work: () => Promise<void>): Promise<void> {
    while (this.transition) await this.transition.catch(() => undefined);
    const running = work();
    this.transition = running;
    try {
      await running;
    } finally {
      if (this.transition === running) this.transition = undefined;
    }
  }

  private async reconnectWithNewCredentials(): Promise<void> {
    if (this.connecting) await this.connecting.catch(() => undefined);
    const old = this.connection;
    this.setState('reauthorizing');
    if (old) {
      this.connection = undefined;
      await old.close(true, this.options.operationTimeout * 1000);
    }
    try {
      await this.startConnect(false, true);
    } catch (err) {
      if (!this.options.connectionRetry || retryCapSeconds(err, this.options) === undefined) throw err;
    }
  }
}

// The module client (the seed's aio IoTHubModuleClient in TypeScript): factories, connection lifecycle with retry,
// SAS renewal, subscriptions, telemetry, twin, methods, handlers. Wire details live in transport/*, auth in auth/*.
import crypto from 'node:crypto';
import {
  ClientError,
  ConnectionDroppedError,
  CredentialError,
  NoConnectionError,
  OperationCancelled,
  OperationTimeout,
  ValueError,
} from './errors';
import { errorFromStatus, isTransient, mapTransportError } from './errorMapping';
import {
  NonRenewableSasToken,
  RenewableSasToken,
  validateModuleSasToken,
  type SasTokenSource,
} from './auth/sastoken';
import { invokeMethodOverHttp } from './transport/http';
import { MqttConnection, type MqttConnectionSettings } from './transport/mqttConnection';
import { buildUsername, splitHostPort } from './transport/mqttUsername';
import { encodeMessageProperties } from './transport/properties';
import {
  DESIRED_PATCH_SUBSCRIPTION,
  METHODS_SUBSCRIPTION,
  TWIN_RESPONSE_SUBSCRIPTION,
  eventsTopic,
  inputsSubscription,
  methodResponseTopic,
  parseIncomingTopic,
  twinGetTopic,
  twinPatchReportedTopic,
  type TopicIdentity,
} from './transport/topics';
import type { ResolvedOptions } from './options';
import { userAgentString } from './userAgent';
import { Alarm, systemClock, type Clock } from './clock';
import { DeadlineQueue } from './deadlines';
import { backoffDelayMs } from './backoff';
import { Dispatcher, type HandlerKind } from './dispatcher';
import {
  initFromConnectionString,
  initFromEdgeEnvironment,
  initFromSastoken,
  initFromX509,
  type Auth,
  type ClientInit,
  type EdgeContext,
  type Identity,
} from './factories';
import { PublishOp, TwinOp } from './operations';
import { Message } from './models/Message';
import { MethodRequest } from './models/MethodRequest';
import { MethodResponse } from './models/MethodResponse';
import type { ClientOptions, ConnectionState, MethodParams, MethodResult, TwinDocument, X509 } from './types';

/** IoT Hub's limit on a device-to-cloud message (seed `TELEMETRY_MESSAGE_SIZE_LIMIT`), checked on wire bytes. */
export const TELEMETRY_MESSAGE_SIZE_LIMIT = 262144;

type Feature = 'input' | 'methods' | 'twin' | 'desired';

/**
 * An IoT Hub / IoT Edge module client over MQTT 3.1.1. Create it with one of the static factories.
 * Every operation auto-connects (unless `autoConnect` is false), has a time limit (`operationTimeout`) and fails
 * with the classes in errors.ts. Background failures go to {@link IoTHubModuleClient.onBackgroundException}.
 */
export class IoTHubModuleClient {
  private readonly identity: Identity;
  private readonly auth: Auth;
  private readonly options: ResolvedOptions;
  private readonly edge: EdgeContext | undefined;
  private readonly clock: Clock = systemClock;
  private readonly topicId: TopicIdentity;
  private readonly clientId: string;
  private readonly userAgent = userAgentString();
  private readonly fromSastoken: boolean;

  private state: ConnectionState = 'disconnected';
  private connection: MqttConnection | undefined;
  private connecting: Promise<void> | undefined;
  /** A re-authorization or disconnect in progress. */
  private transition: Promise<void> | undefined;
  private connectAbort: AbortController | undefined;
  private isShutDown = false;

  private reconnectTimer: unknown;
  private reconnectAttempt = 0;
  /** True from an unexpected drop until a connect succeeds, the user disconnects, or a failure is not transient. */
  private retrying = false;
  private readonly renewal: Alarm;

  private readonly enabled = new Set<Feature>();
  private readonly publishDeadlines: DeadlineQueue;
  private readonly twinDeadlines: DeadlineQueue;
  /** Publishes waiting for a connection (new ones and those to resend after a drop). */
  private queue: PublishOp[] = [];
  /** Set while disconnect / shutdown closes the connection: publishes failing then are cancelled, not resent. */
  private cancelReason: Error | undefined;
  private readonly twinLedger = new Map<string, TwinOp>();

  private readonly dispatch = new Dispatcher((level, msg) => this.log(level, msg));

  /** Method request ids: 'pending' until answered, 'responding' during the publish, 'answered' after. */
  private readonly methodRequests = new Map<string, 'pending' | 'responding' | 'answered'>();
  private lastDesiredVersion: number | null = null;
  private ensureRunning = false;

  /** Input messages (all inputs; filter on `message.inputName`). Setting enables the input subscription. */
  private _onConnectionStateChange: ((info: { state: ConnectionState; connected: boolean; reason?: Error }) => void) | null = null;
  private _onBackgroundException: ((error: Error) => void) | null = null;
  private _onNewSastokenRequired: (() => void) | null = null;

  private constructor(args: ClientInit) {
    this.identity = args.identity;
    this.auth = args.auth;
    this.options = args.options;
    this.edge = args.edge;
    this.fromSastoken = args.fromSastoken ?? false;
    this.topicId = { deviceId: this.identity.deviceId, moduleId: this.identity.moduleId };
    this.clientId = this.identity.moduleId ? `${this.identity.deviceId}/${this.identity.moduleId}` : this.identity.deviceId;
    this.renewal = new Alarm(this.clock);
    this.publishDeadlines = new DeadlineQueue(this.clock);
    this.twinDeadlines = new DeadlineQueue(this.clock);
  }

  // ---------------------------------------------------------------- factories (the work is in factories.ts)

  /**
   * Creates a client from a module connection string (`HostName=…;DeviceId=…;ModuleId=…;SharedAccessKey=…`,
   * optional `GatewayHostName=host[:port]`). The SAS token is renewable (re-signed with the key).
   * @throws TypeError for a non-string, an unknown or excluded option (`gatewayHostname`) or a wrongly typed option.
   * @throws ValueError for a malformed string, an x509 string, a bad key or a bad option value.
   */
  static createFromConnectionString(connectionString: string, options?: ClientOptions): IoTHubModuleClient {
    return new IoTHubModuleClient(initFromConnectionString(connectionString, options));
  }

  /**
   * Creates a client from a module SAS token string; it cannot be renewed: `onNewSastokenRequired` is called
   * `120 s` before expiry, then call {@link updateSastoken}.
   * @throws TypeError for an unknown or excluded option (`sastokenTtl`).
   * @throws ValueError for a malformed, device or expired token, or a bad option value.
   */
  static createFromSastoken(sastoken: string, options?: ClientOptions): IoTHubModuleClient {
    return new IoTHubModuleClient(initFromSastoken(sastoken, options));
  }

  /**
   * Creates a client authenticating with an X.509 client certificate.
   * @throws TypeError for an unknown or excluded option (`sastokenTtl`) or bad argument types.
   * @throws ValueError when the certificate or key cannot be loaded, or for a bad option value.
   */
  static createFromX509Certificate(
    args: { x509: X509; hostname: string; deviceId: string; moduleId: string },
    options?: ClientOptions,
  ): IoTHubModuleClient {
    return new IoTHubModuleClient(initFromX509(args, options));
  }

  /**
   * Creates a client inside an IoT Edge module container (`IOTEDGE_*` variables: workload API for the trust bundle
   * and signing) or in debug mode (`EdgeHubConnectionString` + `EdgeModuleCACertificateFile`). Async, unlike the
   * seed, because the workload API is asynchronous. Only such clients can {@link invokeMethod}.
   * @throws TypeError for an unknown or excluded option (`serverVerificationCert`, `gatewayHostname`).
   * @throws ClientError when the environment is incomplete or the workload API fails; ValueError for bad values.
   */
  static async createFromEdgeEnvironment(
    options?: ClientOptions & { env?: Record<string, string | undefined> },
  ): Promise<IoTHubModuleClient> {
    return new IoTHubModuleClient(await initFromEdgeEnvironment(options));
  }

  // ---------------------------------------------------------------- public state

  /** True while an MQTT connection is up. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /** The connection state (ours: finer than `connected`). */
  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Called on every change of {@link connectionState}. */
  get onConnectionStateChange(): ((info: { state: ConnectionState; connected: boolean; reason?: Error }) => void) | null {
    return this._onConnectionStateChange;
  }
  set onConnectionStateChange(fn: ((info: { state: ConnectionState; connected: boolean; reason?: Error }) => void) | null) {
    this._onConnectionStateChange = fn;
  }

  /** Receives background failures (dropped connection, failed reconnect or renewal, bad incoming data). */
  get onBackgroundException(): ((error: Error) => void) | null {
    return this._onBackgroundException;
  }
  set onBackgroundException(fn: ((error: Error) => void) | null) {
    this._onBackgroundException = fn;
  }

  /** Called ~120 s before a user-supplied (non-renewable) SAS token expires; answer with {@link updateSastoken}. */
  get onNewSastokenRequired(): (() => void) | null {
    return this._onNewSastokenRequired;
  }
  set onNewSastokenRequired(fn: (() => void) | null) {
    this._onNewSastokenRequired = fn;
  }

  /**
   * Input message handler (all inputs). Setting a function enables the input subscription (auto-connecting);
   * null disables it. @throws ClientError 'receive-mode-conflict' after receiveMessageOnInput was used.
   */
  get onMessageReceived(): ((message: Message) => void | Promise<void>) | null {
    return this.dispatch.handler('message');
  }
  set onMessageReceived(fn: ((message: Message) => void | Promise<void>) | null) {
    this.setHandler('message', 'input', fn);
  }

  /** Direct method handler; answer with {@link sendMethodResponse}. Same rules as {@link onMessageReceived}. */
  get onMethodRequestReceived(): ((request: MethodRequest) => void | Promise<void>) | null {
    return this.dispatch.handler('method');
  }
  set onMethodRequestReceived(fn: ((request: MethodRequest) => void | Promise<void>) | null) {
    this.setHandler('method', 'methods', fn);
  }

  /**
   * Desired property patch handler. `info.full` is true when ensureDesiredProperties delivers the whole desired
   * document after a (re)connect. Same rules as {@link onMessageReceived}.
   */
  get onTwinDesiredPropertiesPatchReceived(): ((patch: Record<string, unknown>, info: { full: boolean }) => void | Promise<void>) | null {
    return this.dispatch.handler('desired');
  }
  set onTwinDesiredPropertiesPatchReceived(fn: ((patch: Record<string, unknown>, info: { full: boolean }) => void | Promise<void>) | null) {
    this.setHandler('desired', 'desired', fn);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Connects (no-op when connected) and restores every enabled subscription.
   * @throws ConnectionFailedError, CredentialError, ClientError, OperationTimeout, OperationCancelled;
   *   ClientError 'shut-down' after shutdown.
   */
  async connect(): Promise<void> {
    this.checkAlive();
    // A re-authorization or disconnect in progress finishes first (it owns the connection until then).
    while (this.transition) await this.transition.catch(() => undefined);
    this.checkAlive();
    if (this.state === 'connected') return;
    if (this.connecting) return this.connecting;
    if (this.reconnectTimer !== undefined) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    return this.startConnect(false);
  }

  /**
   * Disconnects; pending operations fail with OperationCancelled. The hub keeps the session (subscriptions).
   * @throws ClientError 'shut-down' after shutdown.
   */
  async disconnect(): Promise<void> {
    this.checkAlive();
    await this.hardDisconnect(new OperationCancelled('Cancelled by disconnect'));
  }

  /** Disconnects for good and releases every resource; afterwards every call fails with ClientError 'shut-down'. */
  async shutdown(): Promise<void> {
    if (this.isShutDown) return;
    this.isShutDown = true;
    await this.hardDisconnect(new OperationCancelled('Cancelled by shutdown'));
    const cancelled = new OperationCancelled('Cancelled by shutdown');
    this.dispatch.close(cancelled);
    if (this.edge?.workload) await this.edge.workload.close().catch(() => undefined);
  }

  private checkAlive(): void {
    if (this.isShutDown) throw new ClientError('Client has already been shut down', { code: 'shut-down' });
  }

  private hardDisconnect(reason: Error): Promise<void> {
    // Abort a connect now (also one inside a re-authorization), so the disconnect does not wait for it.
    this.connectAbort?.abort();
    return this.runTransition(() => this.doHardDisconnect(reason));
  }

  private async doHardDisconnect(reason: Error): Promise<void> {
    if (this.reconnectTimer !== undefined) this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.reconnectAttempt = 0;
    this.retrying = false;
    this.renewal.cancel();
    this.connectAbort?.abort();
    const connecting = this.connecting;
    this.failAll(reason);
    if (connecting) await connecting.catch(() => undefined);
    const connection = this.connection;
    this.connection = undefined;
    if (connection) {
      this.setState('disconnecting');
      this.cancelReason = reason;
      try {
        await connection.close(true, 0);
      } finally {
        this.cancelReason = undefined;
      }
    }
    this.dispatch.purgeMethods();
    this.setState('disconnected');
    if (!this.isShutDown && (this.queue.length > 0 || this.twinLedger.size > 0)) {
      // Operations started while disconnecting: they get a connection of their own (or fail without autoConnect).
      try {
        this.requireConnection();
      } catch (err) {
        this.failAll(err as Error);
      }
    }
  }

  /** Fails every pending operation (queued, in flight, twin ledger). */
  private failAll(reason: Error): void {
    const queued = this.queue;
    this.queue = [];
    for (const op of queued) op.finish(reason);
    for (const op of [...this.twinLedger.values()]) op.finish(reason);
    this.twinLedger.clear();
    this.publishDeadlines.clear();
    this.twinDeadlines.clear();
  }

  private setState(state: ConnectionState, reason?: Error): void {
    if (this.state === state) return;
    this.state = state;
    const fn = this._onConnectionStateChange;
    if (!fn) return;
    const info: { state: ConnectionState; connected: boolean; reason?: Error } = { state, connected: state === 'connected' };
    if (reason) info.reason = reason;
    try {
      fn(info);
    } catch (err) {
      this.log('error', `onConnectionStateChange threw: ${String(err)}`);
    }
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', msg: string): void {
    try {
      this.options.logger?.[level]?.(msg);
    } catch {
      // a failing logger must not break the client
    }
  }

  private background(error: Error): void {
    this.log('warn', `background: ${error.name}: ${error.message}`);
    const fn = this._onBackgroundException;
    if (!fn) return;
    try {
      fn(error);
    } catch (err) {
      this.log('error', `onBackgroundException threw: ${String(err)}`);
    }
  }

  /** The settings of the next CONNECT, built from the current options and token each time. */
  private connectionSettings(): MqttConnectionSettings {
    const dial = this.identity.gatewayHostname ?? this.identity.hostname;
    const { host, port } = splitHostPort(dial, this.options.websockets ? 443 : 8883);
    const s: MqttConnectionSettings = {
      host,
      port,
      websockets: this.options.websockets,
      clientId: this.clientId,
      username: buildUsername(this.identity.hostname, this.clientId, this.userAgent, this.options.productInfo),
      keepAlive: this.options.keepAlive,
      cipher: this.options.cipher,
      connectTimeoutMs: this.options.operationTimeout * 1000,
    };
    if (this.options.serverVerificationCert) s.ca = this.options.serverVerificationCert;
    if (this.options.proxyOptions) s.proxy = this.options.proxyOptions;
    if (this.auth.kind === 'sas') s.password = this.auth.token.value;
    else {
      s.cert = this.auth.cert;
      s.key = this.auth.key;
      if (this.auth.passphrase !== undefined) s.passphrase = this.auth.passphrase;
    }
    return s;
  }

  /** When the current token should be renewed (ms since epoch); never earlier than half its lifetime. */
  private renewAt(): number {
    if (this.auth.kind !== 'sas') return Infinity;
    const token = this.auth.token;
    const margin = this.options.sastokenRenewalMargin * 1000;
    const expiry = token.expiry * 1000;
    if (token instanceof RenewableSasToken) return expiry - Math.min(margin, (token.ttl * 1000) / 2);
    return expiry - margin;
  }

  private async freshToken(force = false): Promise<void> {
    if (this.auth.kind !== 'sas' || !(this.auth.token instanceof RenewableSasToken)) return;
    if (force || !this.auth.token.value || this.clock.now() >= this.renewAt()) await this.auth.token.refresh();
  }

  /** Opens a connection, re-signing a renewable token once if the hub refuses it. */
  private async openConnection(signal: AbortSignal): Promise<MqttConnection> {
    await this.freshToken();
    try {
      return await MqttConnection.open(this.connectionSettings(), signal);
    } catch (err) {
      if (err instanceof CredentialError && this.auth.kind === 'sas' && this.auth.token.renewable && !signal.aborted) {
        await this.freshToken(true);
        return MqttConnection.open(this.connectionSettings(), signal);
      }
      throw err;
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
        await this.restoreSubscriptions(connection);
        if (abort.signal.aborted || !connection.isOpen) throw new ConnectionDroppedError('Connection lost while subscribing');
      } catch (err) {
        const error = mapTransportError(err, true);
        if (connection) {
          if (this.connection === connection) this.connection = undefined;
          await connection.close(false);
        }
        throw error;
      }
      this.reconnectAttempt = 0;
      this.retrying = false;
      this.setState('connected');
      this.armRenewal();
      this.flush();
      this.resendTwinRequests(connection);
      this.ensureDesired();
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
    if (background) this.background(err);
    // A connect that fails while the retry loop runs (also one the user or an operation started) keeps the loop going.
    if ((background || this.retrying) && this.options.connectionRetry && isTransient(err)) {
      this.retrying = true;
      this.setState('disconnected', err);
      this.scheduleReconnect();
      return;
    }
    this.retrying = false;
    this.setState('disconnected', err);
    const queued = this.queue;
    this.queue = [];
    for (const op of queued) op.finish(err);
    for (const op of [...this.twinLedger.values()]) if (!op.sentOn) op.finish(err);
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== undefined || this.isShutDown) return;
    const delay = backoffDelayMs(this.reconnectAttempt, this.options.connectionRetryInterval);
    this.reconnectAttempt += 1;
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state !== 'disconnected' || this.connecting) return;
      this.startConnect(true).catch(() => undefined);
    }, delay, true); // the reconnect loop keeps a stand-alone module process alive while the hub is away
  }

  private attach(connection: MqttConnection): void {
    this.connection = connection;
    connection.on('message', (topic, payload) => this.onIncoming(topic, payload));
    connection.on('close', (error) => this.onConnectionClosed(connection, error));
  }

  private onConnectionClosed(connection: MqttConnection, error: Error | undefined): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    if (error === undefined) return; // a close we asked for
    if (this.state !== 'connected') return; // the connect / reauth in progress handles it
    const dropped = error instanceof ConnectionDroppedError ? error : new ConnectionDroppedError('Connection lost', { cause: error });
    this.renewal.cancel();
    this.dispatch.purgeMethods();
    this.setState('disconnected', dropped);
    this.background(dropped);
    if (this.options.connectionRetry) {
      this.retrying = true;
      this.scheduleReconnect();
    } else {
      this.failAll(new OperationCancelled('Connection lost', { cause: dropped }));
    }
  }

  private featureTopics(features: Iterable<Feature>): string[] {
    const topics: string[] = [];
    for (const f of features) {
      if (f === 'input') topics.push(inputsSubscription(this.topicId));
      else if (f === 'methods') topics.push(METHODS_SUBSCRIPTION);
      else if (f === 'twin') topics.push(TWIN_RESPONSE_SUBSCRIPTION);
      else topics.push(DESIRED_PATCH_SUBSCRIPTION);
    }
    return topics;
  }

  /** Re-subscribes every enabled feature (the hub may have lost the session, e.g. after an edgeHub restart). */
  private async restoreSubscriptions(connection: MqttConnection): Promise<void> {
    const features = new Set(this.enabled);
    if (features.has('desired') && this.options.ensureDesiredProperties) {
      // ensureDesiredProperties GETs the twin right after: its response subscription must exist first.
      features.add('twin');
      this.enabled.add('twin');
    }
    if (features.size === 0) return;
    const list = [...features];
    const granted = await this.withTimeout(connection.subscribe(this.featureTopics(list)), 'SUBSCRIBE');
    const refused = list.filter((_, i) => granted[i] === 128);
    if (refused.length > 0) {
      for (const f of refused) this.enabled.delete(f);
      this.background(new ClientError(`Subscription refused by the hub: ${refused.join(', ')}`, { code: 'service-error' }));
    }
  }

  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    const ms = this.options.operationTimeout * 1000;
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new OperationTimeout(`${what} not acknowledged within ${ms} ms`)), ms);
      promise.then(
        (v) => {
          this.clock.clearTimeout(timer);
          resolve(v);
        },
        (e: Error) => {
          this.clock.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /** Makes sure a connection exists (or is coming) for an operation; throws when it cannot. */
  private requireConnection(): void {
    // Connected, connecting, re-authorizing or closing: whoever runs that transition flushes the queue afterwards.
    if (this.state !== 'disconnected' || this.connecting || this.reconnectTimer !== undefined) return;
    if (!this.options.autoConnect) throw new NoConnectionError('Client is not connected and autoConnect is off');
    this.startConnect(false).catch(() => undefined);
  }

  // ---------------------------------------------------------------- SAS renewal

  private armRenewal(): void {
    if (this.auth.kind !== 'sas') return;
    this.renewal.set(this.renewAt(), () => {
      this.onRenewalAlarm().catch((err: Error) => this.background(err));
    });
  }

  private async onRenewalAlarm(): Promise<void> {
    if (this.auth.kind !== 'sas') return;
    if (!(this.auth.token instanceof RenewableSasToken)) {
      const fn = this._onNewSastokenRequired;
      if (fn) {
        try {
          fn();
        } catch (err) {
          this.log('error', `onNewSastokenRequired threw: ${String(err)}`);
        }
      }
      return;
    }
    try {
      await this.auth.token.refresh();
    } catch (err) {
      this.background(new ClientError('SAS token renewal failed', { cause: err }));
      if (this.state === 'connected') {
        this.renewal.set(this.clock.now() + this.options.connectionRetryInterval * 1000, () => {
          this.onRenewalAlarm().catch((e: Error) => this.background(e));
        });
      }
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
    return this.runTransition(() => this.doReauthorize());
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

  private async doReauthorize(): Promise<void> {
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
      if (!this.options.connectionRetry || !isTransient(err)) throw err;
    }
  }

  /**
   * Replaces the SAS token of a client created with {@link createFromSastoken} and re-authenticates (connecting when
   * disconnected, as the seed does).
   * @throws ClientError when the client was not created from a SAS token, or 'shut-down'.
   * @throws ValueError for a malformed or expired token, or one for another identity.
   */
  async updateSastoken(sastoken: string): Promise<void> {
    this.checkAlive();
    if (!this.fromSastoken || this.auth.kind !== 'sas') {
      throw new ClientError('updateSastoken is only possible for clients created with createFromSastoken', { code: 'not-supported' });
    }
    const info = validateModuleSasToken(sastoken, this.clock.now());
    if (info.hostname !== this.identity.hostname || info.deviceId !== this.identity.deviceId || (info.moduleId && info.moduleId !== this.identity.moduleId)) {
      throw new ValueError('Provided SasToken does not match the existing identity');
    }
    (this.auth as { kind: 'sas'; token: SasTokenSource }).token = new NonRenewableSasToken(sastoken, this.clock.now());
    if (this.state === 'connected') {
      await this.reauthorize();
      return;
    }
    if (this.reconnectTimer !== undefined) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    await (this.connecting ? this.connecting.catch(() => undefined).then(() => (this.state === 'connected' ? this.reauthorize() : this.connect())) : this.connect());
  }

  // ---------------------------------------------------------------- features and handlers

  private setHandler(kind: HandlerKind, feature: Feature, fn: unknown): void {
    this.checkAlive();
    this.dispatch.setHandler(kind, fn);
    if (fn !== null && kind === 'desired' && !this.enabled.has('desired')) this.lastDesiredVersion = -1;
    if (fn !== null) this.enableFeature(feature).catch((err: Error) => this.background(err));
    else this.disableFeature(feature).catch((err: Error) => this.background(err));
  }

  /** Enables a feature: subscribes now when connected, otherwise at the next connect (auto-connecting). */
  private async enableFeature(feature: Feature): Promise<void> {
    if (this.enabled.has(feature)) return;
    this.enabled.add(feature);
    if (this.state === 'connected' && this.connection) {
      const topics = this.featureTopics([feature]);
      const granted = await this.withTimeout(this.connection.subscribe(topics), 'SUBSCRIBE');
      if (granted[0] === 128) {
        this.enabled.delete(feature);
        throw new ClientError(`Subscription to ${topics[0]} refused by the hub`, { code: 'service-error' });
      }
      return;
    }
    // A failed connect leaves the feature enabled (unlike the seed): the next successful connect subscribes it, so
    // a handler set while the hub is down starts working once the hub is back.
    this.requireConnection();
    try {
      if (this.connecting) await this.connecting;
      else if (this.state !== 'connected') await this.connect();
    } catch (err) {
      if (this.retrying) return; // the retry loop subscribes it at its next connect (and reports its failures)
      throw err;
    }
    if (!this.enabled.has(feature)) throw new ClientError(`Subscription for ${feature} refused by the hub`, { code: 'service-error' });
  }

  private async disableFeature(feature: Feature): Promise<void> {
    if (!this.enabled.has(feature)) return;
    this.enabled.delete(feature);
    if (feature === 'desired') this.lastDesiredVersion = null;
    if (this.state === 'connected' && this.connection) {
      await this.withTimeout(this.connection.unsubscribe(this.featureTopics([feature])), 'UNSUBSCRIBE');
    }
  }

  // ---------------------------------------------------------------- incoming

  private onIncoming(topic: string, payload: Buffer): void {
    try {
      const parsed = parseIncomingTopic(topic, this.topicId);
      switch (parsed.kind) {
        case 'input': {
          const message = new Message(payload);
          const p = parsed.properties;
          message.inputName = parsed.inputName;
          message.customProperties = p.customProperties;
          if (p.messageId !== undefined) message.messageId = p.messageId;
          if (p.correlationId !== undefined) message.correlationId = p.correlationId;
          if (p.userId !== undefined) message.userId = p.userId;
          if (p.contentType !== undefined) message.contentType = p.contentType;
          if (p.contentEncoding !== undefined) message.contentEncoding = p.contentEncoding;
          if (p.expiryTimeUtc !== undefined) message.expiryTimeUtc = p.expiryTimeUtc;
          if (p.ack !== undefined) message.ack = p.ack;
          this.dispatch.message(message);
          return;
        }
        case 'method': {
          const text = payload.toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text || 'null');
          } catch (err) {
            this.background(new ClientError(`Method request ${parsed.methodName} has an invalid JSON payload`, { code: 'protocol-error', cause: err }));
            return;
          }
          this.rememberMethodRequest(parsed.requestId);
          this.dispatch.method(new MethodRequest(parsed.requestId, parsed.methodName, body));
          return;
        }
        case 'twin-response': {
          const op = this.twinLedger.get(parsed.requestId);
          if (!op) return this.log('debug', `twin response for unknown $rid ${parsed.requestId} dropped`);
          if (parsed.status >= 300) {
            op.finish(errorFromStatus(parsed.status, hubErrorCode(payload)));
          } else op.finish(undefined, parsed.status, payload);
          return;
        }
        case 'desired-patch': {
          let patch: unknown;
          try {
            patch = JSON.parse(payload.toString('utf8') || 'null');
          } catch (err) {
            this.background(new ClientError('Desired properties patch is not valid JSON', { code: 'protocol-error', cause: err }));
            return;
          }
          if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
            this.background(new ClientError('Desired properties patch is not a JSON object', { code: 'protocol-error' }));
            return;
          }
          const version = (patch as Record<string, unknown>).$version;
          if (typeof version === 'number' && this.lastDesiredVersion !== null) this.lastDesiredVersion = version;
          this.dispatch.desired(patch as Record<string, unknown>, false);
          return;
        }
        default:
          this.log('debug', `dropped a publish on unknown topic ${topic}`);
      }
    } catch (err) {
      this.background(new ClientError('Failed to handle an incoming publish', { cause: err }));
    }
  }

  // ---------------------------------------------------------------- publishing

  private toMessage(message: Message | string | Buffer | number): Message {
    if (message instanceof Message) return message;
    if (typeof message === 'string' || typeof message === 'number' || Buffer.isBuffer(message)) return new Message(message);
    throw new TypeError('message must be a Message, string, Buffer or number');
  }

  /** Queues / sends one QoS 1 publish and resolves on PUBACK (resending after a reconnect when the ack was lost). */
  private publish(topic: string, payload: Buffer | string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const op = new PublishOp(topic, payload, this.clock.now() + this.options.operationTimeout * 1000, resolve, reject);
      this.publishDeadlines.add(op);
      if (this.state === 'connected' && this.connection && this.queue.length === 0) {
        this.send(op, this.connection);
        return;
      }
      this.queue.push(op);
      try {
        this.requireConnection();
      } catch (err) {
        this.queue.pop();
        op.finish(err as Error);
      }
    });
  }

  private send(op: PublishOp, connection: MqttConnection): void {
    connection.publishCb(op.topic, op.payload, (raw) => {
      if (!raw) return op.finish();
      if (op.settled) return;
      const err = connection.publishError(raw);
      if (this.cancelReason) return op.finish(this.cancelReason);
      if (err instanceof ConnectionDroppedError && !this.isShutDown) {
        // Not acknowledged before the connection went away: send again on the next connection (at least once).
        this.queue.push(op);
        // Normally the reconnect flushes the queue; only a failure from an older connection needs a flush now.
        if (this.state === 'connected' && this.connection && this.connection !== connection) queueMicrotask(() => this.flush());
        return;
      }
      op.finish(err);
    });
  }

  private flush(): void {
    const connection = this.connection;
    if (!connection || this.state !== 'connected') return;
    const queued = this.queue;
    this.queue = [];
    for (const op of queued) if (!op.settled) this.send(op, connection);
  }

  private checkSize(topic: string, payload: Buffer | string): void {
    // Fast path: UTF-8 needs at most 3 bytes per UTF-16 code unit, so short strings cannot exceed the limit.
    if ((topic.length + (typeof payload === 'string' ? payload.length : payload.length / 3)) * 3 <= TELEMETRY_MESSAGE_SIZE_LIMIT) return;
    const size = Buffer.byteLength(topic, 'utf8') + (typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length);
    if (size > TELEMETRY_MESSAGE_SIZE_LIMIT) {
      throw new ValueError(`Message too large: ${size} bytes on the wire (topic with properties + payload) exceeds 256 KB`, {
        code: 'message-too-large',
      });
    }
  }

  /**
   * Sends a telemetry message (QoS 1); resolves on PUBACK.
   * @throws (rejects) ValueError 'message-too-large' when topic + property bag + payload exceed 262 144 bytes
   *   (nothing is sent); TypeError for a bad message; NoConnectionError, OperationTimeout, OperationCancelled,
   *   connection errors; ClientError 'shut-down'.
   */
  sendMessage(message: Message | string | Buffer | number): Promise<void> {
    return this.sendEvent(message, undefined);
  }

  /**
   * Sends a message to an output of this module (`$.on`); resolves on PUBACK. Errors as {@link sendMessage}.
   * @throws (rejects) TypeError when outputName is not a non-empty string.
   */
  sendMessageToOutput(message: Message | string | Buffer | number, outputName: string): Promise<void> {
    if (typeof outputName !== 'string' || outputName === '') return Promise.reject(new TypeError('outputName must be a non-empty string'));
    return this.sendEvent(message, outputName);
  }

  /** The shared send path; not `async` on purpose (one promise per message on the hot path). */
  private sendEvent(message: Message | string | Buffer | number, outputName: string | undefined): Promise<void> {
    try {
      this.checkAlive();
      const m = this.toMessage(message);
      if (outputName !== undefined) m.outputName = outputName;
      const topic = eventsTopic(this.topicId, encodeMessageProperties(m));
      const payload = m.wirePayload();
      if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) throw new TypeError('message data must be a string, Buffer or number');
      this.checkSize(topic, payload);
      return this.publish(topic, payload);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  // ---------------------------------------------------------------- twin

  private async twinRequest(topicFor: (rid: string) => string, payload: string): Promise<{ status: number; body: Buffer }> {
    await this.enableFeature('twin');
    return new Promise((resolve, reject) => {
      const rid = crypto.randomUUID();
      const op = new TwinOp(
        rid,
        topicFor(rid),
        payload,
        this.clock.now() + this.options.operationTimeout * 1000,
        (err, status, body) => (err ? reject(err) : resolve({ status: status!, body: body! })),
        (settled) => this.twinLedger.delete(settled.rid),
      );
      this.twinLedger.set(rid, op);
      this.twinDeadlines.add(op);
      this.sendTwin(op);
    });
  }

  private sendTwin(op: TwinOp): void {
    const connection = this.connection;
    if (!connection || this.state !== 'connected') {
      try {
        this.requireConnection();
      } catch (err) {
        op.finish(err as Error);
      }
      return; // sent by resendTwinRequests after the connect
    }
    op.sentOn = connection;
    connection.publish(op.topic, op.payload).catch((err: Error) => {
      if (!(err instanceof ConnectionDroppedError)) op.finish(err);
      // dropped: resendTwinRequests sends it again after the reconnect
    });
  }

  /** After a reconnect: send twin requests not yet sent, and re-send once those whose answer was lost. */
  private resendTwinRequests(connection: MqttConnection): void {
    for (const op of [...this.twinLedger.values()]) {
      if (op.settled || op.sentOn === connection) continue;
      if (op.sentOn !== undefined) {
        if (op.resent) continue; // its single re-send was already spent: it now only waits for its timeout
        op.resent = true;
      }
      this.sendTwin(op);
    }
  }

  /**
   * Gets the module twin `{ desired, reported }`.
   * @throws ClientError (with statusCode: 'throttled', 'bad-request', …) when the hub answers ≥ 300;
   *   OperationTimeout; OperationCancelled; connection errors; ClientError 'shut-down'.
   */
  async getTwin(): Promise<TwinDocument> {
    this.checkAlive();
    const { body } = await this.twinRequest(twinGetTopic, ' ');
    try {
      return JSON.parse(body.toString('utf8')) as TwinDocument;
    } catch (err) {
      throw new ClientError('Twin document is not valid JSON', { code: 'protocol-error', cause: err });
    }
  }

  /**
   * Patches the reported properties (`null` deletes a key).
   * @throws TypeError when patch is not an object; otherwise as {@link getTwin}.
   */
  async patchTwinReportedProperties(patch: Record<string, unknown>): Promise<void> {
    this.checkAlive();
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new TypeError('patch must be an object');
    await this.twinRequest(twinPatchReportedTopic, JSON.stringify(patch));
  }

  /** A13: after a (re)connect with a desired listener, GET the twin and deliver the whole desired doc if it moved. */
  private ensureDesired(): void {
    if (!this.options.ensureDesiredProperties || !this.enabled.has('desired') || this.lastDesiredVersion === null) return;
    if (this.ensureRunning) return;
    this.ensureRunning = true;
    const connection = this.connection;
    this.twinRequest(twinGetTopic, ' ')
      .then(({ body }) => {
        const twin = JSON.parse(body.toString('utf8')) as TwinDocument;
        const version = twin.desired?.$version;
        if (this.lastDesiredVersion === null) return;
        if (version !== this.lastDesiredVersion) {
          this.lastDesiredVersion = version;
          this.dispatch.desired(twin.desired, true);
        }
      })
      .catch((err: Error) => {
        if (this.connection === connection && this.state === 'connected') this.background(err);
      })
      .finally(() => {
        this.ensureRunning = false;
      });
  }

  // ---------------------------------------------------------------- methods

  /**
   * Answers a method request, once per request id; resolves on PUBACK.
   * @throws ClientError 'unknown-request-id' / 'already-responded'; TypeError for a bad response; otherwise as
   *   {@link sendMessage}.
   */
  async sendMethodResponse(response: MethodResponse): Promise<void> {
    this.checkAlive();
    if (!(response instanceof MethodResponse) && (typeof response !== 'object' || response === null)) {
      throw new TypeError('response must be a MethodResponse');
    }
    const { requestId, status } = response;
    if (typeof requestId !== 'string') throw new TypeError('requestId must be a string');
    if (typeof status !== 'number' || !Number.isInteger(status)) throw new TypeError('status must be an integer');
    const known = this.methodRequests.get(requestId);
    if (known === undefined) throw new ClientError(`No pending method request with id ${requestId}`, { code: 'unknown-request-id' });
    if (known !== 'pending') throw new ClientError(`Method request ${requestId} was already answered`, { code: 'already-responded' });
    const payload = JSON.stringify(response.payload === undefined ? null : response.payload);
    const topic = methodResponseTopic(requestId, status);
    this.checkSize(topic, payload);
    this.methodRequests.set(requestId, 'responding');
    try {
      await this.publish(topic, payload);
    } catch (err) {
      if (this.methodRequests.get(requestId) === 'responding') this.methodRequests.set(requestId, 'pending');
      throw err;
    }
    this.methodRequests.set(requestId, 'answered');
  }

  /**
   * Records a received request id. Ids survive reconnects (a slow handler may answer after one); the oldest are
   * forgotten beyond 10,000 (Map keeps insertion order).
   */
  private rememberMethodRequest(requestId: string): void {
    this.methodRequests.set(requestId, 'pending');
    if (this.methodRequests.size <= 10000) return;
    for (const id of this.methodRequests.keys()) {
      this.methodRequests.delete(id);
      if (this.methodRequests.size <= 9000) break;
    }
  }

  /**
   * Invokes a direct method on another device / module through edgeHub (HTTP). Only for clients created with
   * {@link createFromEdgeEnvironment}.
   * @throws ClientError 'not-supported' for other clients; ClientError with statusCode / errorCode from the hub
   *   ('device-not-online' 404103, 'gateway-timeout' 504101, …); OperationTimeout; connection errors.
   */
  async invokeMethod(methodParams: MethodParams, deviceId: string, moduleId?: string): Promise<MethodResult> {
    this.checkAlive();
    if (!this.edge) {
      throw new ClientError('invokeMethod is only available for clients created with createFromEdgeEnvironment', { code: 'not-supported' });
    }
    if (typeof methodParams !== 'object' || methodParams === null || typeof methodParams.methodName !== 'string') {
      throw new TypeError('methodParams.methodName must be a string');
    }
    if (typeof deviceId !== 'string' || deviceId === '') throw new TypeError('deviceId must be a non-empty string');
    if (moduleId !== undefined && typeof moduleId !== 'string') throw new TypeError('moduleId must be a string');
    await this.freshToken();
    const waitSeconds = (methodParams.connectTimeoutInSeconds ?? 0) + (methodParams.responseTimeoutInSeconds ?? 30) + 5;
    const args: Parameters<typeof invokeMethodOverHttp>[0] = {
      gatewayHostname: this.identity.gatewayHostname ?? this.identity.hostname,
      deviceId,
      ownDeviceId: this.identity.deviceId,
      ownModuleId: this.identity.moduleId,
      userAgent: this.userAgent,
      productInfo: this.options.productInfo,
      sastoken: this.auth.kind === 'sas' ? this.auth.token.value : '',
      methodParams: { ...methodParams },
      timeoutMs: Math.max(this.options.operationTimeout, waitSeconds) * 1000,
    };
    if (moduleId) args.moduleId = moduleId;
    if (this.options.serverVerificationCert) args.ca = this.options.serverVerificationCert;
    if (this.options.cipher) args.cipher = this.options.cipher;
    if (this.options.proxyOptions) args.proxy = this.options.proxyOptions;
    return (await invokeMethodOverHttp(args)) as MethodResult;
  }

  // ---------------------------------------------------------------- deprecated receive APIs

  private enterApiMode(): void {
    this.checkAlive();
    this.dispatch.enterApiMode();
  }

  /**
   * Waits for the next message on `inputName`.
   * @deprecated use {@link onMessageReceived}.
   * @throws ClientError 'receive-mode-conflict' when a handler is set; connection errors of the subscription.
   */
  async receiveMessageOnInput(inputName: string): Promise<Message> {
    this.enterApiMode();
    if (typeof inputName !== 'string') throw new TypeError('inputName must be a string');
    const inbox = this.dispatch.inputInbox(inputName);
    await this.enableFeature('input');
    return inbox.next();
  }

  /**
   * Waits for the next method request (of `methodName`, or any method without a dedicated receiver).
   * @deprecated use {@link onMethodRequestReceived}.
   */
  async receiveMethodRequest(methodName?: string): Promise<MethodRequest> {
    this.enterApiMode();
    if (methodName !== undefined && typeof methodName !== 'string') throw new TypeError('methodName must be a string');
    const inbox = this.dispatch.methodInbox(methodName ?? '');
    await this.enableFeature('methods');
    return inbox.next();
  }

  /**
   * Waits for the next desired properties patch.
   * @deprecated use {@link onTwinDesiredPropertiesPatchReceived}.
   */
  async receiveTwinDesiredPropertiesPatch(): Promise<Record<string, unknown>> {
    this.enterApiMode();
    if (!this.enabled.has('desired')) this.lastDesiredVersion = -1;
    await this.enableFeature('desired');
    return this.dispatch.desiredPatches().next();
  }
}

/** The numeric IoT Hub error code in a twin error body (`{"errorCode": 429001, …}`), if any. */
function hubErrorCode(body: Buffer): number | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errorCode?: unknown };
    return typeof parsed?.errorCode === 'number' ? parsed.errorCode : undefined;
  } catch {
    return undefined;
  }
}


// One module client per config node: connects when the first flow node registers, shuts down when the last
// leaves, pushes connection status to every user, fans the client's single set of handlers out to listeners
// that are owned by (and removed with) their flow node, and holds the direct-method request table.
import type { IoTHubModuleClient, Message, MethodRequest, TwinDocument } from '../../src/index';
import { MethodResponse } from '../../src/index';
import { describeError, errorText, NodeError } from './errors';
import { catalogKey, translate } from './i18n';
import { addPendingRequest, dropRequestsOf } from './methodRegistry';
import type { NodeStatus, RedApi } from './red';
import { STATUS, statusWithText } from './status';

/** A flow node registered with the config node. */
export interface HostUser {
  id: string;
  status(status: NodeStatus): void;
  warn(msg: unknown): void;
}

/** A method-request node's registration. */
export interface MethodListener {
  /** '' = every method. */
  methodName: string;
  autoAnswerMs: number;
  autoAnswerStatus: number;
  emit(request: MethodRequest, requestId: string): void;
  warnExpired(requestId: string, err?: unknown): void;
}

export interface HostEvents {
  state: (status: NodeStatus, connected: boolean) => void;
  message: (message: Message) => void;
  method: MethodListener;
  desired: (patch: Record<string, unknown>, info: { full: boolean }) => void;
}

type Feature = 'message' | 'method' | 'desired';

export interface HostOptions {
  id: string;
  RED: RedApi;
  /** Creates the client (may throw or reject for a bad configuration). */
  create: () => Promise<IoTHubModuleClient>;
  autoConnect: boolean;
  retry: boolean;
  retryIntervalMs: number;
  log: { warn(msg: string): void; error(msg: string): void };
  /**
   * Hands a token from the flow to a *SAS token* connection, which makes its next client from it; false for other
   * kinds (then updateSastoken is the library's `not-supported`).
   */
  supplySastoken?: (sastoken: string) => boolean;
}

/** The config node's engine (kept apart from the Node-RED wiring in nodes/iothub-module-client.ts). */
export class ModuleClientHost {
  private readonly users = new Map<string, HostUser>();
  private readonly listeners = new Map<string, Array<{ event: keyof HostEvents; fn: unknown }>>();
  private current: IoTHubModuleClient | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> = Promise.resolve();
  /** Features whose library handler is set on the current client (each handler is set once per client). */
  private readonly handlersSet = new Set<Feature>();
  private retryTimer: NodeJS.Timeout | undefined;
  private manualDisconnect = false;
  private closing = false;
  private lastStatus: NodeStatus = STATUS.idle;
  private isConnected = false;
  private setupError: unknown;
  private twinOnce: Promise<TwinDocument> | null = null;
  private desiredVersion: number | undefined;
  /** The flow has supplied a SAS token: later needs are shown as a status only, not warned about each time. */
  private flowRenewsSastoken = false;

  constructor(private readonly options: HostOptions) {}

  /** The current connection status (pushed to users on every change). */
  get status(): NodeStatus {
    return this.lastStatus;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** How many flow nodes are registered and how many listeners they hold (a redeploy must not grow them). */
  get registrations(): { users: number; listeners: number } {
    let listeners = 0;
    for (const list of this.listeners.values()) listeners += list.length;
    return { users: this.users.size, listeners };
  }

  /** Registers a flow node; the first one starts the client (connecting unless auto-connect is off). */
  acquire(user: HostUser): void {
    this.users.set(user.id, user);
    user.status(this.lastStatus);
    if (!this.current && !this.starting) this.start();
  }

  /** Adds a listener owned by `userId`; it is removed by {@link release}. */
  on<E extends keyof HostEvents>(userId: string, event: E, fn: HostEvents[E]): void {
    const list = this.listeners.get(userId) ?? [];
    list.push({ event, fn });
    this.listeners.set(userId, list);
    if (event !== 'state') this.enable(event as Feature);
  }

  /** Removes a flow node and every listener it added; the last one out shuts the client down. */
  release(userId: string): Promise<void> {
    this.users.delete(userId);
    this.listeners.delete(userId);
    if (this.users.size === 0) return this.stop();
    return Promise.resolve();
  }

  /**
   * The live client for an operation.
   * @throws NodeError `not-configured` (bad configuration) or `closing`.
   */
  client(): IoTHubModuleClient {
    if (this.current) return this.current;
    if (this.setupError !== undefined) throw this.setupError;
    throw new NodeError(this.closing ? 'closing' : 'not-configured');
  }

  /**
   * Fails fast when operations cannot succeed: the configuration is unusable or the node is closing.
   * @throws the configuration error, or NodeError `closing`.
   */
  check(): void {
    if (this.setupError !== undefined) throw this.setupError;
    if (this.closing) throw new NodeError('closing');
  }

  /** Waits until the client exists (its creation may be asynchronous, e.g. the IoT Edge environment). */
  async ready(): Promise<IoTHubModuleClient> {
    if (!this.current && this.starting) await this.starting;
    return this.client();
  }

  /** `msg.action = "connect"`: connect now (and allow automatic reconnects again). */
  async connect(): Promise<void> {
    this.manualDisconnect = false;
    if (!this.current && !this.starting) this.start();
    const client = await this.ready();
    await client.connect();
  }

  /** `msg.action = "disconnect"`: disconnect and stay disconnected until the next connect. */
  async disconnect(): Promise<void> {
    this.manualDisconnect = true;
    this.clearRetry();
    if (!this.current && this.starting) await this.starting.catch(() => undefined);
    if (this.current) await this.current.disconnect();
  }

  /**
   * `msg.action = "update-sastoken"`: replaces the SAS token of a *SAS token* connection and re-authenticates with it
   * (connecting when disconnected), as the SDK's updateSastoken.
   * @throws (rejects with) ClientError `not-supported` for other connection kinds, NodeError `invalid-sastoken` for
   *   a malformed or expired token or one for another identity, connection errors.
   */
  async updateSastoken(sastoken: string): Promise<void> {
    this.manualDisconnect = false;
    this.clearRetry();
    try {
      if (!this.current && this.starting) await this.starting;
      // No client yet (no token configured, or the last one could not be used): make one from this token.
      if (!this.current && !this.closing && this.options.supplySastoken?.(sastoken)) {
        this.start();
        const client = await this.ready();
        await client.connect();
        this.flowRenewsSastoken = true;
        return;
      }
      const client = await this.ready();
      await client.updateSastoken(sastoken);
      // Kept for the next client this node makes (after a redeploy of its users, for example).
      this.options.supplySastoken?.(sastoken);
      this.flowRenewsSastoken = true;
    } catch (err) {
      // The library's text may quote parts of the token: the flow gets catalog text only (the cause stays for logs).
      if ((err as { code?: unknown }).code === 'invalid-value') throw new NodeError('invalid-sastoken', undefined, err);
      throw err;
    }
  }

  /** The full twin read once per client lifetime at the first connect (shared by every twin node). */
  initialTwin(): Promise<TwinDocument> {
    let once = this.twinOnce;
    if (!once) {
      once = this.client().getTwin().then((doc: TwinDocument) => {
        this.desiredVersion = doc.desired.$version;
        return doc;
      });
      const current = once;
      current.catch(() => {
        if (this.twinOnce === current) this.twinOnce = null;
      });
      this.twinOnce = once;
    }
    return once;
  }

  /** Shuts the client down within `limitMs` (Node-RED allows 15 s for close). */
  async close(limitMs: number): Promise<void> {
    this.closing = true;
    this.users.clear();
    this.listeners.clear();
    await this.stop(limitMs);
  }

  private start(): void {
    this.setupError = undefined;
    this.push(STATUS.connecting, false);
    const starting = (async () => {
      await this.stopping;
      let client: IoTHubModuleClient;
      try {
        client = await this.options.create();
      } catch (err) {
        this.setupError = err;
        if ((err as { code?: unknown }).code === 'sastoken-needed') {
          // A SAS token connection waiting for its first token from the flow (msg.action "update-sastoken").
          this.push(STATUS.sastokenNeeded, false);
          return;
        }
        this.options.log.error(describeError(this.options.RED, err).message);
        // A catalog key (not text) so that the editor shows it in the editor's language.
        const key = catalogKey('iothub-module-client', `errors.${(err as { code?: unknown }).code}`);
        const known = translate(this.options.RED, key) !== key;
        this.push(known ? statusWithText(STATUS.notConfigured, key) : STATUS.notConfigured, false);
        return;
      }
      if (this.closing || this.users.size === 0) {
        await client.shutdown().catch(() => undefined);
        return;
      }
      this.current = client;
      this.install(client);
      if (this.options.autoConnect && !this.manualDisconnect) this.connectWithRetry(client);
      else this.push(STATUS.disconnected, false);
    })();
    this.starting = starting;
    void starting.finally(() => {
      if (this.starting === starting) this.starting = null;
    });
  }

  private install(client: IoTHubModuleClient): void {
    this.handlersSet.clear();
    this.twinOnce = null;
    this.desiredVersion = undefined;
    client.onConnectionStateChange = (info) => this.onState(info);
    client.onNewSastokenRequired = () => {
      // A SAS token given by the user cannot be renewed here: say so before the hub drops the connection, and show
      // it as a status that a Status node can answer with msg.action "update-sastoken".
      if (!this.flowRenewsSastoken) this.options.log.warn(translate(this.options.RED, catalogKey('iothub-module-client', 'warnings.sastoken-expiring')));
      if (this.current === client) this.push(STATUS.sastokenNeeded, this.isConnected);
    };
    client.onBackgroundException = (err) => {
      this.options.log.warn(describeError(this.options.RED, err).message);
    };
    for (const list of this.listeners.values()) {
      for (const { event } of list) if (event !== 'state') this.setHandler(client, event as Feature);
    }
  }

  private enable(feature: Feature): void {
    if (this.current) this.setHandler(this.current, feature);
  }

  private setHandler(client: IoTHubModuleClient, feature: Feature): void {
    if (this.handlersSet.has(feature)) return;
    this.handlersSet.add(feature);
    try {
      if (feature === 'message') client.onMessageReceived = (m) => this.emit('message', m);
      else if (feature === 'method') client.onMethodRequestReceived = (r) => this.onMethod(r);
      else client.onTwinDesiredPropertiesPatchReceived = (patch, info) => this.onDesired(patch, info);
    } catch (err) {
      this.options.log.error(describeError(this.options.RED, err).message);
    }
  }

  private connectWithRetry(client: IoTHubModuleClient): void {
    client.connect().catch((err: unknown) => {
      if (this.current !== client || this.closing || this.manualDisconnect) return;
      this.options.log.warn(describeError(this.options.RED, err).message);
      const reason = errorText(this.options.RED, err);
      const retryable = (err as { retryable?: unknown }).retryable === true;
      // A refusal that retrying cannot fix (credentials, TLS) is an error, not a passing disconnection.
      const [base, key] = retryable
        ? [STATUS.disconnected, catalogKey('iothub-module-client', 'status.disconnected-reason')]
        : [STATUS.error, catalogKey('iothub-module-client', 'status.error-reason')];
      this.push(statusWithText(base, translate(this.options.RED, key, { reason })), false);
      if (this.options.retry && retryable) {
        this.clearRetry();
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (this.current === client && !client.connected && !this.closing && !this.manualDisconnect) this.connectWithRetry(client);
        }, this.options.retryIntervalMs);
      }
    });
  }

  private onState(info: { state: string; connected: boolean; reason?: Error }): void {
    switch (info.state) {
      case 'connected':
        this.push(STATUS.connected, true);
        break;
      case 'connecting':
      case 'reauthorizing':
        this.push(STATUS.connecting, false);
        break;
      case 'disconnected': {
        if (info.reason) {
          const reason = errorText(this.options.RED, info.reason);
          this.push(statusWithText(STATUS.disconnected, translate(this.options.RED, catalogKey('iothub-module-client', 'status.disconnected-reason'), { reason })), false);
        } else {
          this.push(STATUS.disconnected, false);
        }
        break;
      }
      default:
        break;
    }
  }

  private onMethod(request: MethodRequest): void {
    const matching: MethodListener[] = [];
    for (const list of this.listeners.values()) {
      for (const { event, fn } of list) {
        const listener = fn as MethodListener;
        if (event === 'method' && (listener.methodName === '' || listener.methodName === request.name)) matching.push(listener);
      }
    }
    const client = this.current;
    if (!client) return;
    const respond = (rid: string, status: number, payload: unknown): Promise<void> => client.sendMethodResponse(new MethodResponse(rid, status, payload));
    if (matching.length === 0) {
      // Nobody handles this method: answer at once, as a module without that method would (501 Not Implemented).
      respond(request.requestId, 501, { message: `method '${request.name}' not implemented` }).catch((err: unknown) => {
        this.options.log.warn(describeError(this.options.RED, err).message);
      });
      return;
    }
    const first = matching.reduce((a, b) => (b.autoAnswerMs < a.autoAnswerMs ? b : a));
    const requestId = addPendingRequest({
      ownerId: this.options.id,
      hubRequestId: request.requestId,
      methodName: request.name,
      respond,
      autoAnswer: {
        afterMs: first.autoAnswerMs,
        status: first.autoAnswerStatus,
        payload: { message: 'no answer from the flow in time' },
        onExpire: (err) => first.warnExpired(requestId, err),
      },
    });
    for (const listener of matching) {
      try {
        listener.emit(request, requestId);
      } catch (err) {
        this.options.log.error(describeError(this.options.RED, err).message);
      }
    }
  }

  private onDesired(patch: Record<string, unknown>, info: { full: boolean }): void {
    const version = typeof patch.$version === 'number' ? patch.$version : undefined;
    const deliver = (): void => {
      // The library re-delivers the whole desired document after a (re)connect; the twin nodes already got it
      // in the twin read at connect when the version has not moved.
      if (info.full && version !== undefined && version === this.desiredVersion) return;
      // Desired versions only grow: a patch at or below the last version seen is a re-delivery (QoS 1 after a
      // reconnect) and would reach the flow twice.
      if (!info.full && version !== undefined && this.desiredVersion !== undefined && version <= this.desiredVersion) return;
      if (version !== undefined) this.desiredVersion = version;
      this.emit('desired', patch, info);
    };
    if (!info.full) return deliver();
    // Order the full document after the connect-time twin read (starting it if the twin nodes have not yet), so
    // that the version comparison is deterministic.
    const twin = this.twinOnce ?? (this.current ? this.initialTwin() : null);
    if (twin) twin.then(deliver, deliver);
    else deliver();
  }

  private emit(event: 'message', message: Message): void;
  private emit(event: 'desired', patch: Record<string, unknown>, info: { full: boolean }): void;
  private emit(event: 'message' | 'desired', ...args: unknown[]): void {
    for (const list of this.listeners.values()) {
      for (const entry of list) {
        if (entry.event !== event) continue;
        try {
          (entry.fn as (...a: unknown[]) => void)(...args);
        } catch (err) {
          this.options.log.error(describeError(this.options.RED, err).message);
        }
      }
    }
  }

  private push(status: NodeStatus, connected: boolean): void {
    this.lastStatus = status;
    this.isConnected = connected;
    for (const user of this.users.values()) {
      try {
        user.status(status);
      } catch {
        // a user being torn down
      }
    }
    for (const list of this.listeners.values()) {
      for (const entry of list) {
        if (entry.event !== 'state') continue;
        try {
          (entry.fn as HostEvents['state'])(status, connected);
        } catch (err) {
          this.options.log.error(describeError(this.options.RED, err).message);
        }
      }
    }
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private stop(limitMs = 10_000): Promise<void> {
    this.clearRetry();
    dropRequestsOf(this.options.id);
    // Detach the client synchronously: a flow node registering meanwhile (partial redeploy) gets a fresh one.
    const client = this.current;
    this.current = null;
    this.isConnected = false;
    const previous = this.stopping;
    this.stopping = (async () => {
      await previous;
      if (!client) return;
      client.onConnectionStateChange = null;
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.options.log.warn(translate(this.options.RED, catalogKey('iothub-module-client', 'warnings.shutdown-timeout')));
          resolve();
        }, limitMs);
      });
      await Promise.race([client.shutdown().catch(() => undefined), limit]);
      clearTimeout(timer);
    })();
    const starting = this.starting;
    return starting ? Promise.all([this.stopping, starting.catch(() => undefined)]).then(() => undefined) : this.stopping;
  }
}

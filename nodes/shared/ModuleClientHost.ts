// One module client per config node: connects when the first flow node registers, shuts down when the last
// leaves, pushes connection status to every user and fans the client's single set of handlers out to the listeners
// of its flow nodes. Method routing is in methodRouting.ts, the twin nodes' desired-properties feed in DesiredFeed.ts,
// the listener registry in HostListeners.ts.
import type { ConnectionStateInfo, IoTHubModuleClient, Message, MethodRequest, TwinDocument } from '../../src/index';
import { DesiredFeed } from './DesiredFeed';
import { describeError, errorText, NodeError } from './errors';
import { HostListeners, type HostEvent, type HostEvents } from './HostListeners';
import { identityClaims, type IdentityClaims } from './IdentityClaims';
import { catalogKey, translate } from './i18n';
import { routeMethodRequest } from './methodRouting';
import { dropRequestsOf, newConnectionTag } from './methodRegistry';
import type { NodeStatus, RedApi } from './red';
import { STATUS, statusWithText } from './status';

export type { HostEvents, MethodListener } from './HostListeners';

/** A flow node registered with the config node. */
export interface HostUser {
  id: string;
  status(status: NodeStatus): void;
}

/** The client features a flow node can listen to (each sets one handler on the client). */
type Feature = Exclude<HostEvent, 'state'>;

export interface HostOptions {
  id: string;
  /** How people know the config node (its name, else its id): shown to another node that wants its identity. */
  label: string;
  RED: RedApi;
  /** Creates the client (may throw or reject for a bad configuration). */
  create: () => Promise<IoTHubModuleClient>;
  autoConnect: boolean;
  log: { warn(msg: string): void; error(msg: string): void };
  /**
   * Hands a token from the flow to a *SAS token* connection, which makes its next client from it; false for other
   * kinds (then updateSastoken is the library's `not-supported`).
   */
  supplySastoken?: (sastoken: string) => boolean;
  /** The identities held in this Node-RED (default: the runtime's own; tests give their own). */
  identities?: IdentityClaims;
}

/** Where the config node is in its life. */
type HostState =
  /** No client: no flow node registered yet, or the last one left. */
  | { kind: 'idle' }
  /** Creating the client (the IoT Edge environment may take a while). */
  | { kind: 'starting'; ready: Promise<void> }
  /**
   * The client exists; `handlers`: the features whose handler is set on it (each once per client); `connection`:
   * the tag of its current hub connection, qualifying the request ids of direct methods received on it.
   */
  | { kind: 'running'; client: IoTHubModuleClient; handlers: Set<Feature>; connection: string }
  /** The configuration cannot make a client; operations fail with `error` until a flow node registers again. */
  | { kind: 'unconfigured'; error: unknown }
  /** The config node closed (redeploy or stop); nothing starts again. */
  | { kind: 'closed' };

/** Node-RED allows 15 s for close; a client that has not shut down by then is left behind. */
const DEFAULT_CLOSE_LIMIT_MS = 10_000;

/**
 * The status after a connection or connect attempt failed: why, and when the library's reconnect loop tries next.
 * A failure that retrying alone cannot fix (refused credentials, untrusted certificate) is an error (red dot), not
 * a passing disconnection; it is retried all the same, less often, as the hub side may be fixed meanwhile.
 */
function disconnectedStatus(RED: RedApi, err: Error, nextRetryAt: number | undefined): NodeStatus {
  const reason = errorText(RED, err);
  const retryable = (err as { retryable?: unknown }).retryable === true;
  const base = retryable ? STATUS.disconnected : STATUS.error;
  const prefix = retryable ? 'disconnected' : 'error';
  // The first retry after a drop comes within milliseconds: not worth a time in the status.
  const time =
    nextRetryAt === undefined || nextRetryAt - Date.now() < 1000
      ? undefined
      : new Date(nextRetryAt).toTimeString().slice(0, 8);
  const key = catalogKey(
    'iothub-module-client',
    time === undefined ? `status.${prefix}-reason` : `status.${prefix}-retry`,
  );
  return statusWithText(base, translate(RED, key, { reason, time }));
}

/** The config node's engine (kept apart from the Node-RED wiring in nodes/iothub-module-client.ts). */
export class ModuleClientHost {
  private readonly users = new Map<string, HostUser>();
  private readonly listeners = new HostListeners();
  private readonly desired = new DesiredFeed();
  private state: HostState = { kind: 'idle' };
  /**
   * The flow asked to disconnect (`msg.action`) and has not asked to connect since. A wish of the flow, not a stage of
   * the lifecycle: it outlives clients (a partial redeploy does not reconnect what the flow disconnected).
   */
  private heldDisconnected = false;
  /** Shutdowns of earlier clients, in order; a new client waits for them (one connection per module identity). */
  private shutdowns: Promise<void> = Promise.resolve();
  private lastStatus: NodeStatus = STATUS.idle;
  /** Failure codes already logged since the last connect: a retried failure is logged once, not at every attempt. */
  private readonly warned = new Set<string>();
  /** The flow has supplied a SAS token: later needs are shown as a status only, not warned about each time. */
  private flowRenewsSastoken = false;
  private readonly identities: IdentityClaims;
  /** Set while another config node holds this node's identity: stops waiting for its release. */
  private stopWaitingForIdentity: (() => void) | undefined;

  constructor(private readonly options: HostOptions) {
    this.identities = options.identities ?? identityClaims;
  }

  /** The current connection status (pushed to users on every change). */
  get status(): NodeStatus {
    return this.lastStatus;
  }

  get connected(): boolean {
    return this.state.kind === 'running' && this.state.client.connected;
  }

  /** How many flow nodes are registered and how many listeners they hold (a redeploy must not grow them). */
  get registrations(): { users: number; listeners: number } {
    return { users: this.users.size, listeners: this.listeners.size };
  }

  /** Registers a flow node; the first one starts the client (connecting unless auto-connect is off). */
  acquire(user: HostUser): void {
    this.users.set(user.id, user);
    user.status(this.lastStatus);
    if (this.state.kind === 'idle' || this.state.kind === 'unconfigured') this.start();
  }

  /** Adds a listener owned by `userId`; it is removed by {@link release}. */
  on<E extends HostEvent>(userId: string, event: E, fn: HostEvents[E]): void {
    this.listeners.add(userId, event, fn);
    if (event !== 'state') this.setHandler(event);
  }

  /** Removes a flow node and every listener it added; the last one out shuts the client down. */
  release(userId: string): Promise<void> {
    this.users.delete(userId);
    this.listeners.removeOwner(userId);
    if (this.users.size === 0) return this.stop('idle');
    return Promise.resolve();
  }

  /**
   * The live client for an operation.
   * @throws the configuration error, or NodeError `closing` or `not-configured` (no client yet).
   */
  client(): IoTHubModuleClient {
    switch (this.state.kind) {
      case 'running':
        return this.state.client;
      case 'unconfigured':
        throw this.state.error;
      case 'closed':
        throw new NodeError('closing');
      default:
        throw new NodeError('not-configured');
    }
  }

  /**
   * Fails fast when operations cannot succeed: the configuration is unusable or the node is closing.
   * @throws the configuration error, or NodeError `closing`.
   */
  check(): void {
    if (this.state.kind === 'unconfigured') throw this.state.error;
    if (this.state.kind === 'closed') throw new NodeError('closing');
  }

  /** Waits until the client exists (its creation may be asynchronous, e.g. the IoT Edge environment). */
  async ready(): Promise<IoTHubModuleClient> {
    if (this.state.kind === 'starting') await this.state.ready;
    return this.client();
  }

  /** `msg.action = "connect"`: connect now (and allow automatic reconnects again). */
  async connect(): Promise<void> {
    this.heldDisconnected = false;
    if (this.state.kind === 'idle' || this.state.kind === 'unconfigured') this.start();
    const client = await this.ready();
    await client.connect();
  }

  /** `msg.action = "disconnect"`: disconnect and stay disconnected until the next connect. */
  async disconnect(): Promise<void> {
    this.heldDisconnected = true;
    if (this.state.kind === 'starting') await this.state.ready.catch(() => undefined);
    if (this.state.kind === 'running') await this.state.client.disconnect();
  }

  /**
   * `msg.action = "update-sastoken"`: replaces the SAS token of a *SAS token* connection and re-authenticates with it
   * (connecting when disconnected), as the SDK's updateSastoken.
   * @throws (rejects with) ClientError `not-supported` for other connection kinds, NodeError `invalid-sastoken` for
   *   a malformed or expired token or one for another identity, connection errors.
   */
  async updateSastoken(sastoken: string): Promise<void> {
    this.heldDisconnected = false;
    try {
      if (this.state.kind === 'starting') await this.state.ready.catch(() => undefined);
      // No client yet (no token configured, or the last one could not be used): make one from this token.
      const noClient = this.state.kind === 'idle' || this.state.kind === 'unconfigured';
      if (noClient && this.options.supplySastoken?.(sastoken)) {
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
    return this.desired.initialTwin(this.client());
  }

  /** Shuts the client down within `limitMs` (Node-RED allows 15 s for close). */
  async close(limitMs: number): Promise<void> {
    this.users.clear();
    this.listeners.clear();
    await this.stop('closed', limitMs);
  }

  private start(): void {
    this.push(STATUS.connecting);
    const ready = (async () => {
      await this.shutdowns;
      let client: IoTHubModuleClient;
      try {
        client = await this.options.create();
      } catch (err) {
        if (this.state.kind === 'starting') this.state = { kind: 'unconfigured', error: err };
        if ((err as { code?: unknown }).code === 'sastoken-needed') {
          // A SAS token connection waiting for its first token from the flow (msg.action "update-sastoken").
          this.push(STATUS.sastokenNeeded);
          return;
        }
        this.options.log.error(describeError(this.options.RED, err).message);
        // A catalog key (not text) so that the editor shows it in the editor's language.
        const key = catalogKey('iothub-module-client', `errors.${String((err as { code?: unknown }).code)}`);
        const known = translate(this.options.RED, key) !== key;
        this.push(known ? statusWithText(STATUS.notConfigured, key) : STATUS.notConfigured);
        return;
      }
      // Closed, or every flow node left while the client was being made.
      if (this.state.kind !== 'starting' || this.users.size === 0) {
        if (this.state.kind === 'starting') this.state = { kind: 'idle' };
        await client.shutdown().catch(() => undefined);
        return;
      }
      const holder = this.identities.claim(client.identity, this.options.id, this.options.label);
      if (holder !== undefined) {
        await client.shutdown().catch(() => undefined);
        this.waitForIdentity(holder);
        return;
      }
      this.state = { kind: 'running', client, handlers: new Set(), connection: newConnectionTag() };
      this.install(client);
      // The library retries a failed first connect itself (connectionRetryForever); its state changes say why and when.
      if (this.options.autoConnect && !this.heldDisconnected) client.connect().catch(() => undefined);
      else this.push(STATUS.disconnected);
    })();
    this.state = { kind: 'starting', ready };
  }

  /**
   * Another config node of this Node-RED holds the identity: operations fail with `identity-in-use` (naming it) and
   * the client is made again when that node lets the identity go.
   */
  private waitForIdentity(holder: string): void {
    if (this.state.kind !== 'starting') return;
    const err = new NodeError('identity-in-use', holder);
    this.state = { kind: 'unconfigured', error: err };
    this.options.log.error(describeError(this.options.RED, err).message);
    const text = translate(this.options.RED, catalogKey('iothub-module-client', 'status.identity-in-use'), {
      name: holder,
    });
    this.push(statusWithText(STATUS.notConfigured, text));
    this.stopWaitingForIdentity ??= this.identities.whenReleased(() => {
      if (this.state.kind !== 'unconfigured' || this.users.size === 0) return;
      this.stopWaitingForIdentity?.();
      this.stopWaitingForIdentity = undefined;
      this.start();
    });
  }

  private install(client: IoTHubModuleClient): void {
    this.desired.reset();
    client.onConnectionStateChange = (info) => this.onState(info);
    client.onNewSastokenRequired = () => {
      // A SAS token given by the user cannot be renewed here: say so before the hub drops the connection, and show
      // it as a status that a Status node can answer with msg.action "update-sastoken".
      if (!this.flowRenewsSastoken)
        this.options.log.warn(
          translate(this.options.RED, catalogKey('iothub-module-client', 'warnings.sastoken-expiring')),
        );
      if (this.state.kind === 'running' && this.state.client === client) this.push(STATUS.sastokenNeeded);
    };
    client.onBackgroundException = (err) => this.warnOnce(err);
    for (const feature of ['message', 'method', 'desired'] as const)
      if (this.listeners.has(feature)) this.setHandler(feature);
  }

  /** Sets the client's handler for `feature` once per client, fanning out to the listeners. */
  private setHandler(feature: Feature): void {
    if (this.state.kind !== 'running' || this.state.handlers.has(feature)) return;
    const { client, handlers } = this.state;
    handlers.add(feature);
    try {
      if (feature === 'message') client.onMessageReceived = (m) => this.onMessage(m);
      else if (feature === 'method') client.onMethodRequestReceived = (r) => this.onMethod(client, r);
      else client.onTwinDesiredPropertiesPatchReceived = (patch, info) => this.onDesired(patch, info);
    } catch (err) {
      this.options.log.error(describeError(this.options.RED, err).message);
    }
  }

  /** Logs a failure, once per failure code until the next connect (the reconnect loop may repeat it for hours). */
  private warnOnce(err: unknown): void {
    const code = String((err as { code?: unknown } | null)?.code);
    if (this.warned.has(code)) return;
    this.warned.add(code);
    this.options.log.warn(describeError(this.options.RED, err).message);
  }

  private onState(info: ConnectionStateInfo): void {
    switch (info.state) {
      case 'connected':
        // The hub numbers method requests afresh on each connection.
        if (this.state.kind === 'running') this.state.connection = newConnectionTag();
        this.warned.clear();
        this.push(STATUS.connected);
        break;
      case 'connecting':
      case 'reauthorizing':
        this.push(STATUS.connecting);
        break;
      case 'disconnected':
        if (info.reason) this.warnOnce(info.reason);
        this.push(
          info.reason ? disconnectedStatus(this.options.RED, info.reason, info.nextRetryAt) : STATUS.disconnected,
        );
        break;
      default:
        break;
    }
  }

  private onMessage(message: Message): void {
    for (const listener of this.listeners.of('message')) this.call(() => listener(message));
  }

  private onMethod(client: IoTHubModuleClient, request: MethodRequest): void {
    if (this.state.kind !== 'running' || this.state.client !== client) return;
    routeMethodRequest(
      request,
      this.listeners.of('method'),
      client,
      { id: this.options.id, connection: this.state.connection },
      {
        failed: (err) => this.options.log.warn(describeError(this.options.RED, err).message),
        listenerFailed: (err) => this.options.log.error(describeError(this.options.RED, err).message),
      },
    );
  }

  private onDesired(patch: Record<string, unknown>, info: { full: boolean }): void {
    const client = this.state.kind === 'running' ? this.state.client : null;
    this.desired.received(client, patch, info, () => {
      for (const listener of this.listeners.of('desired')) this.call(() => listener(patch, info));
    });
  }

  /** Runs a listener; what it throws is logged, never thrown into the client. */
  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.options.log.error(describeError(this.options.RED, err).message);
    }
  }

  private push(status: NodeStatus): void {
    this.lastStatus = status;
    for (const user of this.users.values()) {
      try {
        user.status(status);
      } catch {
        // a user being torn down
      }
    }
    const connected = this.connected;
    for (const listener of this.listeners.of('state')) this.call(() => listener(status, connected));
  }

  /**
   * Stops the client: `idle` when the last flow node left (a new one starts another client), `closed` when the config
   * node closes. Resolves when the client has shut down or `limitMs` passed.
   */
  private stop(next: 'idle' | 'closed', limitMs = DEFAULT_CLOSE_LIMIT_MS): Promise<void> {
    dropRequestsOf(this.options.id);
    this.stopWaitingForIdentity?.();
    this.stopWaitingForIdentity = undefined;
    const from = this.state;
    // Detach the client synchronously: a flow node registering meanwhile (partial redeploy) gets a fresh one. A client
    // still being made is shut down by its start, which sees no users (or the closed state).
    if (next === 'closed') this.state = { kind: 'closed' };
    else if (from.kind === 'running') this.state = { kind: 'idle' };
    const client = from.kind === 'running' ? from.client : undefined;
    const previous = this.shutdowns;
    this.shutdowns = (async () => {
      await previous;
      if (!client) return;
      client.onConnectionStateChange = null;
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.options.log.warn(
            translate(this.options.RED, catalogKey('iothub-module-client', 'warnings.shutdown-timeout')),
          );
          resolve();
        }, limitMs);
      });
      await Promise.race([client.shutdown().catch(() => undefined), limit]);
      clearTimeout(timer);
      // Only now may another config node connect with this identity.
      this.identities.release(this.options.id);
    })();
    const starting = from.kind === 'starting' ? from.ready : undefined;
    return starting
      ? Promise.all([this.shutdowns, starting.catch(() => undefined)]).then(() => undefined)
      : this.shutdowns;
  }
}

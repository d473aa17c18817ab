// The local hub: an aedes broker that behaves like IoT Hub / edgeHub for modules (auth, ACL, twins, methods,
// routes) behind one TLS port that also serves WSS and the HTTPS APIs. This class wires the parts together and
// implements LocalHubApi; each part lives in its own module.
import { Aedes, type Client } from 'aedes';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import {
  capSubscribeQos,
  connectedClientsOf,
  handlePacketsInOrder,
  limitPacketSize,
  sessionStoreOf,
} from './aedesInternals';
import { BrokerAccess, MAX_MQTT_PACKET_BYTES } from './BrokerAccess';
import { generateHubTls, writeCaFile, type HubTlsMaterial } from './certs';
import { ClientTable } from './ClientTable';
import { ClientSender } from './ClientSender';
import { InputDelivery, type QueuedInput } from './InputDelivery';
import { FaultState } from './FaultState';
import { FrontDoor, type ConnectionTable } from './FrontDoor';
import { createHttpApi } from './httpApi';
import { HubState, StateKeys, identityKey } from './HubState';
import { makeHubTempDir } from './hubTempDir';
import { HubTimers } from './HubTimers';
import { clientKey, type ClassifiedPublish, type HubIdentity } from './hubTopics';
import { MethodDispatcher } from './MethodDispatcher';
import { identityNotFound } from './hubErrors';
import { createHubReport, type HubReport } from './hubReport';
import { Observations } from './Observations';
import { Registry, newKey, type RegistryEntry } from './Registry';
import { parseRoutes } from './routes';
import { MessageRouter } from './MessageRouter';
import { injectedMessage, type InputMessage } from './telemetryMessages';
import { clearSessions } from './sessions';
import { TwinChannel } from './TwinChannel';
import { TwinStore, type TwinData } from './TwinStore';
import type {
  DeviceIdentity,
  EdgeEnvironment,
  HubEvents,
  IdentityAuth,
  LocalHubApi,
  LocalHubOptions,
  MethodInvocation,
  MethodResult,
  ModuleIdentity,
  Twin,
  TwinPatch,
} from './types';
import { startWorkloadServer, type WorkloadServer } from './workloadApi';
import { STANDARD_PORTS, localEdgeEnvironment, moduleWorkloadSocketPath, type LocalHubAddress } from './localIdentity';

/** The longest Unix socket path every platform takes (macOS: 104 bytes with the terminating NUL; Linux: 108). */
const MAX_UNIX_SOCKET_PATH_BYTES = 103;

export { HubError } from './hubErrors';

const DEFAULT_HOST = 'local-hub.azure-devices.net';

/**
 * A local IoT Hub + edgeHub for tests and development: MQTT over TLS and WSS, HTTPS service API, IoT Edge
 * workload API, fault injection and observation. Start it with {@link LocalHub.start}.
 */
export class LocalHub implements LocalHubApi {
  /** The host name a hub has when none is given. */
  static readonly defaultHostName = DEFAULT_HOST;
  readonly hostName: string;
  readonly faults: FaultState;
  readonly observed: Observations;
  readonly events = new EventEmitter<HubEvents>();

  private _port = 0;
  /** The TLS ports listened on: one, or 8883 and 443 (the standard ports). */
  private _tlsPorts: number[] = [];
  private _plainPort: number | undefined;
  private _caCert = '';
  private _caCertPath = '';
  private _workloadUri: string | undefined;
  private policyKey = newKey();
  private readonly report: HubReport;
  private readonly registry: Registry;
  private readonly twins = new TwinStore();
  private readonly timers = new HubTimers();
  private readonly connections: ConnectionTable = new WeakMap();
  private readonly clients: ClientTable;
  private readonly sender: ClientSender;
  private readonly access: BrokerAccess;
  private readonly twinChannel: TwinChannel;
  private readonly methods: MethodDispatcher;
  // Made by init(), once the broker exists.
  private broker!: Aedes;
  private inputs!: InputDelivery;
  private router!: MessageRouter;
  private frontDoor: FrontDoor | undefined;
  private workload: WorkloadServer | undefined;
  private tempDir: string | undefined;
  private state: HubState | undefined;
  private running = false;
  private closed = false;

  private constructor(private readonly options: LocalHubOptions) {
    this.hostName = options.hostName ?? DEFAULT_HOST;
    this.observed = new Observations(options.observationLimit);
    this.report = createHubReport(options.log, this.events, this.observed);
    this.registry = new Registry(() => this.address);
    this.clients = new ClientTable(this.report);
    this.faults = new FaultState(this.clients);
    this.sender = new ClientSender(this.report);
    const { registry, twins, clients, sender, faults, timers, report } = this;
    this.access = new BrokerAccess({
      hostName: this.hostName,
      registry,
      clients,
      connections: this.connections,
      faults,
      report,
      onPublish: (client, identity, publish, payload) => this.onPublish(client, identity, publish, payload),
    });
    // With a state directory, a twin response or desired patch goes out once the change it tells of is stored.
    const durableSender = {
      send: (...args: Parameters<ClientSender['send']>) => this.durable().then(() => sender.send(...args)),
      answer: (...args: Parameters<ClientSender['answer']>) => this.durable().then(() => sender.answer(...args)),
    };
    this.twinChannel = new TwinChannel({
      twins,
      clients,
      sender: options.stateDir !== undefined ? durableSender : sender,
      faults,
      timers,
      report,
    });
    this.methods = new MethodDispatcher({ registry, clients, sender, faults, timers, report });
  }

  /**
   * Starts a hub: makes (or loads) the TLS material, opens the TLS port (and the optional plain MQTT port), the
   * workload API, and loads the initial registry and routes.
   * @throws when a port cannot be listened on, the TLS material is invalid, or a route does not parse.
   */
  static async start(options: LocalHubOptions = {}): Promise<LocalHub> {
    const hub = new LocalHub(options);
    try {
      await hub.init();
    } catch (err) {
      await hub.close().catch(() => undefined);
      throw err;
    }
    return hub;
  }

  get port(): number {
    return this._port;
  }

  get mqttPort(): number {
    return this._tlsPorts[0] ?? this._port;
  }

  get standardPorts(): boolean {
    return this.options.standardPorts === true;
  }

  /** How clients reach this hub (connection strings, IoT Edge environments). */
  private get address(): LocalHubAddress {
    return {
      hostName: this.hostName,
      port: this._port,
      standardPorts: this.standardPorts,
      workloadUri: this._workloadUri,
    };
  }

  get plainMqttPort(): number | undefined {
    return this._plainPort;
  }

  get caCert(): string {
    return this._caCert;
  }

  get caCertPath(): string {
    return this._caCertPath;
  }

  get workloadUri(): string | undefined {
    return this._workloadUri;
  }

  get serviceConnectionString(): string {
    return `HostName=${this.hostName};SharedAccessKeyName=iothubowner;SharedAccessKey=${this.policyKey}`;
  }

  private get bindAddress(): string {
    return this.options.bindAddress ?? '127.0.0.1';
  }

  private get connectTimeoutMs(): number {
    const seconds = this.options.connectTimeoutSeconds;
    return (typeof seconds === 'number' && seconds > 0 ? seconds : 30) * 1000;
  }

  /** Resolves once every change made so far is in the state directory (at once without one). */
  private durable(): Promise<void> {
    return this.state ? this.state.settled() : Promise.resolve();
  }

  /**
   * The TLS material: given in the options, else kept in the state directory (made there the first time), else made
   * now. The CA file is the state directory's own, or a temp file.
   */
  private async tlsMaterial(): Promise<HubTlsMaterial> {
    const { state } = this;
    if (state && !this.options.tls) {
      let material = await state.loadTls();
      if (!material) {
        material = await generateHubTls();
        await state.saveTls(material);
      }
      this._caCertPath = state.caCertPath;
      return material;
    }
    const material = this.options.tls ?? (await generateHubTls());
    this._caCertPath = await writeCaFile(material.caCert);
    this.tempDir = path.dirname(this._caCertPath);
    return material;
  }

  /**
   * Where the hub's workload socket goes when the options do not say: in the state directory, so that each module's
   * `IOTEDGE_WORKLOADURI` stays the same across restarts as on IoT Edge (a module started with the printed
   * environment keeps renewing its SAS token through it); in the temp directory for a hub without state, or when the
   * state directory's path is too long for a Unix socket.
   */
  private async defaultWorkloadSocketPath(): Promise<string> {
    if (this.state) {
      const inState = path.join(path.resolve(this.state.dir), 'workload.sock');
      if (Buffer.byteLength(moduleWorkloadSocketPath(inState, '', '')) <= MAX_UNIX_SOCKET_PATH_BYTES) return inState;
    }
    this.tempDir ??= await makeHubTempDir();
    return path.join(this.tempDir, 'workload.sock');
  }

  /** Puts back the policy key, identities and twins of an earlier run, and keeps every later change. */
  private async restoreState(state: HubState): Promise<void> {
    const policy = await state.get<{ key: string }>(StateKeys.policy);
    if (policy) this.policyKey = policy.key;
    else state.put(StateKeys.policy, { key: this.policyKey });
    const entries = (await state.list<RegistryEntry>(StateKeys.identity)).map(([, e]) => e);
    this.registry.restore(entries, {
      saved: (e) => state.put(identityKey(StateKeys.identity, e.deviceId, e.moduleId), e),
      removed: (d, m) => state.del(identityKey(StateKeys.identity, d, m)),
    });
    const twins = (await state.list<TwinData>(StateKeys.twin)).map(([, t]) => t);
    this.twins.restore(twins, {
      saved: (t) => state.put(identityKey(StateKeys.twin, t.deviceId, t.moduleId), t),
      removed: (d, m) => state.del(identityKey(StateKeys.twin, d, m)),
    });
  }

  /** Puts back the messages held for module inputs in an earlier run, and keeps every message held from now on. */
  private async restoreHeldInputs(state: HubState): Promise<void> {
    type HeldRecord = { target: string; topic: string; payload: string; expiresAtMs: number };
    const records = await state.list<HeldRecord>(StateKeys.held);
    let seq = records.length > 0 ? Number(records[records.length - 1]![0].slice(StateKeys.held.length)) : 0;
    this.inputs.restore(
      records.map(([key, r]) => ({
        target: r.target,
        item: { topic: r.topic, payload: Buffer.from(r.payload, 'base64'), expiresAtMs: r.expiresAtMs, stateKey: key },
      })),
      {
        kept: (target: string, item: QueuedInput) => {
          // A zero-padded counter keeps the records in arrival order.
          item.stateKey = `${StateKeys.held}${String(++seq).padStart(16, '0')}`;
          const record: HeldRecord = {
            target,
            topic: item.topic,
            payload: item.payload.toString('base64'),
            expiresAtMs: item.expiresAtMs,
          };
          state.put(item.stateKey, record);
          return state.settled();
        },
        released: (item: QueuedInput) => {
          if (item.stateKey !== undefined) state.del(item.stateKey);
        },
      },
    );
  }

  private async init(): Promise<void> {
    const routes = this.options.routes ? parseRoutes(this.options.routes) : [];
    if (this.options.stateDir !== undefined) {
      this.state = await HubState.open(this.options.stateDir, (err) =>
        this.report.log(`state directory: ${err.message}`),
      );
      await this.restoreState(this.state);
    }
    const material = await this.tlsMaterial();
    this._caCert = material.caCert;

    const { access } = this;
    this.broker = await Aedes.createBroker({
      // IoT Hub client ids are `{deviceId}/{moduleId}`: up to 257 characters, not MQTT 3.1's 23.
      maxClientsIdLength: 512,
      connectTimeout: this.connectTimeoutMs,
      queueLimit: 1000,
      preConnect: (client, packet, cb) => access.preConnect(client, packet, cb),
      authenticate: (client, username, password, cb) => access.authenticate(client, username, password, cb),
      authorizePublish: (client, packet, cb) => access.authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => access.authorizeSubscribe(client, sub, cb),
      authorizeForward: (client, packet) => access.authorizeForward(client, packet),
      // Without a state directory aedes keeps its sessions in memory.
      ...(this.state ? { persistence: this.state.brokerPersistence() } : {}),
    });
    const storeTtlMs = (this.options.storeAndForwardTtlSeconds ?? 7200) * 1000;
    this.inputs = new InputDelivery(this.broker, this.sender, this.clients, this.report, storeTtlMs);
    if (this.state) await this.restoreHeldInputs(this.state);
    this.router = new MessageRouter(routes, this.inputs, this.report);
    this.broker.on('client', (client) => this.clients.registered(client));
    // Method calls waiting for a subscriber may go ahead once the CONNACK is on the wire.
    this.broker.on('connackSent', () => this.clients.changed());
    this.broker.on('clientReady', (client) => {
      const info = this.clients.ready(client);
      if (info) this.inputs.onClientReady(client, info.identity);
    });
    this.broker.on('clientDisconnect', (client) => this.clients.disconnected(client));
    this.broker.on('subscribe', (subs, client) => {
      this.clients.changed();
      const info = this.clients.infoOf(client);
      if (info) this.inputs.onSubscribed(client, info.identity, subs);
    });
    this.broker.on('unsubscribe', (topics, client) => {
      this.clients.changed();
      if (client) this.events.emit('unsubscribe', { clientId: client.id, topics: [...topics] });
    });
    (this.broker as unknown as EventEmitter).on('error', (err: Error) =>
      this.report.log(`broker error: ${err.message}`),
    );

    const httpApi = createHttpApi(this, { name: 'iothubowner', key: this.policyKey });
    this.frontDoor = new FrontDoor({
      serverCert: material.serverCert,
      serverKey: material.serverKey,
      bindAddress: this.bindAddress,
      plainMqtt: this.options.plainMqttPort !== undefined,
      http: this.state ? durableResponses(httpApi, () => this.durable()) : httpApi,
      mqtt: (conn: Duplex, req?: http.IncomingMessage) => {
        const client = this.broker.handle(conn, req);
        handlePacketsInOrder(client, (packet) => this.access.toBroker(client, packet));
        capSubscribeQos(client);
        limitPacketSize(client, MAX_MQTT_PACKET_BYTES);
      },
      connections: this.connections,
      silenceTimeoutMs: this.connectTimeoutMs,
    });
    await this.listen(
      this.options.standardPorts ? [...STANDARD_PORTS] : [this.options.port ?? 0],
      this.options.plainMqttPort,
    );

    if (this.options.workloadSocketPath !== false) {
      const socketPath = this.options.workloadSocketPath ?? (await this.defaultWorkloadSocketPath());
      this.workload = await startWorkloadServer(this, socketPath);
      this._workloadUri = `unix://${socketPath}`;
    }

    for (const d of this.options.devices ?? []) {
      this.addDevice(d.deviceId, d.auth);
      for (const m of d.modules ?? []) this.addModule(d.deviceId, m.moduleId, m.auth);
    }
    // Started (and the CLI prints the connection strings) only once the keys and generation ids made for these
    // identities are stored: a crash right after the start must not change them.
    await this.durable();
    this.report.log(
      `local hub ${this.hostName} listening on ${this.bindAddress}:${this._tlsPorts.join(' and ')} ` +
        `(MQTT/TLS, WSS, HTTPS)`,
    );
  }

  private async listen(tlsPorts: number[], plainPort: number | undefined): Promise<void> {
    const ports = await this.frontDoor!.listen(tlsPorts, plainPort);
    this._tlsPorts = ports.tlsPorts;
    // The HTTPS port: the last one (443 on the standard ports; the one port otherwise).
    this._port = ports.tlsPorts[ports.tlsPorts.length - 1]!;
    if (ports.plainPort !== undefined) this._plainPort = ports.plainPort;
    this.running = true;
  }

  /** Hands an allowed publish to the part that handles it. */
  private onPublish(
    client: Client,
    identity: HubIdentity,
    publish: ClassifiedPublish,
    payload: Buffer,
  ): Promise<void> | undefined {
    switch (publish.kind) {
      case 'events': {
        const routed = this.router.onTelemetry(identity, publish.bag, payload);
        // With a state directory the PUBACK waits until the routed copies are stored: an acknowledged message
        // survives a crash of the hub.
        return this.state ? routed.then(() => this.durable()) : undefined;
      }
      case 'twinGet':
        this.twinChannel.onRequest(client, identity, 'get', publish.rid, payload);
        break;
      case 'twinPatchReported':
        this.twinChannel.onRequest(client, identity, 'reported', publish.rid, payload);
        break;
      case 'methodResponse':
        this.methods.onResponse(client.id, publish.status, publish.rid, payload);
        break;
    }
    return undefined;
  }

  // ---- twins ---------------------------------------------------------------------------------------------------

  /**
   * The full twin (service view).
   * @throws HubError 404 when the identity is unknown.
   */
  getTwin(deviceId: string, moduleId?: string): Twin {
    return this.twins.get(deviceId, moduleId);
  }

  /**
   * Service-side desired update (merge, `null` deletes); pushes the patch with `$version` to the module when it is
   * connected and subscribed to desired patches.
   * @throws HubError 400 (invalid patch) or 404 (unknown identity).
   */
  updateDesired(deviceId: string, moduleId: string | undefined, patch: Record<string, unknown>): Twin {
    return this.updateTwin(deviceId, moduleId, { properties: { desired: patch } });
  }

  /**
   * Service-side twin update of `tags` and `properties.desired` (merge).
   * @throws HubError 400 (invalid patch), 404 (unknown identity), 412 (etag mismatch).
   */
  updateTwin(deviceId: string, moduleId: string | undefined, patch: TwinPatch, ifMatch?: string): Twin {
    return this.twinChannel.update(deviceId, moduleId, patch, ifMatch);
  }

  /**
   * Service-side twin replace of `tags` and `properties.desired`.
   * @throws HubError 400 (invalid document), 404 (unknown identity), 412 (etag mismatch).
   */
  replaceTwin(deviceId: string, moduleId: string | undefined, doc: TwinPatch, ifMatch?: string): Twin {
    return this.twinChannel.replace(deviceId, moduleId, doc, ifMatch);
  }

  // ---- messages and methods ------------------------------------------------------------------------------------

  /**
   * Calls a direct method on a module (or device) connected over MQTT.
   * @throws HubError (as a rejection) 400/400004 bad arguments, 404/404001|404010 unknown identity, 404/404103 not
   *   online and subscribed within the connect timeout, 504/504101 no answer within the response timeout,
   *   503 when the hub is closed meanwhile.
   */
  invokeMethod(deviceId: string, moduleId: string | undefined, invocation: MethodInvocation): Promise<MethodResult> {
    return this.methods.invoke(deviceId, moduleId, invocation);
  }

  /**
   * Replaces the routes (name → `FROM … [WHERE …] INTO …`); an empty set sends everything to `$upstream`.
   * @throws RouteSyntaxError when a route does not parse (the old routes stay).
   */
  setRoutes(routes: Record<string, string>): void {
    this.router.setRoutes(parseRoutes(routes));
  }

  /**
   * Delivers a message to a module input as a route would (QoS 1, store-and-forward when offline).
   * @throws HubError 404/404010 (as a rejection) when the module is unknown.
   */
  async sendToInput(deviceId: string, moduleId: string, inputName: string, message: InputMessage): Promise<void> {
    if (!this.registry.entry(deviceId, moduleId)) throw identityNotFound(deviceId, moduleId);
    await this.inputs.deliver(
      deviceId,
      moduleId,
      inputName,
      injectedMessage(deviceId, message, new Date().toISOString()),
    );
    // With a state directory: resolved once the message is stored (in the module's session or held for it).
    await this.durable();
  }

  /** Whether a client with this MQTT client id (`d/m` or `d`) is connected now. */
  isConnected(clientId: string): boolean {
    return this.clients.isConnected(clientId);
  }

  // ---- registry ------------------------------------------------------------------------------------------------

  /**
   * Adds a device (returns the existing one when already there).
   * @throws HubError 400 on an invalid id or CA certificate.
   */
  addDevice(deviceId: string, auth?: IdentityAuth): DeviceIdentity {
    const d = this.registry.addDevice(deviceId, auth);
    this.twins.ensure(deviceId);
    return d;
  }

  /**
   * Adds a module and its device when missing (returns the existing module when already there).
   * @throws HubError 400 on an invalid id or CA certificate.
   */
  addModule(deviceId: string, moduleId: string, auth?: IdentityAuth): ModuleIdentity {
    const m = this.registry.addModule(deviceId, moduleId, auth);
    this.twins.ensure(deviceId);
    this.twins.ensure(deviceId, moduleId);
    this.workload?.addModule(deviceId, moduleId);
    return m;
  }

  /** The device, or undefined. */
  getDevice(deviceId: string): DeviceIdentity | undefined {
    return this.registry.getDevice(deviceId);
  }

  /** The module, or undefined. */
  getModule(deviceId: string, moduleId: string): ModuleIdentity | undefined {
    return this.registry.getModule(deviceId, moduleId);
  }

  /** Removes a module with its twin and queued messages, closing its connection; unknown modules are ignored. */
  removeModule(deviceId: string, moduleId: string): void {
    if (!this.registry.removeModule(deviceId, moduleId)) return;
    this.workload?.removeModule(deviceId, moduleId);
    this.twins.remove(deviceId, moduleId);
    this.inputs.discard(clientKey({ deviceId, moduleId }));
    this.clients.drop(clientKey({ deviceId, moduleId }), 'identity removed');
  }

  /**
   * Removes a device with its modules, twins and queued messages, closing their connections; unknown ids are ignored.
   */
  removeDevice(deviceId: string): void {
    const modules = this.registry.listModules(deviceId);
    if (!this.registry.removeDevice(deviceId)) return;
    this.twins.removeDevice(deviceId);
    for (const m of modules) {
      this.workload?.removeModule(m.deviceId, m.moduleId);
      this.inputs.discard(clientKey(m));
      this.clients.drop(clientKey(m), 'identity removed');
    }
    this.clients.drop(deviceId, 'identity removed');
  }

  /** Every device. */
  listDevices(): DeviceIdentity[] {
    return this.registry.listDevices();
  }

  /** Every module of every device. */
  listModules(): ModuleIdentity[] {
    return this.registry.listModules();
  }

  /**
   * The `IOTEDGE_*` environment for a module.
   * @throws HubError 404 when the module is unknown.
   */
  edgeEnvironment(deviceId: string, moduleId: string): EdgeEnvironment {
    const m = this.registry.getModule(deviceId, moduleId);
    if (!m) throw identityNotFound(deviceId, moduleId);
    return localEdgeEnvironment(this.address, deviceId, moduleId, m.generationId);
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

  /** Closes listeners and connections; keeps registry, twins, sessions, stored messages and routes. */
  async stop(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    const closing = this.frontDoor?.stopListening();
    const clients = this.broker ? connectedClientsOf(this.broker) : [];
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
    this.frontDoor?.destroyConnections();
    await closing;
    if (wasRunning) this.report.log('local hub stopped');
  }

  /**
   * Listens again on the same ports after {@link stop}; with `clearSessions` the MQTT sessions are lost first (like
   * an edgeHub restart), while messages queued for module inputs move to the hub's own store-and-forward queue.
   * @throws when the hub is closed or a port is no longer free.
   */
  async restart(options: { clearSessions?: boolean } = {}): Promise<void> {
    if (this.closed) throw new Error('the hub is closed');
    if (this.running) return;
    if (options.clearSessions) await clearSessions(sessionStoreOf(this.broker), this.clients.sessionIds, this.inputs);
    await this.listen(this._tlsPorts, this._plainPort);
    const cleared = options.clearSessions ? ' (sessions cleared)' : '';
    this.report.log(`local hub restarted on ${this.bindAddress}:${this._tlsPorts.join(' and ')}${cleared}`);
  }

  /** Stops for good: closes everything, fails pending method calls, removes temp files. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop().catch(() => undefined);
    this.closed = true;
    this.methods.stopWaiting();
    this.timers.cancelAll();
    this.clients.cancelTimers();
    this.methods.failPending();
    if (this.broker) await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    this.frontDoor?.close();
    if (this.workload) await this.workload.close().catch(() => undefined);
    if (this.state) await this.state.close().catch((err: Error) => this.report.log(`state directory: ${err.message}`));
    if (this.tempDir) await fs.rm(this.tempDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Holds each HTTP response until the state directory has stored what the request changed, so that a client that got
 * its answer (a twin update, a new identity) never loses the change to a crash of the hub. Node writes the status line
 * and headers with the first body write, so holding `end` holds the whole answer.
 */
function durableResponses(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  durable: () => Promise<void>,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
    res.end = ((...args: unknown[]) => {
      void durable().then(() => end(...args));
      return res;
    }) as typeof res.end;
    handler(req, res);
  };
}

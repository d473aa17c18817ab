// The local hub: an aedes broker that behaves like IoT Hub / edgeHub for modules (auth, ACL, twins, methods,
// routes) behind one TLS port that also serves WSS and the HTTPS APIs.
import { Aedes } from 'aedes';
import type { Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { authenticateConnect } from './auth';
import { generateHubTls, removeCaFile, writeCaFile } from './certs';
import { FaultState } from './faults';
import { createHttpApi } from './httpApi';
import {
  DESIRED_FILTER, METHODS_FILTER, TWIN_RES_FILTER, classifyPublish, inputsFilter, subscriptionAllowed, type HubIdentity,
} from './hubTopics';
import { encodePropertyBag, parsePropertyBag, percentEncode } from './messageBag';
import { ErrorCodes, HubError, RidCounter, normaliseInvocation, parseMethodResponsePayload } from './methods';
import { Observations } from './observations';
import { Registry, newKey } from './registry';
import { parseRoutes, resolveEndpoints, type Route } from './routes';
import { TwinStore } from './twins';
import type {
  ConnectRecord, DeviceIdentity, EdgeEnvironment, HubEvents, HubMessage, IdentityAuth, LocalHubApi, LocalHubOptions,
  MethodInvocation, MethodResult, ModuleIdentity, Twin, TwinPatch,
} from './types';
import { startWorkloadServer } from './workloadApi';

export { HubError } from './methods';

/** IoT Hub's limit on a PUBLISH: topic (with property bag) plus payload. */
export const MAX_PUBLISH_BYTES = 256 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;
const DEFAULT_HOST = 'local-hub.azure-devices.net';

type Transport = ConnectRecord['transport'];

/** What the hub knows about a raw connection before and after CONNECT. */
interface ConnInfo {
  transport: Transport;
  tlsSocket?: tls.TLSSocket;
}

/** What the hub knows about an authenticated MQTT client. */
interface ClientInfo {
  identity: HubIdentity;
  transport: Transport;
  x509: boolean;
  expiresAtMs?: number;
  expiryTimer?: NodeJS.Timeout;
  closeReason?: string;
}

interface PendingMethod {
  clientId: string;
  deviceId: string;
  moduleId?: string;
  methodName: string;
  resolve(result: MethodResult): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** The parts of aedes' persistence that clearing sessions uses. */
interface SessionStore {
  outgoingStream(client: { id: string }): AsyncIterable<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: StoredPacket): Promise<unknown>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
}

interface StoredPacket {
  topic: string;
  payload: Buffer;
  messageId?: number;
  messageExpiry?: number;
}

interface QueuedInput {
  topic: string;
  payload: Buffer;
  expiresAtMs: number;
}

/** The subscriptions an aedes client holds (not in aedes' public typings). */
function subscriptionsOf(client: Client): Record<string, { qos: number } | undefined> {
  return (client as unknown as { subscriptions: Record<string, { qos: number } | undefined> }).subscriptions;
}

function clientKey(id: HubIdentity): string {
  return id.moduleId === undefined ? id.deviceId : `${id.deviceId}/${id.moduleId}`;
}

function refusal(returnCode: number, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * A local IoT Hub + edgeHub for tests and development: MQTT over TLS and WSS, HTTPS service API, IoT Edge
 * workload API, fault injection and observation. Start it with {@link LocalHub.start}.
 */
export class LocalHub implements LocalHubApi {
  readonly hostName: string;
  readonly faults: FaultState;
  readonly observed = new Observations();
  readonly events = new EventEmitter<HubEvents>();

  private _port = 0;
  private _plainPort: number | undefined;
  private _caCert = '';
  private _caCertPath = '';
  private _workloadUri: string | undefined;
  private readonly policyKey = newKey();
  private readonly registry: Registry;
  private readonly twins = new TwinStore();
  private routes: Route[] = [];
  private broker!: Aedes;
  private tlsServer!: tls.Server;
  private plainServer: net.Server | undefined;
  private readonly httpServer: http.Server;
  private readonly wss: WebSocketServer;
  private workload: { close(): Promise<void> } | undefined;
  private tempDir: string | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly connInfo = new WeakMap<object, ConnInfo>();
  private readonly clientInfo = new WeakMap<Client, ClientInfo>();
  private readonly current = new Map<string, Client>();
  /** Every client id that ever connected (whose session the broker may hold). */
  private readonly sessionIds = new Set<string>();
  private readonly sendChains = new Map<string, Promise<void>>();
  private readonly pendingMethods = new Map<string, PendingMethod>();
  private readonly rids = new RidCounter();
  private readonly inputQueues = new Map<string, QueuedInput[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Internal: fires whenever a client connects, subscribes or disconnects (wakes method invocations waiting). */
  private readonly changes = new EventEmitter();
  private readonly storeTtlMs: number;
  private running = false;
  private closed = false;

  private constructor(private readonly options: LocalHubOptions) {
    this.hostName = options.hostName ?? DEFAULT_HOST;
    this.storeTtlMs = (options.storeAndForwardTtlSeconds ?? 7200) * 1000;
    this.registry = new Registry(() => ({ hostName: this.hostName, port: this._port }));
    this.changes.setMaxListeners(0);
    this.faults = new FaultState({
      drop: (clientId, reason) => this.dropClient(clientId, reason),
      dropAll: (reason) => {
        for (const id of [...this.current.keys()]) this.dropClient(id, reason);
      },
    });
    this.httpServer = http.createServer(createHttpApi(this, { name: 'iothubowner', key: this.policyKey }));
    this.wss = new WebSocketServer({
      noServer: true,
      // IoT Hub's WebSocket endpoint speaks the `mqtt` subprotocol.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
    });
    this.httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
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

  private log(line: string): void {
    try {
      this.options.log?.(line);
    } catch {
      // A failing logger must not break the hub.
    }
  }

  private async init(): Promise<void> {
    if (this.options.routes) this.routes = parseRoutes(this.options.routes);
    const material = this.options.tls ?? (await generateHubTls());
    this._caCert = material.caCert;
    this._caCertPath = await writeCaFile(material.caCert);
    this.tempDir = path.dirname(this._caCertPath);

    this.broker = await Aedes.createBroker({
      // IoT Hub client ids are `{deviceId}/{moduleId}`: up to 257 characters, not MQTT 3.1's 23.
      maxClientsIdLength: 512,
      queueLimit: 1000,
      preConnect: (client, packet, cb) => this.preConnect(client, packet, cb),
      authenticate: (client, username, password, cb) => this.authenticate(client, username, password, cb),
      authorizePublish: (client, packet, cb) => this.authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => this.authorizeSubscribe(client, sub, cb),
      // Store-and-forward TTL (edgeHub: 7200 s): a queued input message past its expiry is dropped, not delivered.
      authorizeForward: (_client, packet) => {
        const expiry = (packet as { messageExpiry?: number }).messageExpiry;
        return expiry !== undefined && expiry <= Date.now() ? null : packet;
      },
    });
    this.broker.on('clientReady', (client) => this.onClientReady(client));
    this.broker.on('clientDisconnect', (client) => this.onClientDisconnect(client));
    this.broker.on('subscribe', (subs, client) => this.onSubscribed(subs, client));
    this.broker.on('unsubscribe', () => this.changes.emit('change'));
    (this.broker as unknown as EventEmitter).on('error', (err: Error) => this.log(`broker error: ${err.message}`));

    this.tlsServer = tls.createServer({
      cert: material.serverCert,
      key: material.serverKey,
      minVersion: 'TLSv1.2',
      // Ask for a client certificate so X.509 identities can authenticate; SAS clients send none.
      requestCert: true,
      rejectUnauthorized: false,
    });
    this.tlsServer.on('secureConnection', (socket) => this.onTlsSocket(socket));
    this.tlsServer.on('tlsClientError', () => undefined);
    this.tlsServer.on('connection', (socket: net.Socket) => this.track(socket));
    if (this.options.plainMqttPort !== undefined) {
      this.plainServer = net.createServer((socket) => {
        this.track(socket);
        this.connInfo.set(socket, { transport: 'mqtt' });
        this.handleMqtt(socket);
      });
    }
    await this.listen(this.options.port ?? 0, this.options.plainMqttPort);

    if (this.options.workloadSocketPath !== false) {
      const socketPath = this.options.workloadSocketPath ?? path.join(this.tempDir, 'workload.sock');
      this.workload = await startWorkloadServer(this, socketPath);
      this._workloadUri = `unix://${socketPath}`;
    }

    for (const d of this.options.devices ?? []) {
      this.addDevice(d.deviceId, d.auth);
      for (const m of d.modules ?? []) this.addModule(d.deviceId, m.moduleId, m.auth);
    }
    this.log(`local hub ${this.hostName} listening on ${this.bindAddress}:${this._port} (MQTT/TLS, WSS, HTTPS)`);
  }

  private get bindAddress(): string {
    return this.options.bindAddress ?? '127.0.0.1';
  }

  private async listen(port: number, plainPort: number | undefined): Promise<void> {
    const listenOn = (server: net.Server, p: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(p, this.bindAddress, () => {
          server.off('error', onError);
          resolve((server.address() as net.AddressInfo).port);
        });
      });
    this._port = await listenOn(this.tlsServer, port);
    if (this.plainServer && plainPort !== undefined) this._plainPort = await listenOn(this.plainServer, plainPort);
    this.running = true;
  }

  private track(socket: net.Socket): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /**
   * One TLS port for everything: after the handshake the first byte tells MQTT (CONNECT = 0x10) from HTTP
   * (a request line, or the WebSocket upgrade that then carries MQTT).
   */
  private onTlsSocket(socket: tls.TLSSocket): void {
    this.track(socket);
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === 0x10) {
        this.connInfo.set(socket, { transport: 'mqtts', tlsSocket: socket });
        this.handleMqtt(socket);
      } else {
        this.httpServer.emit('connection', socket);
      }
      socket.resume();
    });
  }

  /** Hands a connection to aedes. */
  private handleMqtt(conn: Duplex, req?: http.IncomingMessage): void {
    const client = this.broker.handle(conn as net.Socket, req);
    // IoT Hub grants at most QoS 1; aedes computes the SUBACK from the requested QoS before authorizeSubscribe
    // runs, so cap it as the packet is parsed.
    const parser = (client as unknown as { _parser?: EventEmitter })._parser;
    parser?.prependListener('packet', (packet: { cmd: string; subscriptions?: Array<{ qos: number; requestedQos?: number }> }) => {
      if (packet.cmd !== 'subscribe') return;
      for (const sub of packet.subscriptions ?? []) {
        if (sub.qos <= 1) continue;
        sub.requestedQos = sub.qos;
        sub.qos = 1;
      }
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== '/$iothub/websocket' && pathname !== '/%24iothub/websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => undefined);
      this.connInfo.set(stream, { transport: 'wss', tlsSocket: req.socket as tls.TLSSocket });
      this.handleMqtt(stream, req);
    });
  }

  // ---- authentication ----------------------------------------------------------------------------------------

  private preConnect(client: Client, packet: ConnectPacket, cb: (error: Error | null, success: boolean) => void): void {
    const code = this.faults.takeConnectRefusal();
    if (code === undefined) return cb(null, true);
    const info = this.connInfo.get(client.conn);
    this.recordConnect(packet.clientId, packet.username, packet.password, false, info?.transport ?? 'mqtts', code);
    this.log(`CONNECT ${packet.clientId} refused by fault injection (return code ${code})`);
    if (code >= 2 && code <= 5) {
      // Let aedes' authenticate step send the CONNACK with this code.
      this.injectedRefusals.set(client, code);
      return cb(null, true);
    }
    // Codes aedes' authenticate cannot send (1, or non-standard ones): write the CONNACK ourselves, then close.
    this.observed.counters.refused++;
    client.conn.write(Buffer.from([0x20, 0x02, 0x00, code & 0xff]), () => cb(refusal(code, 'refused by fault injection'), false));
  }

  private readonly injectedRefusals = new WeakMap<Client, number>();

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    cb: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): void {
    const info = this.connInfo.get(client.conn) ?? { transport: 'mqtts' as Transport };
    const injected = this.injectedRefusals.get(client);
    if (injected !== undefined) {
      this.observed.counters.refused++;
      return cb(refusal(injected, 'refused by fault injection') as Parameters<typeof cb>[0], false);
    }
    let peer: Buffer | undefined;
    try {
      const cert = info.tlsSocket?.getPeerCertificate();
      if (cert && cert.raw) peer = cert.raw;
    } catch {
      peer = undefined;
    }
    const result = authenticateConnect(
      { clientId: client.id, username, password, peerCertificate: peer },
      this.hostName,
      (id) => this.registry.entry(id.deviceId, id.moduleId),
      Date.now(),
    );
    const returnCode = result.ok ? 0 : result.returnCode;
    this.recordConnect(client.id, username, password, result.ok ? result.x509 : !password && !!peer, info.transport, returnCode);
    if (!result.ok) {
      this.observed.counters.refused++;
      this.log(`CONNECT ${client.id} refused (return code ${result.returnCode}): ${result.reason}`);
      return cb(refusal(result.returnCode, result.reason) as Parameters<typeof cb>[0], false);
    }
    const ci: ClientInfo = { identity: result.identity, transport: info.transport, x509: result.x509 };
    if (result.expiresAtMs !== undefined) ci.expiresAtMs = result.expiresAtMs;
    this.clientInfo.set(client, ci);
    const previous = this.current.get(client.id);
    if (previous) {
      // IoT Hub 400027: a new connection with the same client id closes the old one.
      const prevInfo = this.clientInfo.get(previous);
      if (prevInfo) prevInfo.closeReason = 'connection forcefully closed on new connection (400027)';
    }
    cb(null, true);
  }

  private recordConnect(
    clientId: string,
    username: string | undefined,
    password: Buffer | string | undefined,
    x509: boolean,
    transport: Transport,
    returnCode: number,
  ): void {
    const record: ConnectRecord = { at: Date.now(), clientId, username: username ?? '', x509, transport, returnCode };
    if (password !== undefined) record.password = Buffer.from(password).toString('utf8');
    this.observed.connects.push(record);
  }

  private onClientReady(client: Client): void {
    const info = this.clientInfo.get(client);
    if (!info) return;
    this.current.set(client.id, client);
    this.sessionIds.add(client.id);
    this.observed.counters.connects++;
    if (info.expiresAtMs !== undefined) this.armExpiry(client, info);
    this.log(`${client.id} connected (${info.transport}${info.x509 ? ', X.509' : ''})`);
    this.events.emit('connect', { clientId: client.id, transport: info.transport });
    this.changes.emit('change');
    // Messages stored for a module that had never subscribed go out once it has (a restored session counts).
    if (info.identity.moduleId !== undefined && subscriptionsOf(client)[inputsFilter(info.identity.deviceId, info.identity.moduleId)]) {
      this.flushInputQueue(client.id);
    }
  }

  /** IoT Hub 401003: when the SAS token's `se` passes, the connection is closed. */
  private armExpiry(client: Client, info: ClientInfo): void {
    const remaining = info.expiresAtMs! - Date.now();
    info.expiryTimer = setTimeout(() => {
      if (Date.now() >= info.expiresAtMs!) {
        info.closeReason = 'token expired (401003)';
        this.log(`${client.id}: SAS token expired, closing the connection`);
        client.close();
      } else {
        this.armExpiry(client, info);
      }
    }, Math.max(0, Math.min(remaining, MAX_TIMER_MS)));
  }

  private onClientDisconnect(client: Client): void {
    const info = this.clientInfo.get(client);
    if (!info) return;
    if (info.expiryTimer) clearTimeout(info.expiryTimer);
    if (this.current.get(client.id) === client) this.current.delete(client.id);
    this.observed.counters.disconnects++;
    const reason = info.closeReason ?? (client.closed ? 'connection closed' : 'disconnected');
    this.log(`${client.id} disconnected: ${reason}`);
    this.events.emit('disconnect', { clientId: client.id, reason });
    this.changes.emit('change');
  }

  private dropClient(clientId: string, reason: string): void {
    const client = this.current.get(clientId);
    if (!client) return;
    const info = this.clientInfo.get(client);
    if (info) info.closeReason = reason;
    this.log(`${clientId}: ${reason}`);
    // Abrupt close, like a network failure: no DISCONNECT, the socket is destroyed.
    client.conn.destroy();
  }

  // ---- ACL -----------------------------------------------------------------------------------------------------

  private authorizePublish(client: Client | null, packet: PublishPacket, cb: (error?: Error | null) => void): void {
    if (!client) return cb(null);
    const info = this.clientInfo.get(client);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? '');
    this.observed.publishes.push({ at: Date.now(), clientId: client.id, topic: packet.topic, payload, qos: packet.qos });
    this.observed.counters.publishes++;
    if (!info) return cb(new Error('not authenticated'));
    if (packet.qos === 2) {
      this.log(`${client.id}: QoS 2 publish to ${packet.topic}, closing the connection`);
      return cb(new Error('QoS 2 is not supported'));
    }
    if (Buffer.byteLength(packet.topic) + payload.length > MAX_PUBLISH_BYTES) {
      this.log(`${client.id}: publish over 256 KiB, closing the connection`);
      return cb(new Error('message too large'));
    }
    const kind = classifyPublish(packet.topic, info.identity);
    if (!kind) {
      this.log(`${client.id}: publish to ${packet.topic} not allowed, closing the connection`);
      return cb(new Error(`publish to ${packet.topic} not allowed`));
    }
    // IoT Hub ignores RETAIN.
    packet.retain = false;
    switch (kind.kind) {
      case 'events':
        this.onTelemetry(info.identity, kind.bag, payload);
        break;
      case 'twinGet':
        this.onTwinRequest(client, info.identity, 'get', kind.rid, payload);
        break;
      case 'twinPatchReported':
        this.onTwinRequest(client, info.identity, 'reported', kind.rid, payload);
        break;
      case 'methodResponse':
        this.onMethodResponse(client.id, kind.status, kind.rid, payload);
        break;
    }
    cb(null);
  }

  private authorizeSubscribe(client: Client, sub: Subscription, cb: (error: Error | null, subscription?: Subscription | null) => void): void {
    const info = this.clientInfo.get(client);
    const allowed = !!info && subscriptionAllowed(sub.topic, info.identity);
    // IoT Hub grants at most QoS 1.
    const granted = allowed ? Math.min(sub.qos, 1) : 0x80;
    const requested = (sub as { requestedQos?: number }).requestedQos ?? sub.qos;
    this.observed.subscriptions.push({ at: Date.now(), clientId: client.id, topic: sub.topic, qos: requested, granted });
    if (!allowed) {
      this.log(`${client.id}: subscription to ${sub.topic} refused`);
      return cb(null, null);
    }
    if (sub.qos > 1) sub.qos = 1;
    cb(null, sub);
  }

  private onSubscribed(subs: Subscription[], client: Client): void {
    this.changes.emit('change');
    const info = this.clientInfo.get(client);
    if (!info || info.identity.moduleId === undefined) return;
    const filter = inputsFilter(info.identity.deviceId, info.identity.moduleId);
    if (subs.some((s) => s.topic === filter && (s.qos as number) !== 0x80)) this.flushInputQueue(client.id);
  }

  // ---- sending to clients --------------------------------------------------------------------------------------

  /**
   * Runs sends to one client one after the other, each awaiting its callback (aedes can drop a QoS 1 publish that
   * is followed at once by a QoS 0 one to the same persistent session).
   */
  private chain(clientId: string, send: () => Promise<void>): Promise<void> {
    const prev = this.sendChains.get(clientId) ?? Promise.resolve();
    const next = prev.then(send, send);
    this.sendChains.set(clientId, next);
    void next.then(() => {
      if (this.sendChains.get(clientId) === next) this.sendChains.delete(clientId);
    });
    return next;
  }

  /**
   * Publishes to one client only, at the QoS it subscribed `filter` with (at most 1). Like IoT Hub, nothing is sent
   * to a client that has not subscribed (a twin GET before subscribing to `$iothub/twin/res/#` gets no answer).
   */
  private sendToClient(client: Client, filter: string, topic: string, payload: Buffer): Promise<void> {
    return this.chain(client.id, () => new Promise<void>((resolve) => {
      const sub = subscriptionsOf(client)[filter];
      if (client.closed || !sub) {
        this.log(`${client.id}: not subscribed to ${filter}, ${topic} not sent`);
        return resolve();
      }
      const qos = Math.min(sub.qos, 1) as 0 | 1;
      const packet: PublishPacket = { cmd: 'publish', topic, payload, qos, retain: false, dup: false };
      client.publish(packet, () => resolve());
    }));
  }

  /**
   * Publishes an input message through the broker (live subscribers, and the offline queue of persistent sessions).
   * `messageExpiry` (absolute ms) survives aedes' packet copies and is checked in `authorizeForward`.
   */
  private brokerPublish(clientId: string, topic: string, payload: Buffer, expiresAtMs: number): Promise<void> {
    return this.chain(clientId, () => new Promise<void>((resolve) => {
      const packet = { cmd: 'publish' as const, topic, payload, qos: 1 as const, retain: false, dup: false, messageExpiry: expiresAtMs };
      this.broker.publish(packet, () => resolve());
    }));
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  // ---- telemetry and routing -----------------------------------------------------------------------------------

  private onTelemetry(identity: HubIdentity, bag: string, body: Buffer): void {
    const decoded = parsePropertyBag(bag);
    const sys = decoded.systemProperties;
    // edgeHub stamps the source identity (overwriting whatever the module claimed).
    sys['$.cdid'] = identity.deviceId;
    if (identity.moduleId !== undefined) sys['$.cmid'] = identity.moduleId;
    else delete sys['$.cmid'];
    const message: HubMessage = {
      body,
      properties: decoded.properties,
      systemProperties: sys,
      deviceId: identity.deviceId,
      enqueuedTime: new Date().toISOString(),
    };
    if (identity.moduleId !== undefined) message.moduleId = identity.moduleId;
    if (sys['$.on']) message.outputName = sys['$.on'];
    this.route(message);
  }

  private route(message: HubMessage): void {
    const endpoints = resolveEndpoints(this.routes, message);
    const source = clientKey({ deviceId: message.deviceId, moduleId: message.moduleId });
    for (const endpoint of endpoints) {
      if (endpoint.kind === 'upstream') {
        this.observed.upstream.push(message);
        this.observed.counters.upstream++;
        this.log(`$upstream <- ${source}${message.outputName ? ` (output ${message.outputName})` : ''}: ${message.body.length} bytes`);
        this.events.emit('upstream', message);
      } else {
        // Routes deliver to modules of the device the message came from.
        void this.deliverToInput(message.deviceId, endpoint.moduleId, endpoint.inputName, message);
      }
    }
  }

  /**
   * Delivers to `devices/{d}/modules/{m}/inputs/{i}/{bag}` at QoS 1: live when the module is subscribed, through
   * its persistent session when it is offline but subscribed, else kept in a per-module queue (TTL) until it
   * subscribes to its inputs.
   */
  private async deliverToInput(deviceId: string, moduleId: string, inputName: string, message: HubMessage): Promise<void> {
    const sys: Record<string, string> = {};
    for (const key of ['$.mid', '$.cid', '$.uid', '$.ct', '$.ce', '$.exp', '$.cdid', '$.cmid', '$.on']) {
      const v = message.systemProperties[key];
      if (v !== undefined && v !== '') sys[key] = v;
    }
    const bag = encodePropertyBag({ properties: message.properties, systemProperties: sys });
    const topic = `devices/${deviceId}/modules/${moduleId}/inputs/${inputName}/${bag}`;
    const target = `${deviceId}/${moduleId}`;
    this.observed.counters.routed++;
    this.events.emit('routed', { target, inputName, message });
    this.log(`${target} input ${inputName} <- ${message.body.length} bytes`);
    const filter = inputsFilter(deviceId, moduleId);
    const live = this.current.get(target);
    const expiresAtMs = Date.now() + this.storeTtlMs;
    if (live && subscriptionsOf(live)[filter]) {
      await this.brokerPublish(target, topic, message.body, expiresAtMs);
      return;
    }
    let stored = false;
    try {
      const persistence = (this.broker as unknown as { persistence: { subscriptionsByClient(c: { id: string }): Promise<Array<{ topic: string; qos: number }>> } }).persistence;
      const subs = await persistence.subscriptionsByClient({ id: target });
      stored = subs.some((s) => s.topic === filter && s.qos > 0);
    } catch {
      stored = false;
    }
    const nowLive = this.current.get(target);
    if (stored || (nowLive && subscriptionsOf(nowLive)[filter])) {
      await this.brokerPublish(target, topic, message.body, expiresAtMs);
      return;
    }
    const queue = this.inputQueues.get(target) ?? [];
    const now = Date.now();
    queue.push({ topic, payload: message.body, expiresAtMs });
    this.inputQueues.set(target, queue.filter((q) => q.expiresAtMs > now));
  }

  private flushInputQueue(target: string): void {
    const queue = this.inputQueues.get(target);
    if (!queue) return;
    this.inputQueues.delete(target);
    const now = Date.now();
    for (const item of queue) if (item.expiresAtMs > now) void this.brokerPublish(target, item.topic, item.payload, item.expiresAtMs);
  }

  // ---- twins ---------------------------------------------------------------------------------------------------

  private onTwinRequest(client: Client, identity: HubIdentity, kind: 'get' | 'reported', rid: string, body: Buffer): void {
    const respond = (status: number, extra: string, payload: Buffer): void => {
      this.events.emit('twin', { deviceId: identity.deviceId, moduleId: identity.moduleId, kind, status });
      if (this.faults.twinResponsesWithheld) return;
      const topic = `$iothub/twin/res/${status}/?$rid=${percentEncode(rid)}${extra}`;
      this.later(this.faults.twinResponseDelayMs, () => void this.sendToClient(client, TWIN_RES_FILTER, topic, payload));
    };
    const injected = this.faults.takeTwinFailure();
    if (injected !== undefined) {
      respond(injected, '', Buffer.from(JSON.stringify({ errorCode: injected * 1000 + 1, message: 'injected failure' })));
      return;
    }
    try {
      if (kind === 'get') {
        respond(200, '', Buffer.from(JSON.stringify(this.twins.deviceView(identity.deviceId, identity.moduleId))));
        return;
      }
      let patch: unknown;
      try {
        patch = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HubError(400, ErrorCodes.ArgumentInvalid, 'the reported patch is not valid JSON');
      }
      const version = this.twins.patchReported(identity.deviceId, identity.moduleId, patch);
      this.log(`${clientKey(identity)} reported properties updated (version ${version})`);
      respond(204, `&$version=${version}`, Buffer.alloc(0));
    } catch (err) {
      const e = err instanceof HubError ? err : new HubError(500, ErrorCodes.ServerError, String(err));
      respond(e.httpStatus, '', Buffer.from(JSON.stringify({ errorCode: e.errorCode, message: e.message })));
    }
  }

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
    const { twin, desiredPatch } = this.twins.update(deviceId, moduleId, patch, ifMatch);
    if (desiredPatch) this.pushDesired(deviceId, moduleId, desiredPatch);
    return twin;
  }

  /**
   * Service-side twin replace of `tags` and `properties.desired`.
   * @throws HubError 400 (invalid document), 404 (unknown identity), 412 (etag mismatch).
   */
  replaceTwin(deviceId: string, moduleId: string | undefined, doc: TwinPatch, ifMatch?: string): Twin {
    const { twin, desiredPatch } = this.twins.replace(deviceId, moduleId, doc, ifMatch);
    if (desiredPatch) this.pushDesired(deviceId, moduleId, desiredPatch);
    return twin;
  }

  private pushDesired(deviceId: string, moduleId: string | undefined, patch: Record<string, unknown>): void {
    const version = patch.$version as number;
    this.events.emit('twin', { deviceId, moduleId, kind: 'desired', status: 200 });
    this.log(`${clientKey({ deviceId, moduleId })} desired properties updated (version ${version})`);
    const client = this.current.get(clientKey({ deviceId, moduleId }));
    if (!client || !subscriptionsOf(client)[DESIRED_FILTER]) return;
    void this.sendToClient(client, DESIRED_FILTER, `$iothub/twin/PATCH/properties/desired/?$version=${version}`, Buffer.from(JSON.stringify(patch)));
  }

  // ---- direct methods ------------------------------------------------------------------------------------------

  private subscribedForMethods(clientId: string): Client | undefined {
    const client = this.current.get(clientId);
    return client && client.connected && !client.closed && subscriptionsOf(client)[METHODS_FILTER] ? client : undefined;
  }

  private waitForMethodSubscriber(clientId: string, timeoutMs: number): Promise<Client | undefined> {
    const now = this.subscribedForMethods(clientId);
    if (now || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const onChange = (): void => {
        const c = this.subscribedForMethods(clientId);
        if (c) finish(c);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      this.timers.add(timer);
      const finish = (c: Client | undefined): void => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.changes.off('change', onChange);
        this.changes.off('closing', onClosing);
        resolve(c);
      };
      const onClosing = (): void => finish(undefined);
      this.changes.on('change', onChange);
      this.changes.once('closing', onClosing);
    });
  }

  /**
   * Calls a direct method on a module (or device) connected over MQTT.
   * @throws HubError (as a rejection) 400/400004 bad arguments, 404/404001|404010 unknown identity, 404/404103 not
   *   online and subscribed within the connect timeout, 504/504101 no answer within the response timeout,
   *   503 when the hub is closed meanwhile.
   */
  async invokeMethod(deviceId: string, moduleId: string | undefined, invocation: MethodInvocation): Promise<MethodResult> {
    const inv = normaliseInvocation(invocation);
    this.observed.counters.methodCalls++;
    const report = (status?: number, errorCode?: number): void => {
      const ev: HubEvents['method'][0] = { deviceId, methodName: inv.methodName };
      if (moduleId !== undefined) ev.moduleId = moduleId;
      if (status !== undefined) ev.status = status;
      if (errorCode !== undefined) ev.errorCode = errorCode;
      this.events.emit('method', ev);
    };
    if (!this.registry.entry(deviceId, moduleId)) {
      const err = moduleId === undefined
        ? new HubError(404, ErrorCodes.DeviceNotFound, `device ${deviceId} not found`)
        : new HubError(404, ErrorCodes.ModuleNotFound, `module ${deviceId}/${moduleId} not found`);
      report(undefined, err.errorCode);
      throw err;
    }
    const clientId = clientKey({ deviceId, moduleId });
    const client = await this.waitForMethodSubscriber(clientId, inv.connectTimeoutInSeconds * 1000);
    if (!client) {
      this.log(`method ${inv.methodName} on ${clientId}: not online (404103)`);
      report(undefined, ErrorCodes.DeviceNotOnline);
      throw new HubError(404, ErrorCodes.DeviceNotOnline, `${clientId} is not online`);
    }
    const rid = this.rids.take();
    this.log(`method ${inv.methodName} -> ${clientId} (rid ${rid})`);
    return new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingMethods.delete(rid);
        this.log(`method ${inv.methodName} on ${clientId}: no response in ${inv.responseTimeoutInSeconds} s (504101)`);
        report(undefined, ErrorCodes.GatewayTimeout);
        reject(new HubError(504, ErrorCodes.GatewayTimeout, `${clientId} did not answer ${inv.methodName} in time`));
      }, inv.responseTimeoutInSeconds * 1000);
      const pending: PendingMethod = {
        clientId,
        deviceId,
        methodName: inv.methodName,
        timer,
        resolve: (result) => {
          report(result.status);
          resolve(result);
        },
        reject,
      };
      if (moduleId !== undefined) pending.moduleId = moduleId;
      this.pendingMethods.set(rid, pending);
      if (this.faults.methodRequestsWithheld) return;
      const topic = `$iothub/methods/POST/${percentEncode(inv.methodName)}/?$rid=${rid}`;
      this.later(this.faults.methodRequestDelayMs, () => {
        if (!this.pendingMethods.has(rid)) return;
        const target = this.current.get(clientId) ?? client;
        void this.sendToClient(target, METHODS_FILTER, topic, Buffer.from(JSON.stringify(inv.payload)));
      });
    });
  }

  private onMethodResponse(clientId: string, status: number, rid: string, body: Buffer): void {
    const pending = this.pendingMethods.get(rid);
    if (!pending || pending.clientId !== clientId) return;
    this.pendingMethods.delete(rid);
    clearTimeout(pending.timer);
    this.log(`method ${pending.methodName} on ${clientId} answered ${status}`);
    pending.resolve({ status, payload: parseMethodResponsePayload(body) });
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
    this.twins.remove(deviceId, moduleId);
    this.inputQueues.delete(`${deviceId}/${moduleId}`);
    this.dropClient(`${deviceId}/${moduleId}`, 'identity removed');
  }

  /** Removes a device with its modules, twins and queued messages, closing their connections; unknown ids are ignored. */
  removeDevice(deviceId: string): void {
    const modules = this.registry.listModules(deviceId);
    if (!this.registry.removeDevice(deviceId)) return;
    this.twins.removeDevice(deviceId);
    for (const m of modules) {
      this.inputQueues.delete(`${deviceId}/${m.moduleId}`);
      this.dropClient(`${deviceId}/${m.moduleId}`, 'identity removed');
    }
    this.dropClient(deviceId, 'identity removed');
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
    if (!m) throw new HubError(404, ErrorCodes.ModuleNotFound, `module ${deviceId}/${moduleId} not found`);
    return {
      IOTEDGE_WORKLOADURI: this._workloadUri ?? '',
      IOTEDGE_DEVICEID: deviceId,
      IOTEDGE_MODULEID: moduleId,
      IOTEDGE_MODULEGENERATIONID: m.generationId,
      IOTEDGE_IOTHUBHOSTNAME: this.hostName,
      IOTEDGE_GATEWAYHOSTNAME: `localhost:${this._port}`,
      IOTEDGE_APIVERSION: '2019-01-30',
      IOTEDGE_AUTHSCHEME: 'sasToken',
    };
  }

  /**
   * Replaces the routes (name → `FROM … [WHERE …] INTO …`); an empty set sends everything to `$upstream`.
   * @throws RouteSyntaxError when a route does not parse (the old routes stay).
   */
  setRoutes(routes: Record<string, string>): void {
    this.routes = parseRoutes(routes);
  }

  /**
   * Delivers a message to a module input as a route would (QoS 1, store-and-forward when offline).
   * @throws HubError 404/404010 (as a rejection) when the module is unknown.
   */
  async sendToInput(
    deviceId: string,
    moduleId: string,
    inputName: string,
    message: { body: Buffer | string; properties?: Record<string, string>; systemProperties?: Record<string, string> },
  ): Promise<void> {
    if (!this.registry.entry(deviceId, moduleId)) {
      throw new HubError(404, ErrorCodes.ModuleNotFound, `module ${deviceId}/${moduleId} not found`);
    }
    const hubMessage: HubMessage = {
      body: Buffer.isBuffer(message.body) ? message.body : Buffer.from(message.body, 'utf8'),
      properties: { ...(message.properties ?? {}) },
      systemProperties: { ...(message.systemProperties ?? {}) },
      deviceId: message.systemProperties?.['$.cdid'] ?? deviceId,
      enqueuedTime: new Date().toISOString(),
    };
    const cmid = message.systemProperties?.['$.cmid'];
    if (cmid !== undefined) hubMessage.moduleId = cmid;
    const on = message.systemProperties?.['$.on'];
    if (on !== undefined) hubMessage.outputName = on;
    await this.deliverToInput(deviceId, moduleId, inputName, hubMessage);
  }

  /** Whether a client with this MQTT client id (`d/m` or `d`) is connected now. */
  isConnected(clientId: string): boolean {
    const c = this.current.get(clientId);
    return !!c && !c.closed;
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

  /** Closes listeners and connections; keeps registry, twins, sessions, stored messages and routes. */
  async stop(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    // Servers are closed whenever they listen, so a start that failed half-way still releases its ports.
    const closing = [this.tlsServer, this.plainServer]
      .filter((server): server is net.Server => !!server?.listening)
      .map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    const clients = this.broker ? Object.values((this.broker as unknown as { clients: Record<string, Client> }).clients) : [];
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
    for (const socket of this.sockets) socket.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    await Promise.all(closing);
    if (wasRunning) this.log('local hub stopped');
  }

  /**
   * Listens again on the same ports after {@link stop}; with `clearSessions` the MQTT sessions are lost first (like
   * an edgeHub restart), while messages queued for module inputs move to the hub's own store-and-forward queue.
   * @throws when the hub is closed or a port is no longer free.
   */
  async restart(options: { clearSessions?: boolean } = {}): Promise<void> {
    if (this.closed) throw new Error('the hub is closed');
    if (this.running) return;
    if (options.clearSessions) await this.clearSessions();
    await this.listen(this._port, this._plainPort);
    this.log(`local hub restarted on ${this.bindAddress}:${this._port}${options.clearSessions ? ' (sessions cleared)' : ''}`);
  }

  private async clearSessions(): Promise<void> {
    const persistence = (this.broker as unknown as { persistence: SessionStore }).persistence;
    for (const id of this.sessionIds) {
      const client = { id };
      const queued: StoredPacket[] = [];
      for await (const packet of persistence.outgoingStream(client)) queued.push(packet as StoredPacket);
      const inputsPrefix = `devices/${id.replace('/', '/modules/')}/inputs/`;
      for (const packet of queued) {
        await persistence.outgoingClearMessageId(client, packet);
        if (!packet.topic.startsWith(inputsPrefix)) continue;
        const queue = this.inputQueues.get(id) ?? [];
        queue.push({ topic: packet.topic, payload: packet.payload, expiresAtMs: packet.messageExpiry ?? Date.now() + this.storeTtlMs });
        this.inputQueues.set(id, queue);
      }
      await persistence.cleanSubscriptions(client);
    }
  }

  /** Stops for good: closes everything, fails pending method calls, removes temp files. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop().catch(() => undefined);
    this.closed = true;
    this.changes.emit('closing');
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const [rid, p] of this.pendingMethods) {
      clearTimeout(p.timer);
      this.pendingMethods.delete(rid);
      p.reject(new HubError(503, 503000, 'the local hub was closed'));
    }
    if (this.broker) await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    this.wss.close();
    if (this.workload) await this.workload.close().catch(() => undefined);
    if (this._caCertPath) await removeCaFile(this._caCertPath);
    else if (this.tempDir) await fs.rm(this.tempDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

// The local hub's public, typed surface: what tests, the CLI, the benchmark and the Node-RED "local hub"
// connection kind program against. The implementation lives in LocalHub.ts and its helpers.

/** A symmetric-key or X.509 identity known to the hub's registry. */
export interface IdentityAuth {
  /** base64 of 32 random bytes unless given. */
  primaryKey?: string;
  secondaryKey?: string;
  /** X.509: SHA-1 or SHA-256 thumbprints (hex, any case) of accepted self-signed client certificates. */
  x509Thumbprints?: string[];
  /** X.509: PEM of CAs whose signed client certificates (subject CN = client id) are accepted. */
  x509CaCerts?: string[];
}

export interface DeviceIdentity {
  deviceId: string;
  primaryKey: string;
  secondaryKey: string;
  x509Thumbprints: string[];
  /** `HostName=…;DeviceId=…;SharedAccessKey=…;GatewayHostName=localhost:<port>` */
  connectionString: string;
}

export interface ModuleIdentity {
  deviceId: string;
  moduleId: string;
  primaryKey: string;
  secondaryKey: string;
  x509Thumbprints: string[];
  /** IoT Edge module generation id (used by the workload API sign path). */
  generationId: string;
  /** `HostName=…;DeviceId=…;ModuleId=…;SharedAccessKey=…;GatewayHostName=localhost:<port>` */
  connectionString: string;
}

/** The `IOTEDGE_*` environment an IoT Edge runtime would give this module's container. */
export type EdgeEnvironment = Record<
  | 'IOTEDGE_WORKLOADURI'
  | 'IOTEDGE_DEVICEID'
  | 'IOTEDGE_MODULEID'
  | 'IOTEDGE_MODULEGENERATIONID'
  | 'IOTEDGE_IOTHUBHOSTNAME'
  | 'IOTEDGE_GATEWAYHOSTNAME'
  | 'IOTEDGE_APIVERSION'
  | 'IOTEDGE_AUTHSCHEME',
  string
>;

export interface LocalHubOptions {
  /** IoT Hub host name used in identities, SAS `sr` and usernames. Default `local-hub.azure-devices.net`. */
  hostName?: string;
  /** Bind address. Default `127.0.0.1`. */
  bindAddress?: string;
  /**
   * The TLS port. It serves MQTT over TLS, MQTT over WSS (`/$iothub/websocket`) and HTTPS (service REST API,
   * module-to-module methods), told apart by the first byte after the TLS handshake, so that one
   * `GatewayHostName=localhost:<port>` reaches everything. 0 = any free port (default).
   */
  port?: number;
  /**
   * Listen on IoT Hub's standard ports instead of `port`: MQTT over TLS on 8883, WSS and HTTPS on 443 (each port
   * serves all three, as the one port does). Connection strings and IoT Edge environments then name the gateway
   * without a port (`GatewayHostName=localhost`), as every Azure device SDK expects. Default false.
   * `start()` fails (EADDRINUSE, EACCES) when either port cannot be bound.
   */
  standardPorts?: boolean;
  /** Optional plain-TCP MQTT port for debugging; off unless set (0 = any free port). */
  plainMqttPort?: number;
  /** Unix socket path for the IoT Edge workload API. Default: a fresh file in the OS temp dir. `false` = off. */
  workloadSocketPath?: string | false;
  /**
   * A directory that keeps the hub's state across restarts: the CA and server certificate (`ca.pem` there is the CA
   * file), the service policy key, identities and their keys, twins with their versions and etags, the MQTT sessions
   * of `cleanSession: false` clients (subscriptions and undelivered QoS 1 messages) and the messages held for module
   * inputs. Created when missing; one hub at a time. Default: none, everything in memory.
   */
  stateDir?: string;
  /** PEM material to load instead of generating a CA + server certificate at start. */
  tls?: { caCert: string; serverCert: string; serverKey: string };
  /** Initial registry. Modules create their device when needed. */
  devices?: Array<{
    deviceId: string;
    auth?: IdentityAuth;
    modules?: Array<{ moduleId: string; auth?: IdentityAuth }>;
  }>;
  /** edgeHub routes, name → `FROM … [WHERE …] INTO …`. None = everything to `$upstream`. */
  routes?: Record<string, string>;
  /** Store-and-forward time to live for messages to offline module inputs, seconds. Default 7200. */
  storeAndForwardTtlSeconds?: number;
  /** Called with one human-readable line per event (connect, disconnect, upstream message, method call). */
  log?: (line: string) => void;
  /**
   * Entries kept in each `observed` array (connects, publishes, subscriptions, upstream), oldest dropped. Default
   * 10000.
   */
  observationLimit?: number;
  /**
   * How long a new connection may stay silent, in seconds: its TLS handshake, then its first byte, then (MQTT) its
   * CONNECT must each come within it, or the hub closes it (as IoT Hub does). Default 30.
   */
  connectTimeoutSeconds?: number;
}

export interface ConnectRecord {
  at: number;
  clientId: string;
  username: string;
  /** True when a password (SAS token) was sent; the token itself is kept only in `password`. */
  password?: string;
  x509: boolean;
  transport: 'mqtts' | 'wss' | 'mqtt';
  /** CONNACK return code the hub answered (0 = accepted). */
  returnCode: number;
}

export interface PublishRecord {
  at: number;
  clientId: string;
  topic: string;
  payload: Buffer;
  qos: number;
}

export interface SubscriptionRecord {
  at: number;
  clientId: string;
  topic: string;
  qos: number;
  /** QoS granted, or 128 (0x80) when refused by the ACL. */
  granted: number;
}

export interface HubMessage {
  /** Raw payload bytes. */
  body: Buffer;
  /** Application properties (decoded). */
  properties: Record<string, string>;
  /**
   * System properties (decoded), keyed by wire name: `$.mid`, `$.cid`, `$.uid`, `$.ct`, `$.ce`, `$.exp`, `$.on`,
   * `$.cdid`, `$.cmid`, …
   */
  systemProperties: Record<string, string>;
  /** Source identity. */
  deviceId: string;
  moduleId?: string;
  /** Output name (`$.on`) if any. */
  outputName?: string;
  enqueuedTime: string;
}

export interface MethodInvocation {
  methodName: string;
  payload?: unknown;
  responseTimeoutInSeconds?: number;
  connectTimeoutInSeconds?: number;
}

export interface MethodResult {
  status: number;
  payload: unknown;
}

/** An IoT Hub style failure: HTTP status plus the numeric IoT Hub error code (404103, 504101, 412…). */
export interface HubErrorShape extends Error {
  httpStatus: number;
  errorCode: number;
}

export interface Twin {
  deviceId: string;
  moduleId?: string;
  etag: string;
  version: number;
  tags: Record<string, unknown>;
  properties: {
    desired: Record<string, unknown> & { $version: number; $metadata?: unknown };
    reported: Record<string, unknown> & { $version: number; $metadata?: unknown };
  };
}

/** What a service-side twin update or replace may change. */
export interface TwinPatch {
  tags?: Record<string, unknown>;
  properties?: { desired?: Record<string, unknown> };
}

/**
 * Fault injection (local hub only, for tests and demos). Each call affects the hub from now on, until reset by
 * `clear()`.
 */
export interface HubFaults {
  /** Close one client's connection (by MQTT client id), abruptly. */
  dropConnection(clientId: string): void;
  /** Close every client connection, abruptly. */
  dropAll(): void;
  /** Answer the next `count` CONNECTs with this CONNACK return code. */
  refuseConnects(count: number, returnCode: number): void;
  /** Delay twin responses by `ms` (0 = no delay); `withhold` = never answer twin requests. */
  delayTwinResponses(ms: number): void;
  withholdTwinResponses(withhold: boolean): void;
  /** Answer the next `count` twin requests (GET and PATCH) with this status (e.g. 429, 500) and no change. */
  failTwinRequests(status: number, count: number): void;
  /** Delay delivery of method requests to modules by `ms`; `withhold` = never deliver (callers get 504101). */
  delayMethodRequests(ms: number): void;
  withholdMethodRequests(withhold: boolean): void;
  /** Behave as if this client's SAS token expired now: close its connection (401003). */
  expireToken(clientId: string): void;
  /** Remove every injected fault. */
  clear(): void;
}

/** What the hub saw, for tests. Arrays grow until `clear()`, up to `LocalHubOptions.observationLimit` entries each. */
export interface HubObservations {
  connects: ConnectRecord[];
  publishes: PublishRecord[];
  subscriptions: SubscriptionRecord[];
  upstream: HubMessage[];
  counters: {
    connects: number;
    refused: number;
    disconnects: number;
    publishes: number;
    upstream: number;
    routed: number;
    methodCalls: number;
  };
  clear(): void;
}

/** Events on `LocalHubApi.events`. */
export interface HubEvents {
  connect: [{ clientId: string; transport: ConnectRecord['transport'] }];
  disconnect: [{ clientId: string; reason: string }];
  upstream: [HubMessage];
  /** A message routed to a module input (delivered now or stored for later). */
  routed: [{ target: string; inputName: string; message: HubMessage }];
  method: [{ deviceId: string; moduleId?: string; methodName: string; status?: number; errorCode?: number }];
  twin: [{ deviceId: string; moduleId?: string; kind: 'get' | 'reported' | 'desired'; status: number }];
  /** A client's UNSUBSCRIBE was processed (the topic filters it dropped). */
  unsubscribe: [{ clientId: string; topics: string[] }];
}

/** The identity registry, as the service REST API reads and changes it. */
export interface HubRegistry {
  addDevice(deviceId: string, auth?: IdentityAuth): DeviceIdentity;
  /** Adds the module (and its device when missing); returns the existing one when already there. */
  addModule(deviceId: string, moduleId: string, auth?: IdentityAuth): ModuleIdentity;
  /** The device, or undefined when unknown. */
  getDevice(deviceId: string): DeviceIdentity | undefined;
  getModule(deviceId: string, moduleId: string): ModuleIdentity | undefined;
  /** Removes a device with its modules and their twins; closes their connections. */
  removeDevice(deviceId: string): void;
  removeModule(deviceId: string, moduleId: string): void;
  listDevices(): DeviceIdentity[];
  listModules(): ModuleIdentity[];
}

/** What the HTTPS service API (registry, twins, direct methods) serves from. */
export interface ServiceApiHub extends HubRegistry {
  readonly hostName: string;
  isConnected(clientId: string): boolean;
  getTwin(deviceId: string, moduleId?: string): Twin;
  /** Service-side desired update (merge; `null` deletes); pushes the patch to the connected module. */
  updateDesired(deviceId: string, moduleId: string | undefined, patch: Record<string, unknown>): Twin;
  /**
   * Service-side twin update: merges `tags` and `properties.desired` (`null` deletes), pushes desired changes to the
   * connected module. `ifMatch` = etag that must match (`*`/undefined = any).
   * Throws a HubErrorShape: 400 (invalid patch), 404 (unknown identity), 412 (etag mismatch).
   */
  updateTwin(deviceId: string, moduleId: string | undefined, patch: TwinPatch, ifMatch?: string): Twin;
  /**
   * Service-side twin replace: `tags` and `properties.desired` become exactly what is given; same errors as updateTwin.
   */
  replaceTwin(deviceId: string, moduleId: string | undefined, twin: TwinPatch, ifMatch?: string): Twin;
  /** Service-side direct method call; rejects with a HubErrorShape (404103, 504101…). */
  invokeMethod(deviceId: string, moduleId: string | undefined, invocation: MethodInvocation): Promise<MethodResult>;
}

/** What the IoT Edge workload API serves from: the trust bundle, the modules and the keys it signs with. */
export interface WorkloadHub {
  /** PEM of the CA that signed the server certificate. */
  readonly caCert: string;
  getModule(deviceId: string, moduleId: string): ModuleIdentity | undefined;
  listModules(): ModuleIdentity[];
}

/** What a discovery file announces of a running hub, so that other processes can join it (`writeDiscoveryFile`). */
export interface AnnouncedHub {
  readonly hostName: string;
  readonly port: number;
  readonly standardPorts: boolean;
  readonly caCertPath: string;
  readonly serviceConnectionString: string;
  readonly workloadUri?: string;
}

/** What the lease route book changes: the hub's edgeHub routes, replaced as one set. */
export interface RoutedHub {
  setRoutes(routes: Record<string, string>): void;
}

/** What keeps the last upstream messages of a hub in this process (`recentUpstream`): its upstream events. */
export interface UpstreamSource {
  readonly events: Pick<import('node:events').EventEmitter<HubEvents>, 'on'>;
}

/**
 * What a local-hub lease takes from a hub in this process: the module identity, the CA, the IoT Edge environment and
 * the routes.
 */
export interface LeasedHub extends RoutedHub, UpstreamSource, Pick<HubRegistry, 'addModule'> {
  readonly caCert: string;
  edgeEnvironment(deviceId: string, moduleId: string): EdgeEnvironment;
}

/** What the editor's Local hub panel shows and changes on a hub in this process: modules, twins, methods, upstream. */
export interface PanelHub extends ServiceApiHub, UpstreamSource {
  readonly port: number;
}

/** A hub an embedding program (`npm start`) shares in this process: leased by config nodes, shown by the panel. */
export interface SharedLocalHub extends LeasedHub, PanelHub {}

/** What `LocalHub.start()` resolves to: the whole hub. */
export interface LocalHubApi extends ServiceApiHub, WorkloadHub, AnnouncedHub, SharedLocalHub {
  readonly hostName: string;
  /** The TLS port (MQTT over TLS, WSS, HTTPS); 443 on the standard ports. */
  readonly port: number;
  /** The port MQTT over TLS clients dial: `port`, or 8883 on the standard ports. */
  readonly mqttPort: number;
  /** Whether the hub is on the standard ports (8883 and 443): then gateways are named without a port. */
  readonly standardPorts: boolean;
  readonly plainMqttPort?: number;
  /** PEM of the CA that signed the server certificate: give it to clients as `serverVerificationCert`. */
  readonly caCert: string;
  /** The CA PEM written to a file (for `EdgeModuleCACertificateFile` and the CLI). */
  readonly caCertPath: string;
  /** `unix:///…/workload.sock` when the workload API is on. */
  readonly workloadUri?: string;
  /** `HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…` */
  readonly serviceConnectionString: string;
  readonly faults: HubFaults;
  readonly observed: HubObservations;
  readonly events: import('node:events').EventEmitter<HubEvents>;

  edgeEnvironment(deviceId: string, moduleId: string): EdgeEnvironment;
  setRoutes(routes: Record<string, string>): void;
  /** Delivers a message to a module input as if a route had sent it (store-and-forward when offline). */
  sendToInput(
    deviceId: string,
    moduleId: string,
    inputName: string,
    message: { body: Buffer | string; properties?: Record<string, string>; systemProperties?: Record<string, string> },
  ): Promise<void>;

  /** Closes listeners and connections, keeps all state (registry, twins, sessions, stored messages). */
  stop(): Promise<void>;
  /**
   * Listens again on the same ports after `stop()`. `clearSessions: true` behaves like an edgeHub restart that loses
   * the MQTT sessions: every client's subscriptions are forgotten (clients must subscribe again); messages queued
   * for module inputs are kept by the hub and delivered once the module subscribes again.
   */
  restart(options?: { clearSessions?: boolean }): Promise<void>;
  /** Stops for good and removes temp files. */
  close(): Promise<void>;
}

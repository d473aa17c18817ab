// Fixtures for the local hub's tests: start a hub, connect raw mqtt.js clients as modules, wait for things, and the
// shared set-up of the oracle specs (a hub, the azure-iothub service objects, official module clients).
import assert from 'node:assert/strict';
import type https from 'node:https';
import { ModuleClient } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import { LocalHub } from '../../src/hub/LocalHub';
import { createSas } from '../../src/hub/sas';
import type { HubMessage, LocalHubOptions, ModuleIdentity } from '../../src/hub/types';
import { hubAgent } from '../helpers/hubHttp';
import { serviceOracle, type ServiceOracle } from '../helpers/hubOracle';
import { connectPacket } from '../helpers/mqttWire';
import { RawMqtt } from '../helpers/RawMqtt';
import { until } from '../helpers/until';

export const API = 'api-version=2019-10-01';

/** The api-version query the service SDK (azure-iothub) sends on REST calls. */
export const SERVICE_API = '?api-version=2021-04-12';

/** IoT Hub's legacy error body: `{"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:…"}`. */
export interface LegacyBody {
  Message: string;
  ExceptionMessage: string;
}

/** A JSON object nested `depth` levels deep (`{l1: {l2: … {leaf: 1}}}`), for IoT Hub's 10-level twin limit. */
export function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < depth; i++) v = { [`l${i}`]: v };
  return v;
}

/** Starts a hub without the workload API (these tests do not need it). */
export function startHub(options: LocalHubOptions = {}): Promise<LocalHub> {
  return LocalHub.start({ workloadSocketPath: false, ...options });
}

/** A SAS token for a module or device identity of the hub. */
export function tokenFor(
  hub: LocalHub,
  deviceId: string,
  moduleId: string | undefined,
  key: string,
  ttlSeconds = 3600,
  now?: number,
): string {
  const uri = `${hub.hostName}/devices/${deviceId}` + (moduleId === undefined ? '' : `/modules/${moduleId}`);
  return createSas(uri, key, ttlSeconds, now);
}

/** mqtt.js options for a module identity (valid unless overridden). */
export function moduleOptions(hub: LocalHub, m: ModuleIdentity, over: Partial<IClientOptions> = {}): IClientOptions {
  const clientId = `${m.deviceId}/${m.moduleId}`;
  return {
    clientId,
    username: `${hub.hostName}/${clientId}/?${API}`,
    password: tokenFor(hub, m.deviceId, m.moduleId, m.primaryKey),
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ca: hub.caCert,
    servername: 'localhost',
    rejectUnauthorized: true,
    ...over,
  };
}

const opened = new Set<MqttClient>();

/** Opens an mqtt.js client and resolves once CONNACK 0 arrived; rejects with the CONNACK error otherwise. */
export async function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, options);
  opened.add(client);
  client.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const onConnect = (): void => {
      client.off('error', onError);
      resolve();
    };
    const onError = (err: Error): void => {
      client.off('connect', onConnect);
      reject(err);
    };
    client.once('connect', onConnect);
    client.once('error', onError);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

/** Connects as a module over MQTT/TLS. */
export function connectModule(
  hub: LocalHub,
  m: ModuleIdentity,
  over: Partial<IClientOptions> = {},
): Promise<MqttClient> {
  return connect(`mqtts://127.0.0.1:${hub.port}`, moduleOptions(hub, m, over));
}

/** Tries a CONNECT and reports the CONNACK return code (0 = accepted); the client is closed afterwards. */
export async function connackCode(url: string, options: IClientOptions): Promise<number> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...options });
  opened.add(client);
  client.on('error', () => undefined);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      client.once('connect', () => resolve(0));
      client.stream?.on?.('error', () => undefined);
      client.on('packetreceive', (p: Packet) => {
        if (p.cmd === 'connack') resolve((p as { returnCode?: number }).returnCode ?? 0);
      });
      client.once('close', () => reject(new Error('closed without CONNACK')));
    });
    return code;
  } finally {
    await end(client);
  }
}

/** Ends a client without waiting for in-flight messages. */
export async function end(client: MqttClient): Promise<void> {
  opened.delete(client);
  // mqtt.js calls back also when the client has already ended.
  await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
}

/** Ends every client opened through these helpers (use in `afterEach`). */
export async function endAll(): Promise<void> {
  await Promise.all([...opened].map((c) => end(c)));
}

/** Resolves when `client` receives a message whose topic matches; rejects after `ms`. */
export function nextMessage(
  client: MqttClient,
  match: (topic: string) => boolean,
  ms = 5000,
): Promise<{ topic: string; payload: Buffer; packet: mqtt.IPublishPacket }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no matching message within ${ms} ms`));
    }, ms);
    const onMessage = (topic: string, payload: Buffer, packet: mqtt.IPublishPacket): void => {
      if (!match(topic)) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic, payload, packet });
    };
    client.on('message', onMessage);
  });
}

/** Resolves at the client's next 'close' (listening from now on); rejects after `ms`. */
export function onClose(client: MqttClient, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('close', onClosed);
      reject(new Error(`client did not close within ${ms} ms`));
    }, ms);
    const onClosed = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('close', onClosed);
  });
}

/** Resolves when the client's connection is closed (at once when it already is); rejects after `ms`. */
export async function closed(client: MqttClient, ms = 5000): Promise<void> {
  if (!client.connected) return;
  await onClose(client, ms);
}

/** Subscribes and resolves with the granted QoS list. */
export async function subscribe(client: MqttClient, topics: string | string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  // mqtt.js 5 turns a SUBACK holding 0x80 into an error that still carries the packet.
  return new Promise((resolve, reject) => {
    client.subscribe(topics, { qos }, (err, granted) => {
      const fromError = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted;
      if (fromError) return resolve(fromError);
      if (err) return reject(err);
      resolve((granted ?? []).map((g) => g.qos));
    });
  });
}

/** How an official SDK (azure-iothub, azure-iot-device) reports an HTTP failure. */
export interface SdkHttpError extends Error {
  response?: { statusCode: number };
  responseBody?: string;
}

/**
 * The IoT Hub numeric error code inside a JSON-style error body (`{"Message":"{\"errorCode\":…}"}`, direct methods).
 */
export function innerErrorCode(body: string | undefined): number {
  return (JSON.parse((JSON.parse(body ?? '{}') as LegacyBody).Message) as { errorCode: number }).errorCode;
}

/** What an oracle spec works with; valid inside its tests (the hooks of {@link useOracleHub} set it up). */
export interface OracleHub {
  readonly hub: LocalHub;
  readonly service: ServiceOracle;
  /** Keeps an official client to close after the test. */
  track(client: ModuleClient): ModuleClient;
  /** An https.Agent to the hub (for the SDKs' HTTP and WebSocket dialers), destroyed after the test. */
  agent(): https.Agent;
  /** Opens azure-iot-device's ModuleClient (MQTT) from the module's connection string, trusting the hub CA. */
  openModule(deviceId: string, moduleId: string, options?: Record<string, unknown>): Promise<ModuleClient>;
  /** Whether `clientId` holds a granted subscription whose filter contains `topicPart`. */
  subscribed(clientId: string, topicPart: string): () => boolean;
  /** Runs `send` and resolves with the `$upstream` message it caused. */
  upstreamAfter(send: () => Promise<unknown>): Promise<HubMessage>;
  /** CONNECTs of `clientId` the hub accepted, oldest first. */
  accepted(clientId: string): Array<{ password?: string; transport: string }>;
}

/**
 * Registers mocha hooks that start a LocalHub with `options` and azure-iothub objects on it (before), close the
 * official clients and agents each test opened (afterEach), and close everything (after).
 */
export function useOracleHub(options: LocalHubOptions): OracleHub {
  let hub: LocalHub | undefined;
  let service: ServiceOracle | undefined;
  const clients: ModuleClient[] = [];
  const agents: https.Agent[] = [];

  before(async () => {
    hub = await LocalHub.start(options);
    service = serviceOracle(hub.serviceConnectionString, hub.port, hub.caCert);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    for (const agent of agents.splice(0)) agent.destroy();
  });
  after(async () => {
    await service?.close();
    await hub?.close();
  });

  const fixture: OracleHub = {
    get hub() {
      if (!hub) throw new Error('the oracle hub is not started (use it inside tests)');
      return hub;
    },
    get service() {
      if (!service) throw new Error('the oracle hub is not started (use it inside tests)');
      return service;
    },
    track(client) {
      clients.push(client);
      return client;
    },
    agent() {
      const agent = hubAgent(fixture.hub.port, fixture.hub.caCert);
      agents.push(agent);
      return agent;
    },
    async openModule(deviceId, moduleId, extra = {}) {
      const client = fixture.track(
        ModuleClient.fromConnectionString(fixture.hub.getModule(deviceId, moduleId)!.connectionString, Mqtt),
      );
      await client.setOptions({ ca: fixture.hub.caCert, ...extra });
      await client.open();
      return client;
    },
    subscribed(clientId, topicPart) {
      return () =>
        fixture.hub.observed.subscriptions.some(
          (s) => s.clientId === clientId && s.topic.includes(topicPart) && s.granted !== 0x80,
        );
    },
    async upstreamAfter(send) {
      const before = fixture.hub.observed.upstream.length;
      await send();
      await until(() => fixture.hub.observed.upstream.length > before, 'the upstream message');
      return fixture.hub.observed.upstream[before]!;
    },
    accepted(clientId) {
      return fixture.hub.observed.connects.filter((c) => c.clientId === clientId && c.returnCode === 0);
    },
  };
  return fixture;
}

/**
 * A module's raw MQTT connection to `hub` (persistent session, SAS password), its CONNACK received and accepted; for
 * tests that write exact packet sequences.
 */
export async function openRawModule(hub: LocalHub, m: ModuleIdentity): Promise<RawMqtt> {
  const raw = await RawMqtt.open(hub.port, hub.caCert);
  const clientId = `${m.deviceId}/${m.moduleId}`;
  raw.write(
    connectPacket(clientId, `${hub.hostName}/${clientId}/?${API}`, tokenFor(hub, m.deviceId, m.moduleId, m.primaryKey)),
  );
  const connack = await raw.next((p) => p.type === 2, `CONNACK of ${clientId}`);
  assert.equal(connack.body[1], 0, `${clientId} accepted`);
  return raw;
}

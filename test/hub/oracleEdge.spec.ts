// Oracle: azure-iot-device as an IoT Edge module — ModuleClient.fromEnvironment through the hub's workload API, and
// MQTT over WebSockets (MqttWs) on the hub's one TLS port.
import assert from 'node:assert/strict';
import { Message, ModuleClient } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { LocalHub, type LocalHubApi } from '../../src/hub/index';
import { hubAgent } from '../helpers/hubHttp';
import { waitFor, withEnv } from '../helpers/hubOracle';

const DEVICE = 'edge-env';
// fromEnvironment prefers these over the IOTEDGE_* variables: they must be absent for the workload path.
const DEBUG_VARIABLES = ['EdgeHubConnectionString', 'IotHubConnectionString', 'EdgeModuleCACertificateFile'];

describe('oracle: IoT Edge environment and WebSockets with azure-iot-device', function () {
  let hub: LocalHubApi;
  const clients: ModuleClient[] = [];
  const agents: Array<{ destroy(): void }> = [];

  before(async () => {
    hub = await LocalHub.start({ devices: [{ deviceId: DEVICE, modules: [{ moduleId: 'envmod' }, { moduleId: 'wsmod' }, { moduleId: 'target' }] }] });
  });

  after(async () => {
    await hub.close();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    for (const agent of agents.splice(0)) agent.destroy();
  });

  function connectionsOf(clientId: string, transport: string): number {
    return hub.observed.connects.filter((c) => c.clientId === clientId && c.transport === transport && c.returnCode === 0).length;
  }

  it('ModuleClient.fromEnvironment(Mqtt) gets the CA and its SAS signatures from the workload API, then works', async () => {
    const env = hub.edgeEnvironment(DEVICE, 'envmod');
    assert.match(env.IOTEDGE_WORKLOADURI, /^unix:\/\//);
    const envBefore = { ...process.env };
    const client = await withEnv(env, DEBUG_VARIABLES, () => ModuleClient.fromEnvironment(Mqtt));
    clients.push(client);
    assert.deepEqual({ ...process.env }, envBefore, 'process.env restored');
    await client.open();
    assert.equal(connectionsOf(`${DEVICE}/envmod`, 'mqtts'), 1);
    const before = hub.observed.upstream.length;
    const message = new Message('from edge');
    message.properties.add('via', 'workload');
    await client.sendOutputEvent('telemetry', message);
    await waitFor(() => hub.observed.upstream.length > before, 'the upstream message');
    assert.equal(hub.observed.upstream.at(-1)!.properties.via, 'workload');
    const twin = await client.getTwin();
    assert.equal(typeof twin.properties.reported.$version, 'number');
  });

  it('a module from the environment invokes a method on another module (edgeHub module-to-module)', async () => {
    const target = ModuleClient.fromConnectionString(hub.getModule(DEVICE, 'target')!.connectionString, Mqtt);
    clients.push(target);
    await target.setOptions({ ca: hub.caCert });
    await target.open();
    target.onMethod('status', (_request, response) => {
      response?.send(200, { healthy: true }, () => undefined);
    });
    await waitFor(() => hub.observed.subscriptions.some((s) => s.clientId === `${DEVICE}/target` && s.topic.startsWith('$iothub/methods/POST')), 'the methods subscription');
    const caller = await withEnv(hub.edgeEnvironment(DEVICE, 'envmod'), DEBUG_VARIABLES, () => ModuleClient.fromEnvironment(Mqtt));
    clients.push(caller);
    const agent = hubAgent(hub.port, hub.caCert);
    agents.push(agent);
    await caller.setOptions({ ca: hub.caCert, http: { agent } });
    // Opened so that close() stops the SDK's token-renewal timer (it only does that on an MQTT disconnect).
    await caller.open();
    const result = await caller.invokeMethod(DEVICE, 'target', { methodName: 'status', payload: null, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 0 });
    assert.deepEqual(result, { status: 200, payload: { healthy: true } });
  });

  // MqttWs builds `wss://{GatewayHostName}:443/$iothub/websocket`, so a GatewayHostName that carries the port
  // (`localhost:<port>`) becomes `wss://localhost:<port>:443/…`, which mqtt.js 4 parses as port 443 with the path
  // `/:<port>/$iothub/websocket`. The SDK's own way out is `setOptions({ mqtt: { webSocketAgent } })`: the
  // connection string names the gateway without a port and the agent dials the hub's port.
  it('MqttWs with a connection string: GatewayHostName without port + webSocketAgent reaches /$iothub/websocket', async () => {
    const connectionString = hub.getModule(DEVICE, 'wsmod')!.connectionString.replace(/GatewayHostName=localhost:\d+/, 'GatewayHostName=localhost');
    const client = ModuleClient.fromConnectionString(connectionString, MqttWs);
    clients.push(client);
    const agent = hubAgent(hub.port, hub.caCert);
    agents.push(agent);
    await client.setOptions({ ca: hub.caCert, mqtt: { webSocketAgent: agent } });
    await client.open();
    assert.equal(connectionsOf(`${DEVICE}/wsmod`, 'wss'), 1);
    const twin = await client.getTwin();
    await new Promise<void>((resolve, reject) => {
      twin.properties.reported.update({ transport: 'wss' }, (err?: Error) => (err ? reject(err) : resolve()));
    });
    assert.equal(hub.getTwin(DEVICE, 'wsmod').properties.reported.transport, 'wss');
  });

  it('MqttWs from the environment (IOTEDGE_GATEWAYHOSTNAME without port + webSocketAgent)', async () => {
    const env = { ...hub.edgeEnvironment(DEVICE, 'envmod'), IOTEDGE_GATEWAYHOSTNAME: 'localhost' };
    const client = await withEnv(env, DEBUG_VARIABLES, () => ModuleClient.fromEnvironment(MqttWs));
    clients.push(client);
    const agent = hubAgent(hub.port, hub.caCert);
    agents.push(agent);
    await client.setOptions({ ca: hub.caCert, mqtt: { webSocketAgent: agent } });
    const wssBefore = connectionsOf(`${DEVICE}/envmod`, 'wss');
    await client.open();
    assert.equal(connectionsOf(`${DEVICE}/envmod`, 'wss'), wssBefore + 1);
    const before = hub.observed.upstream.length;
    await client.sendOutputEvent('telemetry', new Message('over wss'));
    await waitFor(() => hub.observed.upstream.length > before, 'the upstream message');
    assert.equal(hub.observed.upstream.at(-1)!.body.toString(), 'over wss');
  });
});

// Oracle: azure-iot-device as an IoT Edge module — ModuleClient.fromEnvironment through the hub's workload API, and
// MQTT over WebSockets (MqttWs) on the hub's one TLS port.
import assert from 'node:assert/strict';
import { Message, ModuleClient } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { withEnv } from '../helpers/hubOracle';
import { useOracleHub } from './support';
import { until } from '../helpers/until';

/** azure-iot-device types the twin's reported properties as any; this is the part the tests call. */
type ReportedProperties = { update(patch: object, done: (err?: Error) => void): void };

const DEVICE = 'edge-env';
// fromEnvironment prefers these over the IOTEDGE_* variables: they must be absent for the workload path.
const DEBUG_VARIABLES = ['EdgeHubConnectionString', 'IotHubConnectionString', 'EdgeModuleCACertificateFile'];

describe('oracle: IoT Edge environment and WebSockets with azure-iot-device', function () {
  const oracle = useOracleHub({
    devices: [{ deviceId: DEVICE, modules: [{ moduleId: 'envmod' }, { moduleId: 'wsmod' }, { moduleId: 'target' }] }],
  });

  function connectionsOf(clientId: string, transport: string): number {
    return oracle.accepted(clientId).filter((c) => c.transport === transport).length;
  }

  /** ModuleClient.fromEnvironment with the module's IOTEDGE_* variables (and `over`), kept for closing. */
  async function fromEnvironment(
    transport: typeof Mqtt | typeof MqttWs,
    over: Record<string, string> = {},
  ): Promise<ModuleClient> {
    const env = { ...oracle.hub.edgeEnvironment(DEVICE, 'envmod'), ...over };
    return oracle.track(await withEnv(env, DEBUG_VARIABLES, () => ModuleClient.fromEnvironment(transport)));
  }

  it('ModuleClient.fromEnvironment(Mqtt) gets the CA and its SAS signatures from the workload API, then works', async () => {
    assert.match(oracle.hub.edgeEnvironment(DEVICE, 'envmod').IOTEDGE_WORKLOADURI, /^unix:\/\//);
    const envBefore = { ...process.env };
    const client = await fromEnvironment(Mqtt);
    assert.deepEqual({ ...process.env }, envBefore, 'process.env restored');
    await client.open();
    assert.equal(connectionsOf(`${DEVICE}/envmod`, 'mqtts'), 1);
    const message = new Message('from edge');
    message.properties.add('via', 'workload');
    const up = await oracle.upstreamAfter(() => client.sendOutputEvent('telemetry', message));
    assert.equal(up.properties.via, 'workload');
    const twin = await client.getTwin();
    assert.equal(typeof twin.properties.reported.$version, 'number');
  });

  it('a module from the environment invokes a method on another module (edgeHub module-to-module)', async () => {
    const target = await oracle.openModule(DEVICE, 'target');
    target.onMethod('status', (_request, response) => {
      response?.send(200, { healthy: true }, () => undefined);
    });
    await until(oracle.subscribed(`${DEVICE}/target`, '$iothub/methods/POST'), 'the methods subscription');
    const caller = await fromEnvironment(Mqtt);
    await caller.setOptions({ ca: oracle.hub.caCert, http: { agent: oracle.agent() } });
    // Opened so that close() stops the SDK's token-renewal timer (it only does that on an MQTT disconnect).
    await caller.open();
    const result = await caller.invokeMethod(DEVICE, 'target', {
      methodName: 'status',
      payload: null,
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 0,
    });
    assert.deepEqual(result, { status: 200, payload: { healthy: true } });
  });

  // MqttWs builds `wss://{GatewayHostName}:443/$iothub/websocket`, so a GatewayHostName that carries the port
  // (`localhost:<port>`) becomes `wss://localhost:<port>:443/…`, which mqtt.js 4 parses as port 443 with the path
  // `/:<port>/$iothub/websocket`. The SDK's own way out is `setOptions({ mqtt: { webSocketAgent } })`: the
  // connection string names the gateway without a port and the agent dials the hub's port.
  it('MqttWs with a connection string: GatewayHostName without port + webSocketAgent reaches /$iothub/websocket', async () => {
    const { hub } = oracle;
    const connectionString = hub
      .getModule(DEVICE, 'wsmod')!
      .connectionString.replace(/GatewayHostName=localhost:\d+/, 'GatewayHostName=localhost');
    const client = oracle.track(ModuleClient.fromConnectionString(connectionString, MqttWs));
    await client.setOptions({ ca: hub.caCert, mqtt: { webSocketAgent: oracle.agent() } });
    await client.open();
    assert.equal(connectionsOf(`${DEVICE}/wsmod`, 'wss'), 1);
    const twin = await client.getTwin();
    await new Promise<void>((resolve, reject) => {
      (twin.properties.reported as ReportedProperties).update({ transport: 'wss' }, (err?: Error) =>
        err ? reject(err) : resolve(),
      );
    });
    assert.equal(hub.getTwin(DEVICE, 'wsmod').properties.reported.transport, 'wss');
  });

  it('MqttWs from the environment (IOTEDGE_GATEWAYHOSTNAME without port + webSocketAgent)', async () => {
    const client = await fromEnvironment(MqttWs, { IOTEDGE_GATEWAYHOSTNAME: 'localhost' });
    await client.setOptions({ ca: oracle.hub.caCert, mqtt: { webSocketAgent: oracle.agent() } });
    const wssBefore = connectionsOf(`${DEVICE}/envmod`, 'wss');
    await client.open();
    assert.equal(connectionsOf(`${DEVICE}/envmod`, 'wss'), wssBefore + 1);
    const up = await oracle.upstreamAfter(() => client.sendOutputEvent('telemetry', new Message('over wss')));
    assert.equal(up.body.toString(), 'over wss');
  });
});

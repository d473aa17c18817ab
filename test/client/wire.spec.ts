// Wire parity with the Python SDK: CONNECT (client id, username), the topics and property bags our client publishes and
// the subscriptions it makes, checked in what the local hub observed.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import https from 'node:https';
import os from 'node:os';
import mqttPacket from 'mqtt-packet';
import { WebSocketServer } from 'ws';
import type { LocalHub } from '../../src/hub';
import { generateHubTls } from '../../src/hub/certs';
import { IoTHubModuleClient, Message, MethodResponse, userAgentString } from '../../src/index';
import { clientFor, useLocalHub } from './clientSupport';
import pkg from '../../package.json';
import { until } from '../helpers/until';

/** Python `quote(s, safe='')`, written out independently of the client's encoder for this check. */
function pyQuote(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : '%' + b.toString(16).toUpperCase().padStart(2, '0'),
    )
    .join('');
}

describe('client wire parity with the Python SDK', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  it('CONNECT: client id {d}/{m}, username with api-version 2019-10-01 and DeviceClientType = user agent + productInfo', async () => {
    const client = clientFor(hub, 'wdev', 'wmod', { productInfo: 'my product/1 (é)' });
    await client.connect();
    const ua = `node-red-contrib-azure-iot-module/${pkg.version}(${process.versions.node};${os.type()} ${os.release()};${os.arch()})`;
    assert.equal(userAgentString(), ua);
    const c = hub.observed.connects.at(-1)!;
    assert.equal(c.clientId, 'wdev/wmod');
    assert.equal(
      c.username,
      `${hub.hostName}/wdev/wmod/?api-version=2019-10-01&DeviceClientType=${pyQuote(ua + 'my product/1 (é)')}`,
    );
    assert.match(c.username, /DeviceClientType=node-red-contrib-azure-iot-module%2F\d+\.\d+\.\d+%28/);
    assert.match(c.username, /my%20product%2F1%20%28%C3%A9%29$/);
    assert.match(
      c.password!,
      /^SharedAccessSignature sr=local-hub\.azure-devices\.net%2Fdevices%2Fwdev%2Fmodules%2Fwmod&sig=[^&]+&se=\d+$/,
    );
    assert.equal(c.transport, 'mqtts');
  });

  it('CONNECT with a dtmi productInfo: api-version 2020-09-30 and model-id; the gateway name never appears', async () => {
    const client = clientFor(hub, 'wdev', 'wdtmi', { productInfo: 'dtmi:com:example:Thermostat;1' });
    await client.connect();
    const c = hub.observed.connects.at(-1)!;
    assert.equal(
      c.username,
      `${hub.hostName}/wdev/wdtmi/?api-version=2020-09-30&DeviceClientType=${pyQuote(userAgentString())}&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1`,
    );
    assert.ok(!c.username.includes('localhost'));
  });

  it('over WebSockets sends its CONNECT as one whole frame (not one frame per piece mqtt-packet writes)', async () => {
    const tls = await generateHubTls();
    const server = https.createServer({ cert: tls.serverCert, key: tls.serverKey });
    const wss = new WebSocketServer({ server, path: '/$iothub/websocket' });
    const firstFrame = new Promise<Buffer>((resolve) => {
      wss.on('connection', (ws) => {
        ws.once('message', (data: Buffer) => {
          resolve(data);
          ws.terminate();
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, resolve)); // all addresses: `localhost` may resolve to ::1
    const { port } = server.address() as { port: number };
    const key = crypto.randomBytes(32).toString('base64');
    const client = IoTHubModuleClient.createFromConnectionString(
      `HostName=frames.azure-devices.net;DeviceId=d;ModuleId=m;SharedAccessKey=${key};GatewayHostName=localhost:${port}`,
      {
        serverVerificationCert: tls.caCert,
        websockets: true,
        connectionRetry: false,
      },
    );
    try {
      const connecting = client.connect().catch(() => undefined); // the server hangs up after the first frame
      const frame = await firstFrame;
      const packets: mqttPacket.Packet[] = [];
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (packet) => packets.push(packet));
      const left = parser.parse(frame);
      assert.deepEqual([packets.map((p) => p.cmd), left], [['connect'], 0]);
      assert.equal((packets[0] as mqttPacket.IConnectPacket).clientId, 'd/m');
      await connecting;
    } finally {
      await client.shutdown();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("publishes exactly the Python SDK's topics and property bags, QoS 1", async () => {
    const client = clientFor(hub, 'wdev', 'wpub');
    client.onMethodRequestReceived = async (req) =>
      client.sendMethodResponse(new MethodResponse(req.requestId, 200, { ok: true }));
    await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'wdev/wpub'), 'methods subscription');
    const m = new Message('{"a":1}', { messageId: 'id 1', contentType: 'application/json', contentEncoding: 'utf-8' });
    m.correlationId = 'c/1';
    m.customProperties = { zeta: 'z', 'al pha': "!*'()", ü: '$+%&#' };
    await client.sendMessage(m);
    await client.sendMessageToOutput(new Message('x'), 'out$1');
    await client.getTwin();
    await client.patchTwinReportedProperties({ r: 1 });
    await hub.invokeMethod('wdev', 'wpub', { methodName: 'go', responseTimeoutInSeconds: 5 });
    const pubs = hub.observed.publishes.filter((p) => p.clientId === 'wdev/wpub');
    assert.ok(pubs.every((p) => p.qos === 1));
    const topics = pubs.map((p) => p.topic);
    assert.equal(
      topics[0],
      'devices/wdev/modules/wpub/messages/events/%24.mid=id%201&%24.cid=c%2F1&%24.ct=application%2Fjson&%24.ce=utf-8' +
        '&al%20pha=%21%2A%27%28%29&zeta=z&%C3%BC=%24%2B%25%26%23',
    );
    assert.equal(topics[1], 'devices/wdev/modules/wpub/messages/events/%24.on=out%241');
    assert.match(
      topics[2]!,
      /^\$iothub\/twin\/GET\/\?\$rid=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(pubs[2]!.payload.toString(), ' ');
    assert.match(topics[3]!, /^\$iothub\/twin\/PATCH\/properties\/reported\/\?\$rid=[0-9a-f-]{36}$/);
    assert.equal(pubs[3]!.payload.toString(), '{"r":1}');
    assert.match(topics[4]!, /^\$iothub\/methods\/res\/200\/\?\$rid=[0-9a-f]+$/);
    assert.equal(pubs[4]!.payload.toString(), '{"ok":true}');
    assert.equal(pubs[0]!.payload.toString(), '{"a":1}');
  });

  it("subscribes with QoS 1 to the Python SDK's filters, and restores them with its own SUBSCRIBE after a reconnect", async () => {
    const client = clientFor(hub, 'wdev', 'wsub', { connectionRetryInterval: 1 });
    client.onMessageReceived = () => undefined;
    client.onMethodRequestReceived = () => undefined;
    client.onTwinDesiredPropertiesPatchReceived = () => undefined;
    await until(
      () =>
        new Set(hub.observed.subscriptions.filter((s) => s.clientId === 'wdev/wsub').map((s) => s.topic)).size === 4,
      'subscriptions',
    );
    const subs = hub.observed.subscriptions.filter((s) => s.clientId === 'wdev/wsub');
    assert.ok(subs.every((s) => s.qos === 1 && s.granted === 1));
    assert.deepEqual([...new Set(subs.map((s) => s.topic))].sort(), [
      '$iothub/methods/POST/#',
      '$iothub/twin/PATCH/properties/desired/#',
      '$iothub/twin/res/#',
      'devices/wdev/modules/wsub/inputs/#',
    ]);
    hub.observed.clear();
    hub.faults.dropConnection('wdev/wsub');
    await until(() => hub.observed.connects.some((c) => c.clientId === 'wdev/wsub' && c.returnCode === 0), 'reconnect');
    // After the reconnect every filter is subscribed again; each appears at least once per restore source.
    await until(
      () =>
        new Set(hub.observed.subscriptions.filter((s) => s.clientId === 'wdev/wsub').map((s) => s.topic)).size === 4,
      'restored',
    );
    // ensureDesiredProperties then re-reads the twin.
    await until(
      () => hub.observed.publishes.some((p) => p.clientId === 'wdev/wsub' && p.topic.startsWith('$iothub/twin/GET/')),
      'twin GET after reconnect',
    );
  });
});

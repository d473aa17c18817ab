// The local hub's lifecycle and endpoints: stop/restart keeping state and sessions, WSS, HTTPS on the same port,
// the plain MQTT port, the workload socket, identities and connection strings.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';
import { LocalHub } from '../../src/hub/LocalHub';
import { generateHubTls } from '../../src/hub/certs';
import { LocalHub as FromIndex } from '../../src/hub/index';
import { HubError } from '../../src/hub/hubErrors';
import { moduleWorkloadSocketPath } from '../../src/hub/localIdentity';
import {
  API,
  connect,
  connectModule,
  endAll,
  moduleOptions,
  nextMessage,
  startHub,
  subscribe,
  tokenFor,
} from './support';
import { until } from '../helpers/until';

function refusesTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('local hub: lifecycle and endpoints', () => {
  let hub: LocalHub | undefined;
  afterEach(() => endAll());
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('is exported from src/hub/index.ts', () => assert.equal(FromIndex, LocalHub));

  it('makes identities with keys, generation ids and connection strings', async () => {
    hub = await startHub({
      hostName: 'my-hub.azure-devices.net',
      devices: [{ deviceId: 'd0', modules: [{ moduleId: 'm0' }] }],
    });
    const m = hub.getModule('d0', 'm0')!;
    assert.equal(Buffer.from(m.primaryKey, 'base64').length, 32);
    assert.notEqual(m.primaryKey, m.secondaryKey);
    assert.match(m.generationId, /^[0-9a-f]+$/);
    assert.equal(
      m.connectionString,
      `HostName=my-hub.azure-devices.net;DeviceId=d0;ModuleId=m0;SharedAccessKey=${m.primaryKey};GatewayHostName=localhost:${hub.port}`,
    );
    assert.equal(hub.addModule('d0', 'm0').primaryKey, m.primaryKey, 'addModule returns the existing module');
    const given = hub.addModule('d1', 'm1', { primaryKey: Buffer.alloc(32, 1).toString('base64') });
    assert.equal(given.primaryKey, Buffer.alloc(32, 1).toString('base64'));
    assert.deepEqual(
      hub.listDevices().map((d) => d.deviceId),
      ['d0', 'd1'],
    );
    assert.deepEqual(
      hub.listModules().map((x) => `${x.deviceId}/${x.moduleId}`),
      ['d0/m0', 'd1/m1'],
    );
    assert.match(
      hub.getDevice('d1')!.connectionString,
      /^HostName=my-hub\.azure-devices\.net;DeviceId=d1;SharedAccessKey=[^;]+;GatewayHostName=localhost:\d+$/,
    );
    assert.match(
      hub.serviceConnectionString,
      /^HostName=my-hub\.azure-devices\.net;SharedAccessKeyName=iothubowner;SharedAccessKey=[A-Za-z0-9+/]{43}=$/,
    );
    assert.throws(() => hub!.addModule('d0', 'bad/id'), HubError);
    hub.removeModule('d1', 'm1');
    assert.equal(hub.getModule('d1', 'm1'), undefined);
    assert.throws(() => hub!.getTwin('d1', 'm1'), HubError);
    hub.removeDevice('d0');
    assert.equal(hub.getDevice('d0'), undefined);
    assert.equal(hub.getModule('d0', 'm0'), undefined);
  });

  it('writes the CA to caCertPath, runs the workload socket and gives the edge environment', async () => {
    hub = await LocalHub.start();
    assert.equal(fs.readFileSync(hub.caCertPath, 'utf8'), hub.caCert);
    assert.match(hub.workloadUri ?? '', /^unix:\/\/\/.+\.sock$/);
    const socketPath = hub.workloadUri!.slice('unix://'.length);
    assert.ok(fs.existsSync(socketPath));
    const m = hub.addModule('edge1', 'mod');
    const moduleSocket = moduleWorkloadSocketPath(socketPath, 'edge1', 'mod');
    assert.ok(fs.existsSync(moduleSocket), 'the module has a workload socket of its own');
    assert.deepEqual(hub.edgeEnvironment('edge1', 'mod'), {
      IOTEDGE_WORKLOADURI: `unix://${moduleSocket}`,
      IOTEDGE_DEVICEID: 'edge1',
      IOTEDGE_MODULEID: 'mod',
      IOTEDGE_MODULEGENERATIONID: m.generationId,
      IOTEDGE_IOTHUBHOSTNAME: hub.hostName,
      IOTEDGE_GATEWAYHOSTNAME: `localhost:${hub.port}`,
      IOTEDGE_APIVERSION: '2019-01-30',
      IOTEDGE_AUTHSCHEME: 'sasToken',
    });
    assert.throws(
      () => hub!.edgeEnvironment('edge1', 'nope'),
      (e: HubError) => e.httpStatus === 404,
    );
    const caPath = hub.caCertPath;
    await hub.close();
    hub = undefined;
    assert.equal(fs.existsSync(caPath), false);
    assert.equal(fs.existsSync(socketPath), false);
  });

  it('loads TLS material from options.tls', async () => {
    const material = await generateHubTls('Given');
    hub = await startHub({
      tls: { caCert: material.caCert, serverCert: material.serverCert, serverKey: material.serverKey },
    });
    assert.equal(hub.caCert, material.caCert);
    const m = hub.addModule('d', 'm');
    await connectModule(hub, m);
  });

  it('serves MQTT over WSS at /$iothub/websocket', async () => {
    hub = await startHub();
    const m = hub.addModule('d', 'ws');
    const c = await connect(
      `wss://localhost:${hub.port}/$iothub/websocket`,
      moduleOptions(hub, m, { wsOptions: { ca: hub.caCert } }),
    );
    assert.equal(hub.observed.connects.at(-1)!.transport, 'wss');
    await subscribe(c, '$iothub/twin/res/#');
    const res = nextMessage(c, (t) => t.startsWith('$iothub/twin/res/200/'));
    await c.publishAsync('$iothub/twin/GET/?$rid=1', ' ', { qos: 1 });
    await res;
  });

  it('over WSS answers a CONNECT with the CONNACK in one WebSocket frame (not one frame per piece written)', async () => {
    hub = await startHub();
    const m = hub.addModule('d', 'frames');
    const options = moduleOptions(hub, m);
    const connectPacket = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      keepalive: 60,
      clientId: options.clientId!,
      username: options.username!,
      password: Buffer.from(String(options.password)),
    });
    const ws = new WebSocket(`wss://localhost:${hub.port}/$iothub/websocket`, ['mqtt'], { ca: hub.caCert });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const frames: Buffer[] = [];
      const first = new Promise<void>((resolve) =>
        ws.on('message', (data: Buffer) => frames.push(data) === 1 && resolve()),
      );
      ws.send(connectPacket);
      await first;
      assert.deepEqual([...frames[0]!], [0x20, 2, 0, 0], 'CONNACK accepted, whole, in the first frame');
      assert.equal(frames.length, 1);
    } finally {
      ws.terminate();
    }
  });

  it('closes connections that stay silent: no TLS at all, half a ClientHello, no first byte, no CONNECT (connectTimeoutSeconds)', async () => {
    hub = await startHub({ connectTimeoutSeconds: 1 });
    const port = hub.port;
    const ca = hub.caCert;
    // A connection that said what it had to say may then stay quiet far longer (its keep-alive is 60 s).
    const idle = await connectModule(hub, hub.addModule('d', 'idle'));
    const closedWithin = async (socket: net.Socket, what: string): Promise<void> => {
      const started = Date.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: still open after 5 s`)), 5_000);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      assert.ok(Date.now() - started >= 500, `${what}: closed at once, not by the timeout`);
    };
    const tcp = net.connect(port, '127.0.0.1');
    tcp.on('error', () => undefined);
    await closedWithin(tcp, 'no TLS handshake');
    const halfHello = net.connect(port, '127.0.0.1', () =>
      halfHello.write(Buffer.from([0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00])),
    );
    halfHello.on('error', () => undefined);
    await closedWithin(halfHello, 'the start of a ClientHello, then nothing');
    const silent = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca });
    silent.on('error', () => undefined);
    await closedWithin(silent, 'TLS, then nothing');
    const noConnect = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }, () =>
      noConnect.write(Buffer.from([0x10])),
    );
    noConnect.on('error', () => undefined);
    await closedWithin(noConnect, 'the first byte of a CONNECT, then nothing');
    assert.ok(idle.connected && hub.isConnected('d/idle'), 'the idle MQTT connection stays');
    await subscribe(idle, '$iothub/twin/res/#');
    const res = nextMessage(idle, (t) => t.startsWith('$iothub/twin/res/200/'));
    await idle.publishAsync('$iothub/twin/GET/?$rid=1', ' ', { qos: 1 });
    await res;
  });

  it('serves HTTPS on the MQTT port (service API handler)', async () => {
    hub = await startHub();
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port: hub!.port,
            path: '/devices/x?api-version=2021-04-12',
            ca: hub!.caCert,
            servername: 'localhost',
            agent: false,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        )
        .on('error', reject);
    });
    assert.ok(status >= 400 && status < 500, `got ${status}`);
  });

  it('answers 404 to a WebSocket upgrade on another path', async () => {
    hub = await startHub();
    const m = hub.addModule('d', 'ws');
    await assert.rejects(
      connect(`wss://localhost:${hub.port}/elsewhere`, moduleOptions(hub, m, { wsOptions: { ca: hub.caCert } })),
    );
  });

  it('offers a plain MQTT port when asked', async () => {
    hub = await startHub({ plainMqttPort: 0 });
    assert.ok(hub.plainMqttPort && hub.plainMqttPort !== hub.port);
    const m = hub.addModule('d', 'plain');
    await connect(`mqtt://127.0.0.1:${hub.plainMqttPort}`, moduleOptions(hub, m));
    assert.equal(hub.observed.connects.at(-1)!.transport, 'mqtt');
  });

  it('stop() closes connections and listeners, restart() listens on the same ports with state and sessions kept', async () => {
    hub = await startHub({
      plainMqttPort: 0,
      routes: { r: 'FROM /messages/modules/sensor/* INTO BrokeredEndpoint("/modules/filter/inputs/in")' },
    });
    const filter = hub.addModule('d', 'filter');
    const port = hub.port;
    const plain = hub.plainMqttPort!;
    const c = await connectModule(hub, filter, { clean: false });
    await subscribe(c, [
      'devices/d/modules/filter/inputs/#',
      '$iothub/methods/POST/#',
      '$iothub/twin/PATCH/properties/desired/#',
    ]);
    await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=1', '{"kept":true}', { qos: 1 });
    await until(() => hub!.getTwin('d', 'filter').properties.reported.$version === 2);
    const closedC = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await hub.stop();
    await closedC;
    assert.equal(hub.isConnected('d/filter'), false);
    assert.ok(await refusesTcp(port));
    assert.ok(await refusesTcp(plain));
    c.end(true);
    // While stopped: a message for the offline module is kept in its session.
    await hub.sendToInput('d', 'filter', 'in', { body: 'while stopped' });
    await hub.restart();
    assert.equal(hub.port, port);
    assert.equal(hub.plainMqttPort, plain);
    assert.equal(hub.getTwin('d', 'filter').properties.reported.kept, true);
    // Reconnect with the same session, without subscribing again.
    const back = mqtt.connect(
      `mqtts://127.0.0.1:${port}`,
      moduleOptions(hub, filter, { clean: false, password: tokenFor(hub, 'd', 'filter', filter.primaryKey) }),
    );
    back.on('error', () => undefined);
    const stored = nextMessage(back, (t) => t.startsWith('devices/d/modules/filter/inputs/in'));
    assert.equal((await stored).payload.toString(), 'while stopped');
    await until(() => hub!.isConnected('d/filter'));
    // Restored subscriptions: methods and desired patches reach the module.
    const req = nextMessage(back, (t) => t.startsWith('$iothub/methods/POST/'));
    const result = hub.invokeMethod('d', 'filter', { methodName: 'after' });
    await back.publishAsync(`$iothub/methods/res/200/?$rid=${(await req).topic.split('$rid=')[1]}`, '"ok"', { qos: 1 });
    assert.deepEqual(await result, { status: 200, payload: 'ok' });
    const desired = nextMessage(back, (t) => t.startsWith('$iothub/twin/PATCH/properties/desired/'));
    hub.updateDesired('d', 'filter', { x: 1 });
    assert.deepEqual(JSON.parse((await desired).payload.toString()), { x: 1, $version: 2 });
    back.end(true);
  });

  it('restart({ clearSessions: true }) loses subscriptions like an edgeHub restart but keeps queued input messages', async () => {
    hub = await startHub();
    const filter = hub.addModule('d', 'filter');
    const c = await connectModule(hub, filter, { clean: false });
    await subscribe(c, ['devices/d/modules/filter/inputs/#', '$iothub/methods/POST/#']);
    await hub.stop();
    c.end(true);
    await hub.sendToInput('d', 'filter', 'in', { body: 'kept by the hub' });
    await hub.restart({ clearSessions: true });
    const back = mqtt.connect(`mqtts://127.0.0.1:${hub.port}`, moduleOptions(hub, filter, { clean: false }));
    back.on('error', () => undefined);
    const got: string[] = [];
    back.on('message', (_t, p) => got.push(p.toString()));
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve) =>
      back.once('connect', (p) => resolve(p)),
    );
    assert.equal(connack.sessionPresent, false);
    await assert.rejects(hub.invokeMethod('d', 'filter', { methodName: 'm' }), (e: HubError) => e.errorCode === 404103);
    assert.deepEqual(got, []);
    const stored = nextMessage(back, (t) => t.startsWith('devices/d/modules/filter/inputs/in'));
    await subscribe(back, 'devices/d/modules/filter/inputs/#');
    assert.equal((await stored).payload.toString(), 'kept by the hub');
    back.end(true);
  });

  it('start() rejects when a port is taken and releases what it opened', async () => {
    hub = await startHub();
    await assert.rejects(startHub({ plainMqttPort: hub.port }), /EADDRINUSE/);
    await assert.rejects(startHub({ port: hub.port }), /EADDRINUSE/);
  });

  it('start() rejects a bad route', async () => {
    await assert.rejects(startHub({ routes: { bad: 'FROM /messages/* INTO nowhere' } }), /bad/);
  });

  it('close() fails pending method calls', async () => {
    hub = await startHub();
    const m = hub.addModule('d', 'm');
    const c = await connectModule(hub, m);
    await subscribe(c, '$iothub/methods/POST/#');
    const failed = assert.rejects(
      hub.invokeMethod('d', 'm', { methodName: 'never' }),
      (e: HubError) => e.httpStatus === 503,
    );
    await until(() => hub!.observed.counters.methodCalls === 1);
    await hub.close();
    hub = undefined;
    await failed;
  });

  it('tells the username rules apart for a device identity', async () => {
    hub = await startHub();
    const d = hub.addDevice('dev');
    await connect(`mqtts://127.0.0.1:${hub.port}`, {
      clientId: 'dev',
      username: `${hub.hostName}/dev/?${API}`,
      password: tokenFor(hub, 'dev', undefined, d.primaryKey),
      protocolVersion: 4,
      reconnectPeriod: 0,
      ca: hub.caCert,
      servername: 'localhost',
    });
    assert.ok(hub.isConnected('dev'));
  });
});

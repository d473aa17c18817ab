// Telemetry and edgeHub routing on the local hub over real sockets: $upstream, module inputs, store-and-forward.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { LocalHub } from '../../src/hub/LocalHub';
import { RouteSyntaxError } from '../../src/hub/routes';
import { MAX_MESSAGE_BYTES, messageSize } from '../../src/hub/telemetryMessages';
import type { HubMessage, ModuleIdentity } from '../../src/hub/types';
import { connectModule, end, endAll, moduleOptions, nextMessage, startHub, subscribe } from './support';
import { until } from '../helpers/until';

const ROUTES = {
  toFilter:
    'FROM /messages/modules/sensor/outputs/temp WHERE alert = \'true\' INTO BrokeredEndpoint("/modules/filter/inputs/in1")',
  toCloud: 'FROM /messages/modules/filter/* INTO $upstream',
  deviceToCloud: 'FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO $upstream',
};

describe('local hub: telemetry and routes', () => {
  let hub: LocalHub;
  let sensor: ModuleIdentity;
  let filter: ModuleIdentity;

  afterEach(() => endAll());
  afterEach(() => hub?.close());

  async function setup(options: Parameters<typeof startHub>[0] = {}): Promise<void> {
    hub = await startHub(options);
    sensor = hub.addModule('dev1', 'sensor');
    filter = hub.addModule('dev1', 'filter');
  }

  /** Connects without waiting, with a message listener attached before CONNACK (for stored messages). */
  function connectCollecting(
    m: ModuleIdentity,
    clean: boolean,
  ): { client: MqttClient; messages: Array<{ topic: string; payload: Buffer; qos: number }>; ready: Promise<void> } {
    const client = mqtt.connect(`mqtts://127.0.0.1:${hub.port}`, moduleOptions(hub, m, { clean }));
    client.on('error', () => undefined);
    const messages: Array<{ topic: string; payload: Buffer; qos: number }> = [];
    client.on('message', (topic, payload, packet) => messages.push({ topic, payload, qos: packet.qos }));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no CONNACK')), 5000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return { client, messages, ready };
  }

  it('with no routes sends everything upstream, stamped with the source', async () => {
    await setup();
    const c = await connectModule(hub, sensor);
    const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(5000) });
    await c.publishAsync(
      'devices/dev1/modules/sensor/messages/events/%24.on=temp&%24.mid=m%201&%24.cdid=spoof&a%20b=c%2Fd',
      'hello',
      { qos: 1 },
    );
    const [msg] = (await upstream) as [HubMessage];
    assert.equal(msg.body.toString(), 'hello');
    assert.equal(msg.deviceId, 'dev1');
    assert.equal(msg.moduleId, 'sensor');
    assert.equal(msg.outputName, 'temp');
    assert.deepEqual(msg.properties, { 'a b': 'c/d' });
    assert.deepEqual(msg.systemProperties, { '$.on': 'temp', '$.mid': 'm 1', '$.cdid': 'dev1', '$.cmid': 'sensor' });
    assert.ok(Math.abs(Date.parse(msg.enqueuedTime) - Date.now()) < 5000);
    assert.equal(hub.observed.upstream.at(-1), msg);
    assert.equal(hub.observed.counters.upstream, 1);
  });

  it('routes to a module input with properties kept and source stamps added, only when WHERE holds', async () => {
    await setup({ routes: ROUTES });
    const f = await connectModule(hub, filter);
    assert.deepEqual(await subscribe(f, 'devices/dev1/modules/filter/inputs/#'), [1]);
    const s = await connectModule(hub, sensor);
    const got = nextMessage(f, (t) => t.startsWith('devices/dev1/modules/filter/inputs/'));
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=skip&alert=true', 'wrong output', {
      qos: 1,
    });
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=false', 'no alert', { qos: 1 });
    await s.publishAsync(
      'devices/dev1/modules/sensor/messages/events/%24.on=temp&%24.mid=id1&%24.cid=c1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.to=%2Fx&alert=true&%C3%A7=%E2%82%AC',
      '{"t":30}',
      { qos: 1 },
    );
    const m = await got;
    assert.equal(m.packet.qos, 1);
    assert.equal(
      m.topic,
      'devices/dev1/modules/filter/inputs/in1/%24.mid=id1&%24.cid=c1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.on=temp&%24.cdid=dev1&%24.cmid=sensor&alert=true&%C3%A7=%E2%82%AC',
    );
    assert.equal(m.payload.toString(), '{"t":30}');
    assert.equal(hub.observed.upstream.length, 0, 'the sensor route does not go upstream');
    assert.equal(hub.observed.counters.routed, 1);
    const up = once(hub.events, 'upstream', { signal: AbortSignal.timeout(5000) });
    await f.publishAsync('devices/dev1/modules/filter/messages/events/%24.on=out', 'forwarded', { qos: 1 });
    assert.equal(((await up)[0] as HubMessage).body.toString(), 'forwarded');
  });

  it('routes only to modules of the source device', async () => {
    await setup({ routes: { all: 'FROM /messages/* INTO BrokeredEndpoint("/modules/filter/inputs/in1")' } });
    const otherSensor = hub.addModule('dev2', 'sensor');
    const otherFilter = hub.addModule('dev2', 'filter');
    const f1 = await connectModule(hub, filter);
    await subscribe(f1, 'devices/dev1/modules/filter/inputs/#');
    const f2 = await connectModule(hub, otherFilter);
    await subscribe(f2, 'devices/dev2/modules/filter/inputs/#');
    const got1: string[] = [];
    f1.on('message', (t) => got1.push(t));
    const s2 = await connectModule(hub, otherSensor);
    const at2 = nextMessage(f2, () => true);
    await s2.publishAsync('devices/dev2/modules/sensor/messages/events/', 'from dev2', { qos: 1 });
    assert.match((await at2).topic, /^devices\/dev2\/modules\/filter\/inputs\/in1\/%24.cdid=dev2&%24.cmid=sensor$/);
    const s1 = await connectModule(hub, sensor);
    const at1 = nextMessage(f1, () => true);
    await s1.publishAsync('devices/dev1/modules/sensor/messages/events/', 'from dev1', { qos: 1 });
    assert.equal((await at1).payload.toString(), 'from dev1');
    assert.equal(got1.length, 1);
  });

  it('stores messages for an offline module with a persistent session and delivers them when it returns', async () => {
    await setup({ routes: ROUTES });
    const f = await connectModule(hub, filter, { clean: false });
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    await end(f);
    await until(() => !hub.isConnected('dev1/filter'));
    const s = await connectModule(hub, sensor);
    for (const n of [1, 2, 3])
      await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=true', `m${n}`, { qos: 1 });
    const back = connectCollecting(filter, false);
    await back.ready;
    await until(() => back.messages.length === 3, 'three stored messages', 5000);
    assert.deepEqual(
      back.messages.map((m) => [m.payload.toString(), m.qos]),
      [
        ['m1', 1],
        ['m2', 1],
        ['m3', 1],
      ],
    );
    back.client.end(true);
  });

  it('redelivers a QoS 1 input the module received but never acknowledged after it reconnects (persistent session)', async () => {
    await setup();
    const f = await connectModule(hub, filter, { clean: false });
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    // mqtt.js sends the PUBACK only once handleMessage calls back: never calling back leaves the message in flight.
    const unacked = new Promise<string>((resolve) => {
      f.handleMessage = (packet, _callback) => resolve(packet.payload.toString());
    });
    await hub.sendToInput('dev1', 'filter', 'in1', { body: 'once' });
    assert.equal(await unacked, 'once');
    await end(f);
    await until(() => !hub.isConnected('dev1/filter'), 'the filter to go offline');
    const back = connectCollecting(filter, false);
    await back.ready;
    await until(() => back.messages.length === 1, 'the redelivered message');
    assert.deepEqual(
      back.messages.map((m) => [m.topic, m.payload.toString(), m.qos]),
      [['devices/dev1/modules/filter/inputs/in1/', 'once', 1]],
    );
    back.client.end(true);
  });

  it('delivers a message sent while a persistent module is between its CONNECT and its CONNACK exactly once', async () => {
    await setup();
    const f = await connectModule(hub, filter, { clean: false });
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    await end(f);
    await until(() => !hub.isConnected('dev1/filter'), 'the filter to go offline');
    // The window a redeploy hits under load: aedes has registered the new connection and restored the session's
    // subscription, but has not written the CONNACK yet (it replays the session's queue right after it).
    const broker = (hub as unknown as { broker: { once(event: 'client', fn: (client: { id: string }) => void): void } })
      .broker;
    const sent = new Promise<void>((resolve, reject) => {
      broker.once('client', (client) => {
        assert.equal(client.id, 'dev1/filter');
        hub.sendToInput('dev1', 'filter', 'in1', { body: 'once' }).then(resolve, reject);
      });
    });
    const back = connectCollecting(filter, false);
    await Promise.all([sent, back.ready]);
    await hub.sendToInput('dev1', 'filter', 'in1', { body: 'sentinel' });
    await until(() => back.messages.some((m) => m.payload.toString() === 'sentinel'), 'the sentinel', 5000);
    assert.deepEqual(
      back.messages.map((m) => m.payload.toString()),
      ['once', 'sentinel'],
    );
    back.client.end(true);
  });

  it('keeps messages for a module that never subscribed and flushes them when it subscribes', async () => {
    await setup({ routes: ROUTES });
    const s = await connectModule(hub, sensor);
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=true', 'early', { qos: 1 });
    await until(() => hub.observed.counters.routed === 1);
    const f = await connectModule(hub, filter, { clean: true });
    const got = nextMessage(f, (t) => t.startsWith('devices/dev1/modules/filter/inputs/in1/'));
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    assert.equal((await got).payload.toString(), 'early');
  });

  it('drops queued messages older than the store-and-forward TTL', async () => {
    await setup({ routes: ROUTES, storeAndForwardTtlSeconds: 0.2 });
    const s = await connectModule(hub, sensor);
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=true', 'stale', { qos: 1 });
    await until(() => hub.observed.counters.routed === 1);
    const queuedAt = Date.now();
    // The TTL is the behaviour under test: let it pass.
    await until(() => Date.now() - queuedAt > 300, 'the TTL to pass', 2000);
    const f = await connectModule(hub, filter, { clean: true });
    const got = nextMessage(f, (t) => t.startsWith('devices/dev1/modules/filter/inputs/in1/'));
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=true', 'fresh', { qos: 1 });
    assert.equal((await got).payload.toString(), 'fresh');
  });

  it('drops messages stored in a persistent session once the TTL has passed', async () => {
    await setup({ routes: ROUTES, storeAndForwardTtlSeconds: 0.2 });
    const f = await connectModule(hub, filter, { clean: false });
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    await end(f);
    await until(() => !hub.isConnected('dev1/filter'));
    const s = await connectModule(hub, sensor);
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=true', 'stale', { qos: 1 });
    await until(() => hub.observed.counters.routed === 1);
    const queuedAt = Date.now();
    // The TTL is the behaviour under test: let it pass.
    await until(() => Date.now() - queuedAt > 300, 'the TTL to pass', 2000);
    const back = connectCollecting(filter, false);
    await back.ready;
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/%24.on=temp&alert=true', 'fresh', { qos: 1 });
    await until(() => back.messages.length >= 1, 'the fresh message', 5000);
    assert.deepEqual(
      back.messages.map((m) => m.payload.toString()),
      ['fresh'],
    );
    back.client.end(true);
  });

  it('sendToInput delivers like a route', async () => {
    await setup();
    const f = await connectModule(hub, filter);
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#');
    const got = nextMessage(f, () => true);
    const routed = once(hub.events, 'routed', { signal: AbortSignal.timeout(5000) });
    await hub.sendToInput('dev1', 'filter', 'cmd', {
      body: 'go',
      properties: { k: 'v w' },
      systemProperties: { '$.mid': 'x' },
    });
    const m = await got;
    assert.equal(m.topic, 'devices/dev1/modules/filter/inputs/cmd/%24.mid=x&k=v%20w');
    assert.equal(m.payload.toString(), 'go');
    const [ev] = (await routed) as [{ target: string; inputName: string }];
    assert.deepEqual([ev.target, ev.inputName], ['dev1/filter', 'cmd']);
    await assert.rejects(
      hub.sendToInput('dev1', 'nobody', 'cmd', { body: 'x' }),
      (e: { httpStatus: number }) => e.httpStatus === 404,
    );
  });

  it('delivers a QoS 1 input followed at once by a QoS 0 desired patch to the same persistent session', async () => {
    await setup();
    const f = await connectModule(hub, filter, { clean: false });
    await subscribe(f, 'devices/dev1/modules/filter/inputs/#', 1);
    await subscribe(f, '$iothub/twin/PATCH/properties/desired/#', 0);
    const got: string[] = [];
    f.on('message', (topic, _payload, packet) => got.push(`${packet.qos} ${topic.split('/')[0]}`));
    for (let i = 0; i < 5; i++) {
      void hub.sendToInput('dev1', 'filter', 'in', { body: `m${i}` });
      hub.updateDesired('dev1', 'filter', { n: i });
    }
    await until(() => got.length === 10, 'ten messages', 5000);
    assert.equal(got.filter((g) => g === '1 devices').length, 5);
    assert.equal(got.filter((g) => g === '0 $iothub').length, 5);
  });

  it('setRoutes replaces the routes and refuses bad ones, keeping the old', async () => {
    await setup({ routes: ROUTES });
    assert.throws(() => hub.setRoutes({ bad: 'FROM nowhere' }), RouteSyntaxError);
    hub.setRoutes({});
    const s = await connectModule(hub, sensor);
    const up = once(hub.events, 'upstream', { signal: AbortSignal.timeout(5000) });
    await s.publishAsync('devices/dev1/modules/sensor/messages/events/', 'now upstream', { qos: 1 });
    assert.equal(((await up)[0] as HubMessage).body.toString(), 'now upstream');
  });
});

describe('messageSize (IoT Hub and the Python SDK count body + property values)', () => {
  const table: Array<
    [string, { properties: Record<string, string>; systemProperties: Record<string, string> }, number, number]
  > = [
    ['an empty message', { properties: {}, systemProperties: {} }, 0, 0],
    ['the body only', { properties: {}, systemProperties: {} }, 10, 10],
    [
      'application property values, not names',
      { properties: { 'a long name': 'v', k: 'vv' }, systemProperties: {} },
      0,
      3,
    ],
    ['UTF-8 bytes of values', { properties: { k: 'é€' }, systemProperties: {} }, 0, 5],
    [
      'system property values except the output name',
      { properties: {}, systemProperties: { '$.mid': 'm1', '$.ct': 'text/plain', '$.on': 'output-name' } },
      4,
      16,
    ],
  ];
  for (const [what, bag, bodyLength, expected] of table) {
    it(`${what} → ${expected}`, () => assert.equal(messageSize(bag, Buffer.alloc(bodyLength)), expected));
  }
  it('the limit is the Python SDK TELEMETRY_MESSAGE_SIZE_LIMIT, 262,144 bytes', () =>
    assert.equal(MAX_MESSAGE_BYTES, 262_144));
});

// What a module may publish and subscribe on the local hub, the 256 KiB limit and QoS 2, over real sockets.
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { LocalHub } from '../../src/hub/LocalHub';
import type { ModuleIdentity } from '../../src/hub/types';
import { closed, connectModule, endAll, startHub, subscribe } from './support';
import { until } from '../helpers/until';

describe("local hub: IoT Hub's publish and subscribe rules", function () {
  let hub: LocalHub;
  let mod: ModuleIdentity;

  before(async () => {
    hub = await startHub();
    mod = hub.addModule('dev1', 'modA');
    hub.addModule('dev1', 'modB');
  });
  afterEach(() => endAll());
  after(() => hub.close());

  describe('subscriptions', () => {
    const cases: Array<[string, 0 | 1 | 2, number]> = [
      ['devices/dev1/modules/modA/inputs/#', 1, 1],
      ['devices/dev1/modules/modA/inputs/#', 0, 0],
      ['$iothub/methods/POST/#', 1, 1],
      ['$iothub/twin/res/#', 0, 0],
      ['$iothub/twin/PATCH/properties/desired/#', 1, 1],
      ['$iothub/twin/PATCH/properties/desired/#', 2, 1],
      ['devices/dev1/modules/modB/inputs/#', 1, 0x80],
      ['devices/dev1/modules/modA/inputs/in1', 1, 0x80],
      ['devices/dev1/modules/modA/messages/events/#', 1, 0x80],
      ['#', 1, 0x80],
      ['$iothub/#', 1, 0x80],
      ['$iothub/twin/res/200', 1, 0x80],
      ['$SYS/#', 1, 0x80],
    ];
    for (const [filter, qos, granted] of cases) {
      it(`${filter} at QoS ${qos} → ${granted === 0x80 ? '0x80' : granted}`, async () => {
        const c = await connectModule(hub, mod, { clean: true });
        assert.deepEqual(await subscribe(c, filter, qos), [granted]);
        const rec = hub.observed.subscriptions.at(-1)!;
        assert.deepEqual([rec.clientId, rec.topic, rec.qos, rec.granted], ['dev1/modA', filter, qos, granted]);
        assert.ok(c.connected, 'a refused subscription does not close the connection');
      });
    }
  });

  describe('publishes', () => {
    const allowed = [
      'devices/dev1/modules/modA/messages/events/',
      'devices/dev1/modules/modA/messages/events/%24.on=out1&a=b',
      'devices/dev1/modules/modA/messages/events/%24.on=out1/',
      '$iothub/twin/GET/?$rid=1',
      '$iothub/twin/PATCH/properties/reported/?$rid=2',
      '$iothub/methods/res/200/?$rid=99',
    ];
    for (const topic of allowed) {
      it(`allows ${topic}`, async () => {
        const c = await connectModule(hub, mod, { clean: true });
        await c.publishAsync(topic, topic.includes('reported') ? '{}' : ' ', { qos: 1 });
        assert.ok(c.connected);
        assert.equal(hub.observed.publishes.at(-1)!.topic, topic);
      });
    }

    const refused = [
      'devices/dev1/modules/modB/messages/events/',
      'devices/dev1/messages/events/',
      'devices/dev1/modules/modA/inputs/in1/',
      'devices/dev1/modules/modB/inputs/in1/',
      '$iothub/twin/res/200/?$rid=1',
      '$iothub/methods/POST/m/?$rid=1',
      '$iothub/twin/PATCH/properties/desired/?$version=2',
      '$iothub/twin/GET/',
      'anything/else',
    ];
    for (const topic of refused) {
      it(`closes the connection on ${topic}`, async () => {
        const c = await connectModule(hub, mod, { clean: true });
        const upstream = hub.observed.upstream.length;
        c.publish(topic, 'x', { qos: 1 });
        await closed(c);
        assert.equal(hub.observed.upstream.length, upstream);
      });
    }

    it('closes the connection on a QoS 2 publish and does not deliver it', async () => {
      const c = await connectModule(hub, mod, { clean: true });
      const upstream = hub.observed.upstream.length;
      c.publish('devices/dev1/modules/modA/messages/events/', 'q2', { qos: 2 });
      await closed(c);
      assert.equal(hub.observed.upstream.length, upstream);
    });

    const topic = 'devices/dev1/modules/modA/messages/events/';
    // IoT Hub's 256 KB counts the body and the property values (what the Python SDK's size check counts), not the
    // property names, the output name nor the rest of the topic.
    const LIMIT = 262_144;
    const properties = { ['long-name-'.repeat(50)]: 'x'.repeat(1000), ключ: 'é'.repeat(500), 'sp ace': 'a&b=c' };
    const propertyBytes = 1000 + 1000 + 5;
    const systemValues = { '$.mid': 'mid-1', '$.ct': 'application/json', '$.ce': 'utf-8' };
    const systemBytes = 5 + 16 + 5;
    const enc = (v: string): string =>
      encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const bagTopic =
      topic +
      [...Object.entries(systemValues), ['$.on', 'out-name-not-counted'] as const, ...Object.entries(properties)]
        .map(([k, v]) => `${enc(k)}=${enc(v)}`)
        .join('&');
    const bodyAtLimit = LIMIT - propertyBytes - systemBytes;

    it('accepts and delivers a message whose body + property values are exactly 262,144 bytes (topic not counted)', async () => {
      assert.ok(Buffer.byteLength(bagTopic) + bodyAtLimit > LIMIT, 'topic + payload are over the limit');
      const c = await connectModule(hub, mod, { clean: true });
      const upstream = hub.observed.upstream.length;
      await c.publishAsync(bagTopic, Buffer.alloc(bodyAtLimit, 0x61), { qos: 1 });
      await until(() => hub.observed.upstream.length === upstream + 1);
      const got = hub.observed.upstream.at(-1)!;
      assert.equal(got.body.length, bodyAtLimit);
      assert.deepEqual(got.properties, properties);
      assert.equal(got.systemProperties['$.on'], 'out-name-not-counted');
      assert.ok(c.connected);
    });

    it('accepts the largest legal packet: a 262,144-byte body with a 65,000-byte topic of property names', async () => {
      const names = `${topic}${'k'.repeat(64_900)}=`;
      const c = await connectModule(hub, mod, { clean: true });
      const upstream = hub.observed.upstream.length;
      await c.publishAsync(names, Buffer.alloc(LIMIT, 0x62), { qos: 1 });
      await until(() => hub.observed.upstream.length === upstream + 1);
      assert.equal(hub.observed.upstream.at(-1)!.body.length, LIMIT);
    });

    const over: Array<[string, string, number]> = [
      ['the body', bagTopic, bodyAtLimit + 1],
      ['an application property value', bagTopic.replace('sp%20ace=a%26b%3Dc', 'sp%20ace=a%26b%3Dcd'), bodyAtLimit],
      ['a system property value', bagTopic.replace('%24.mid=mid-1', '%24.mid=mid-12'), bodyAtLimit],
    ];
    for (const [what, overTopic, bodyLength] of over) {
      it(`closes the connection on a message one byte over (in ${what}) and does not deliver it`, async () => {
        const c: MqttClient = await connectModule(hub, mod, { clean: true });
        const upstream = hub.observed.upstream.length;
        c.publish(overTopic, Buffer.alloc(bodyLength, 0x61), { qos: 1 });
        await closed(c);
        assert.equal(hub.observed.upstream.length, upstream);
      });
    }

    it('ignores RETAIN', async () => {
      const c = await connectModule(hub, mod, { clean: true });
      await c.publishAsync(topic, 'kept?', { qos: 1, retain: true });
      const c2 = await connectModule(hub, hub.getModule('dev1', 'modB')!, { clean: true });
      assert.deepEqual(await subscribe(c2, 'devices/dev1/modules/modB/inputs/#'), [1]);
      assert.ok(c.connected);
    });
  });
});

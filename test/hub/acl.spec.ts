// B3: what a module may publish and subscribe on the local hub, the 256 KiB limit and QoS 2, over real sockets.
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { LocalHub } from '../../src/hub/LocalHub';
import type { ModuleIdentity } from '../../src/hub/types';
import { closed, connectModule, endAll, startHub, subscribe } from './support';
import { until } from '../helpers/until';

describe('local hub: publish and subscribe rules (B3)', function () {
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
    it('accepts a publish of exactly 256 KiB (topic + payload)', async () => {
      const c = await connectModule(hub, mod, { clean: true });
      const upstream = hub.observed.upstream.length;
      await c.publishAsync(topic, Buffer.alloc(256 * 1024 - topic.length, 0x61), { qos: 1 });
      await until(() => hub.observed.upstream.length === upstream + 1);
      assert.equal(hub.observed.upstream.at(-1)!.body.length, 256 * 1024 - topic.length);
    });

    it('closes the connection on a publish one byte over 256 KiB and does not deliver it', async () => {
      const c: MqttClient = await connectModule(hub, mod, { clean: true });
      const upstream = hub.observed.upstream.length;
      c.publish(topic, Buffer.alloc(256 * 1024 - topic.length + 1, 0x61), { qos: 1 });
      await closed(c);
      assert.equal(hub.observed.upstream.length, upstream);
    });

    it('ignores RETAIN', async () => {
      const c = await connectModule(hub, mod, { clean: true });
      await c.publishAsync(topic, 'kept?', { qos: 1, retain: true });
      const c2 = await connectModule(hub, hub.getModule('dev1', 'modB')!, { clean: true });
      assert.deepEqual(await subscribe(c2, 'devices/dev1/modules/modB/inputs/#'), [1]);
      assert.ok(c.connected);
    });
  });
});

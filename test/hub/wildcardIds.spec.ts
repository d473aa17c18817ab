// Device and module ids with `+` and `#` (IoT Hub allows them, and SDKs put ids raw in topics): the hub compares and
// delivers them literally, never as MQTT wildcards, over raw MQTT sequences as the SDKs send them.
import assert from 'node:assert/strict';
import type { LocalHub } from '../../src/hub/LocalHub';
import type { ModuleIdentity } from '../../src/hub/types';
import { publishPacket, subscribePacket, type WirePacket } from '../helpers/mqttWire';
import { RawMqtt } from '../helpers/RawMqtt';
import { connectModule, endAll, nextMessage, openRawModule, startHub, subscribe } from './support';

describe('local hub: ids with + and # are never wildcards', () => {
  let hub: LocalHub;
  const raws: RawMqtt[] = [];

  before(async () => {
    hub = await startHub({
      routes: {
        toTarget: 'FROM /messages/modules/sender/outputs/* INTO BrokeredEndpoint("/modules/target/inputs/in1")',
        upstream: 'FROM /messages/* INTO $upstream',
      },
    });
  });
  afterEach(async () => {
    await Promise.all(raws.splice(0).map((r) => r.close()));
    await endAll();
  });
  after(() => hub.close());

  /** A module connected over raw MQTT and subscribed to its own inputs, topics written with its ids raw. */
  async function rawModule(m: ModuleIdentity): Promise<RawMqtt> {
    const raw = await openRawModule(hub, m);
    raws.push(raw);
    const clientId = `${m.deviceId}/${m.moduleId}`;
    raw.write(subscribePacket(`devices/${m.deviceId}/modules/${m.moduleId}/inputs/#`, 1, 1));
    const suback = await raw.next((p) => p.type === 9, `SUBACK of ${clientId}`);
    assert.equal(suback.body[2], 1, `${clientId} granted its inputs at QoS 1`);
    return raw;
  }

  const isInput = (p: WirePacket): boolean => p.type === 3 && p.topic!.startsWith('devices/');

  it('a module or device named + or # receives only its own inputs, across devices, with its ids raw in the topic', async () => {
    const odd = [
      hub.addModule('devA', '+'),
      hub.addModule('devA', '#'),
      hub.addModule('+', 'target'),
      hub.addModule('#', 'target'),
    ];
    const sender = hub.addModule('devB', 'sender');
    const target = hub.addModule('devB', 'target');
    const oddRaws: RawMqtt[] = [];
    for (const m of odd) oddRaws.push(await rawModule(m));
    const targetClient = await connectModule(hub, target);
    await subscribe(targetClient, 'devices/devB/modules/target/inputs/#');
    const senderClient = await connectModule(hub, sender);

    // A routed message on devB and one message for each odd identity.
    const routed = nextMessage(targetClient, (t) => t.startsWith('devices/devB/modules/target/inputs/in1/'));
    await senderClient.publishAsync('devices/devB/modules/sender/messages/events/%24.on=out1', 'routed', { qos: 1 });
    assert.equal((await routed).payload.toString(), 'routed');
    for (const m of odd)
      await hub.sendToInput(m.deviceId, m.moduleId, 'own', { body: `for ${m.deviceId}/${m.moduleId}` });

    for (const [i, m] of odd.entries()) {
      const raw = oddRaws[i]!;
      const own = await raw.next(isInput, `the input of ${m.deviceId}/${m.moduleId}`);
      assert.ok(own.topic!.startsWith(`devices/${m.deviceId}/modules/${m.moduleId}/inputs/own/`), own.topic);
      assert.equal(own.payload!.toString(), `for ${m.deviceId}/${m.moduleId}`);
      // A twin round trip on the same connection: anything else addressed to it would have come before the answer.
      raw.write(publishPacket('$iothub/twin/GET/?$rid=barrier', Buffer.alloc(0), 0));
      await raw.next((p) => p.type === 3 && p.topic!.startsWith('$iothub/twin/res/200/'), 'the twin answer');
      assert.deepEqual(
        raw.packets.filter(isInput).map((p) => p.payload!.toString()),
        [`for ${m.deviceId}/${m.moduleId}`],
      );
    }
  });

  it('a module named + or # publishes telemetry on its own events topic (ids raw) and stays connected', async () => {
    for (const moduleId of ['+', '#', 'a+b#c']) {
      const m = hub.addModule('devC', moduleId);
      const raw = await rawModule(m);
      const before = hub.observed.upstream.length;
      raw.write(publishPacket(`devices/devC/modules/${moduleId}/messages/events/`, Buffer.from('up'), 1, 5));
      await raw.next((p) => p.type === 4, `PUBACK of ${moduleId}`);
      const message = hub.observed.upstream.slice(before).find((u) => u.moduleId === moduleId);
      assert.equal(message?.body.toString(), 'up');
      assert.equal(raw.closed, false);
    }
  });

  it('another module still cannot subscribe to the inputs of a module named +', async () => {
    hub.addModule('devD', '+');
    const other = await rawModule(hub.addModule('devD', 'other'));
    other.write(subscribePacket('devices/devD/modules/+/inputs/#', 1, 2));
    const suback = await other.next((p) => p.type === 9 && p.body.readUInt16BE(0) === 2, 'the SUBACK');
    assert.equal(suback.body[2], 0x80);
  });
});

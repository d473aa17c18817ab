// The module client against a hostile MQTT server: input messages in every shape IoT Hub never sends are
// reported in the background, never delivered in that shape, and never crash the process.
import assert from 'node:assert/strict';
import { Message } from '../../src/index';
import { until } from '../helpers/until';
import type { Peer } from './hostileServer';
import { INPUT_PREFIX, useHostileServer } from './hostileSuite';

describe('client against a hostile MQTT server: input messages', function () {
  this.timeout(15_000);
  const { inputClient } = useHostileServer(() => undefined);

  const cases: Array<{ name: string; send: (peer: Peer) => void; check: (received: Message[]) => void }> = [
    {
      name: 'malformed escapes (%zz, truncated %E0%A4%A) stay literal',
      send: (p) => p.publish(`${INPUT_PREFIX}in1/%zz=%zz&k=%E0%A4%A&ok=%C3%A9`, 'x'),
      check: ([m]) => assert.deepEqual(m!.customProperties, { '%zz': '%zz', k: '%E0%A4%A', ok: 'é' }),
    },
    {
      name: 'a bag of separators only (&&==&)',
      send: (p) => p.publish(`${INPUT_PREFIX}in1/&&==&`, 'x'),
      check: ([m]) => assert.deepEqual(m!.customProperties, { '': '=' }),
    },
    {
      name: 'a bag without = (key only)',
      send: (p) => p.publish(`${INPUT_PREFIX}in1/justakey`, 'x'),
      check: ([m]) => assert.deepEqual(m!.customProperties, { justakey: '' }),
    },
    {
      name: 'thousands of pairs',
      send: (p) =>
        p.publish(`${INPUT_PREFIX}in1/${Array.from({ length: 4000 }, (_, i) => `k${i}=${i}`).join('&')}`, 'x'),
      check: ([m]) => {
        assert.equal(Object.keys(m!.customProperties).length, 4000);
        assert.equal(m!.customProperties.k3999, '3999');
      },
    },
    {
      name: 'Object.prototype names (__proto__, constructor, toString) are plain custom properties',
      send: (p) =>
        p.publish(`${INPUT_PREFIX}in1/__proto__=x&constructor=y&toString=z&hasOwnProperty=w&%24.mid=id1`, 'x'),
      check: ([m]) => {
        const props = m!.customProperties;
        assert.equal(Object.getPrototypeOf(props), Object.prototype);
        assert.deepEqual(Object.keys(props).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
        assert.equal(Object.getOwnPropertyDescriptor(props, '__proto__')?.value, 'x');
        assert.deepEqual(
          ['constructor', 'toString', 'hasOwnProperty'].map((k) => props[k]),
          ['y', 'z', 'w'],
        );
        assert.equal(m!.messageId, 'id1');
        // Nothing else on the message, and no prototype touched.
        assert.deepEqual(
          Object.keys(m!).filter((k) => k.includes('[') || k.includes('(')),
          [],
        );
        assert.equal(({} as Record<string, unknown>).x, undefined);
      },
    },
    {
      name: 'a non-UTF-8 payload is delivered as the raw bytes',
      send: (p) => p.publish(`${INPUT_PREFIX}in1/`, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00])),
      check: ([m]) => assert.deepEqual(m!.data, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00])),
    },
    {
      name: 'an empty payload is an empty Buffer',
      send: (p) => p.publish(`${INPUT_PREFIX}in1`, ''),
      check: ([m]) => {
        assert.deepEqual(m!.data, Buffer.alloc(0));
        assert.equal(m!.inputName, 'in1');
      },
    },
    {
      name: 'a topic with invalid UTF-8 bytes does not break the client',
      send: (p) =>
        p.publishRawTopic(
          Buffer.concat([Buffer.from(`${INPUT_PREFIX}in`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('/a=b')]),
          Buffer.from('x'),
        ),
      check: (received) => {
        assert.equal(received.length, 1);
        assert.equal(received[0]!.customProperties.a, 'b');
      },
    },
    {
      name: "another module's inputs are ignored",
      send: (p) => {
        p.publish('devices/d/modules/other/inputs/in1/', 'x');
        p.publish('devices/x/modules/m/inputs/in1/', 'x');
        p.publish('devices/d/modules/m/inputsX/in1/', 'x');
      },
      check: (received) => assert.deepEqual(received, []),
    },
    {
      name: 'unknown $iothub topics are ignored',
      send: (p) => {
        p.publish('$iothub/unknown/thing/?$rid=1', '{}');
        p.publish('$iothub/twin/', '{}');
        p.publish('#', 'x', 0);
      },
      check: (received) => assert.deepEqual(received, []),
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const { client, seen, got: received, peer } = await inputClient();
      c.send(peer);
      peer.publish(`${INPUT_PREFIX}sentinel/`, 'end');
      await until(() => received.some((m) => m.inputName === 'sentinel'), 'the sentinel message');
      c.check(received.filter((m) => m.inputName !== 'sentinel'));
      assert.equal(client.connectionState, 'connected');
      assert.deepEqual(seen.background, []);
    });
  }
});

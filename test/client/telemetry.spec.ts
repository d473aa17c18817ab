// Telemetry and output messages over MQTT/TLS and MQTT/WSS against the local hub; property fidelity; size limit.
import assert from 'node:assert/strict';
import type { LocalHub } from '../../src/hub';
import { Message, ValueError, TELEMETRY_MESSAGE_SIZE_LIMIT } from '../../src/index';
import { clientFor, useLocalHub, waitFor } from './clientSupport';

const NASTY = 'a b/$+%&#!*\'()é~';

describe('client telemetry (TLS and WSS)', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  for (const websockets of [false, true]) {
    const transport = websockets ? 'wss' : 'mqtts';
    it(`sends a message with every property over ${transport} (auto-connect)`, async () => {
      const client = clientFor(hub, 'tdev', 'tmod', { websockets });
      const m = new Message(Buffer.from([0, 1, 2, 255]), { messageId: NASTY, contentType: 'application/octet-stream', contentEncoding: 'binary' });
      m.correlationId = 'corr';
      m.userId = 'user';
      m.customProperties = { [NASTY]: 'é', plain: 'v' };
      await client.sendMessage(m);
      assert.equal(client.connected, true);
      assert.equal(hub.observed.connects.at(-1)?.transport, transport);
      assert.equal(hub.observed.upstream.length, 1);
      const up = hub.observed.upstream[0]!;
      assert.deepEqual(up.body, Buffer.from([0, 1, 2, 255]));
      assert.equal(up.systemProperties['$.mid'], NASTY);
      assert.equal(up.systemProperties['$.cid'], 'corr');
      assert.equal(up.systemProperties['$.uid'], 'user');
      assert.equal(up.systemProperties['$.ct'], 'application/octet-stream');
      assert.equal(up.systemProperties['$.ce'], 'binary');
      assert.deepEqual(up.properties, { [NASTY]: 'é', plain: 'v' });
      assert.equal(up.deviceId, 'tdev');
      assert.equal(up.moduleId, 'tmod');
    });

    it(`sends to an output over ${transport}`, async () => {
      const client = clientFor(hub, 'tdev', 'tmod', { websockets });
      await client.sendMessageToOutput('{"t":21.5}', 'out 1');
      await client.sendMessageToOutput(42, 'out2');
      assert.deepEqual(
        hub.observed.upstream.map((u) => [u.outputName, u.body.toString()]),
        [
          ['out 1', '{"t":21.5}'],
          ['out2', '42'],
        ],
      );
    });
  }

  it('accepts a message of exactly 262144 wire bytes and throws for one byte more (synchronously), sending nothing', async () => {
    const client = clientFor(hub, 'tdev', 'tmod');
    await client.connect();
    const topicLength = 'devices/tdev/modules/tmod/messages/events/'.length;
    await client.sendMessage(Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT - topicLength, 0x61));
    const before = hub.observed.publishes.length;
    assert.throws(
      () => client.sendMessage(Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT - topicLength + 1, 0x61)),
      (err: unknown) => err instanceof ValueError && err.code === 'message-too-large',
    );
    const big = new Message('x');
    big.customProperties = { k: 'v'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT) };
    assert.throws(() => client.sendMessageToOutput(big, 'o'), (err: unknown) => err instanceof ValueError && err.code === 'message-too-large');
    assert.equal(hub.observed.publishes.length, before);
    assert.equal(client.connected, true);
  });

  it('keeps the order of many concurrent sends and acknowledges every one', async () => {
    const client = clientFor(hub, 'tdev', 'tmod');
    await Promise.all(Array.from({ length: 500 }, (_, i) => client.sendMessage(new Message(String(i), { messageId: String(i) }))));
    await waitFor(() => hub.observed.upstream.length === 500, '500 upstream messages');
    assert.deepEqual(
      hub.observed.upstream.map((u) => u.systemProperties['$.mid']),
      Array.from({ length: 500 }, (_, i) => String(i)),
    );
  });

  it('throws synchronously for bad arguments (house style), sending nothing', () => {
    const client = clientFor(hub, 'tdev', 'tmod');
    assert.throws(() => client.sendMessage({} as never), TypeError);
    assert.throws(() => client.sendMessageToOutput('x', ''), TypeError);
    assert.throws(() => client.sendMessage(new Message({ not: 'sendable' } as never)), TypeError);
    assert.equal(hub.observed.publishes.length, 0);
  });
});

// Telemetry and output messages over MQTT/TLS and MQTT/WSS against the local hub; property fidelity; size limit.
import assert from 'node:assert/strict';
import type { LocalHub } from '../../src/hub';
import { Message, ValueError, TELEMETRY_MESSAGE_SIZE_LIMIT } from '../../src/index';
import { clientFor, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

const NASTY = "a b/$+%&#!*'()é~";

describe('client telemetry (TLS and WSS)', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  for (const websockets of [false, true]) {
    const transport = websockets ? 'wss' : 'mqtts';
    it(`sends a message with every property over ${transport} (auto-connect)`, async () => {
      const client = clientFor(hub, 'tdev', 'tmod', { websockets });
      const m = new Message(Buffer.from([0, 1, 2, 255]), {
        messageId: NASTY,
        contentType: 'application/octet-stream',
        contentEncoding: 'binary',
      });
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

  // IoT Hub counts the body and the property values against its 256 KB limit (as the Python SDK's own check), not the
  // topic. The hub must deliver a message of exactly 262144 bytes so counted, and the client refuses one byte more.
  it('sends a message of exactly 262144 bytes (body + properties) and the hub delivers it; one byte more is refused', async () => {
    const client = clientFor(hub, 'tdev', 'tmod', { operationTimeout: 10 });
    await client.connect();
    // 'mid' and 'vvv' count (6 bytes); the property name does not.
    const exact = new Message(Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT - 6, 0x61), { messageId: 'mid' });
    exact.customProperties = { 'a name': 'vvv' };
    await client.sendMessage(exact);
    await until(() => hub.observed.upstream.length === 1, 'the 262144-byte message upstream');
    assert.equal(hub.observed.upstream[0]!.body.length, TELEMETRY_MESSAGE_SIZE_LIMIT - 6);
    assert.deepEqual(hub.observed.upstream[0]!.properties, { 'a name': 'vvv' });
    await client.sendMessage(Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT, 0x62));
    await until(() => hub.observed.upstream.length === 2, 'the 262144-byte body upstream');
    const before = hub.observed.publishes.length;
    await assert.rejects(
      client.sendMessage(Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT + 1, 0x61)),
      (err: unknown) => err instanceof ValueError && err.code === 'message-too-large',
    );
    const big = new Message('x');
    big.customProperties = { k: 'v'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT) };
    await assert.rejects(
      client.sendMessageToOutput(big, 'o'),
      (err: unknown) => err instanceof ValueError && err.code === 'message-too-large',
    );
    assert.equal(hub.observed.publishes.length, before);
    assert.equal(client.connected, true);
  });

  it('converts what is not a Message as the Python SDK does: JSON with content type and encoding for other values', async () => {
    const client = clientFor(hub, 'tdev', 'tmod');
    await client.sendMessage({ t: 21.5, unit: '°C' });
    await client.sendMessageToOutput(new Uint8Array([1, 2]), 'raw');
    await client.sendMessage('plain');
    await until(() => hub.observed.upstream.length === 3, 'three messages upstream');
    const [json, raw, plain] = hub.observed.upstream;
    assert.equal(json!.body.toString('utf8'), '{"t":21.5,"unit":"°C"}');
    assert.equal(json!.systemProperties['$.ct'], 'application/json');
    assert.equal(json!.systemProperties['$.ce'], 'utf-8');
    assert.deepEqual(raw!.body, Buffer.from([1, 2]));
    assert.equal(raw!.systemProperties['$.ct'], undefined);
    assert.equal(plain!.body.toString('utf8'), 'plain');
    assert.equal(plain!.systemProperties['$.ct'], undefined);
  });

  it('keeps the order of many concurrent sends and acknowledges every one', async () => {
    const client = clientFor(hub, 'tdev', 'tmod');
    await Promise.all(
      Array.from({ length: 500 }, (_, i) => client.sendMessage(new Message(String(i), { messageId: String(i) }))),
    );
    await until(() => hub.observed.upstream.length === 500, '500 upstream messages');
    assert.deepEqual(
      hub.observed.upstream.map((u) => u.systemProperties['$.mid']),
      Array.from({ length: 500 }, (_, i) => String(i)),
    );
  });

  it('rejects bad arguments (house style: a promise reports every error), sending nothing', async () => {
    const client = clientFor(hub, 'tdev', 'tmod');
    await assert.rejects(client.sendMessage(undefined as never), TypeError);
    await assert.rejects(client.sendMessageToOutput('x', ''), TypeError);
    await assert.rejects(client.sendMessage(new Message({ not: 'sendable' } as never)), TypeError);
    assert.equal(hub.observed.publishes.length, 0);
  });
});

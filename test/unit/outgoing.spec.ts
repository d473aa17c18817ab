// Outgoing publishes: what is not a Message is converted (as the Python SDK does) and sizes are counted as IoT Hub
// counts them.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import {
  TELEMETRY_MESSAGE_SIZE_LIMIT,
  messageSize,
  methodResponsePublish,
  telemetryPublish,
  toMessage,
} from '../../src/client/outgoing';
import { EventsTopics } from '../../src/client/transport/EventsTopics';
import { ValueError } from '../../src/client/errors';
import { Message } from '../../src/client/models/Message';

describe('outgoing publishes', () => {
  const id = new EventsTopics({ deviceId: 'd', moduleId: 'm' });
  const prefix = 'devices/d/modules/m/messages/events/';

  it('converts what is not a Message (Python SDK): strings and bytes as they are, other values as JSON', () => {
    assert.deepEqual(telemetryPublish(id, 'é'), { topic: prefix, payload: 'é' });
    assert.deepEqual(telemetryPublish(id, Buffer.from([0, 255])), { topic: prefix, payload: Buffer.from([0, 255]) });
    assert.deepEqual(telemetryPublish(id, new Uint8Array([1, 2, 3]).subarray(1)), {
      topic: prefix,
      payload: Buffer.from([2, 3]),
    });
    assert.deepEqual(telemetryPublish(id, new Uint8Array([7]).buffer), { topic: prefix, payload: Buffer.from([7]) });
    // Bytes made in another realm (a Node-RED function node runs in a vm context) are bytes too.
    const foreign = vm.runInNewContext('[new Uint8Array([4, 5]), new Uint8Array([6]).buffer]') as [
      Uint8Array,
      ArrayBuffer,
    ];
    assert.deepEqual(telemetryPublish(id, foreign[0]), { topic: prefix, payload: Buffer.from([4, 5]) });
    assert.deepEqual(telemetryPublish(id, foreign[1]), { topic: prefix, payload: Buffer.from([6]) });
    const json = `${prefix}%24.ct=application%2Fjson&%24.ce=utf-8`;
    const table: Array<[unknown, string]> = [
      [7, '7'],
      [true, 'true'],
      [null, 'null'],
      [{ t: 21.5, s: 'a b/$+%&#é' }, '{"t":21.5,"s":"a b/$+%&#é"}'],
      [[1, 'x'], '[1,"x"]'],
    ];
    for (const [value, body] of table)
      assert.deepEqual(telemetryPublish(id, value), { topic: json, payload: body }, String(body));
    const m = toMessage({ a: 1 });
    assert.equal(m.contentType, 'application/json');
    assert.equal(m.contentEncoding, 'utf-8');
    assert.deepEqual(telemetryPublish(id, new Message('x'), 'out 1/$'), {
      topic: `${prefix}%24.on=out%201%2F%24`,
      payload: 'x',
    });
    // A Message is sent as it is: no content type added.
    assert.deepEqual(telemetryPublish(id, new Message(7)), { topic: prefix, payload: '7' });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const bad of [undefined, () => 1, Symbol('s'), 1n, cycle])
      assert.throws(() => telemetryPublish(id, bad), TypeError);
    assert.throws(() => telemetryPublish(id, new Message([] as never)), TypeError);
  });

  // IoT Hub's limit (and the Python SDK's, TELEMETRY_MESSAGE_SIZE_LIMIT) is on the body plus the properties, not on
  // the MQTT topic: a message of exactly 262144 bytes so counted is sent, one byte more is refused.
  it('limits body + properties to 262144 bytes: the topic and the output name do not count', () => {
    const fits = 'a'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT);
    assert.equal(telemetryPublish(id, fits).payload, fits);
    assert.equal(telemetryPublish(id, new Message(fits), 'an-output').payload, fits);
    assert.equal(
      telemetryPublish(id, Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT)).payload.length,
      TELEMETRY_MESSAGE_SIZE_LIMIT,
    );
    const tooLarge = (e: unknown): boolean => e instanceof ValueError && e.code === 'message-too-large';
    assert.throws(() => telemetryPublish(id, `${fits}a`), tooLarge);
    assert.throws(() => telemetryPublish(id, Buffer.alloc(TELEMETRY_MESSAGE_SIZE_LIMIT + 1)), tooLarge);
    // Multi-byte characters count by their UTF-8 length, not by string length.
    assert.throws(() => telemetryPublish(id, 'é'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT / 2 + 1)), tooLarge);
    assert.equal(
      telemetryPublish(id, 'é'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT / 2)).payload.length,
      TELEMETRY_MESSAGE_SIZE_LIMIT / 2,
    );
    // The Python SDK's own edge vector: Message("a" * 262095) is its largest accepted ASCII body; sent here too.
    assert.equal(telemetryPublish(id, 'a'.repeat(262095)).payload.length, 262095);
  });

  // As the Python SDK's Message.get_size (and the local hub): values count, names and the output name do not.
  it('counts system and application property values (UTF-8, before percent-encoding), not property names', () => {
    const withProperties = (bodyBytes: number): Message => {
      const m = new Message('b'.repeat(bodyBytes), {
        messageId: 'mid/1',
        contentType: 'text/plain',
        contentEncoding: 'utf-8',
      });
      m.correlationId = 'c';
      m.userId = 'u';
      m.expiryTimeUtc = new Date(Date.UTC(2030, 0, 2, 3, 4, 5)); // sent as 2030-01-02T03:04:05 (19 bytes)
      m.setAsSecurityMessage(); // $.ifid = urn:azureiot:Security:SecurityAgent:1 (37 bytes)
      m.customProperties = { 'k é': 'v&#', '%': 'ü' }; // values: 3 + 2 bytes (names not counted)
      return m;
    };
    const propertyBytes = 5 + 10 + 5 + 1 + 1 + 19 + 37 + 3 + 2;
    assert.equal(messageSize(withProperties(0)), propertyBytes);
    const exact = withProperties(TELEMETRY_MESSAGE_SIZE_LIMIT - propertyBytes);
    assert.equal(messageSize(exact), TELEMETRY_MESSAGE_SIZE_LIMIT);
    const sent = telemetryPublish(id, exact, 'out');
    assert.ok(sent.topic.length > 100, 'the percent-encoded topic is longer than the properties, and not counted');
    assert.throws(
      () => telemetryPublish(id, withProperties(TELEMETRY_MESSAGE_SIZE_LIMIT - propertyBytes + 1)),
      ValueError,
    );
    const bigValue = new Message('x');
    bigValue.customProperties = { k: 'v'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT) };
    assert.throws(() => telemetryPublish(id, bigValue), ValueError);
    const longName = new Message('a'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT - 1));
    longName.customProperties = { ['n'.repeat(1000)]: 'v' };
    assert.equal(messageSize(longName), TELEMETRY_MESSAGE_SIZE_LIMIT);
    assert.equal(telemetryPublish(id, longName).payload.length, TELEMETRY_MESSAGE_SIZE_LIMIT - 1);
  });

  it('method responses: integer status, JSON payload (undefined → null), the same size limit', () => {
    assert.deepEqual(methodResponsePublish('r 1', 200, undefined), {
      topic: '$iothub/methods/res/200/?$rid=r%201',
      payload: 'null',
    });
    assert.deepEqual(methodResponsePublish('r', 201, { a: [1] }), {
      topic: '$iothub/methods/res/201/?$rid=r',
      payload: '{"a":[1]}',
    });
    assert.throws(() => methodResponsePublish('r', 200.5, null), TypeError);
    assert.throws(() => methodResponsePublish('r', 200, 1n), TypeError);
    assert.throws(() => methodResponsePublish('r', 200, 'x'.repeat(TELEMETRY_MESSAGE_SIZE_LIMIT)), ValueError);
  });
});

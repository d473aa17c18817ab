// What the client publishes, built and checked before anything is sent: telemetry / output messages with their
// property bag, within IoT Hub's message size limit (body + properties); method responses and reported patches,
// within the hub's limit on a PUBLISH (topic + payload).
import { types } from 'node:util';
import { ValueError } from './errors';
import { Message } from './models/Message';
import type { EventsTopics } from './transport/EventsTopics';
import { messagePropertiesSize } from './transport/properties';
import { methodResponseTopic, twinPatchReportedTopic } from './transport/topics';

/**
 * IoT Hub's limit on a device-to-cloud message: body + system and application property values, in bytes (the Python
 * SDK's `TELEMETRY_MESSAGE_SIZE_LIMIT`; see {@link messageSize}).
 */
export const TELEMETRY_MESSAGE_SIZE_LIMIT = 262144;

/** A publish ready for the wire. */
export interface OutgoingPublish {
  topic: string;
  payload: Buffer | string;
}

/**
 * Builds the events publish of a message (any other value is converted into one by {@link toMessage}); `outputName`
 * (when given) is set on the message, as the Python SDK's `send_message_to_output` does.
 * @throws TypeError for a value that cannot be sent (see {@link toMessage}) or a Message whose data is not a string,
 *   Buffer or number.
 * @throws ValueError 'message-too-large' when body + properties exceed {@link TELEMETRY_MESSAGE_SIZE_LIMIT}.
 */
export function telemetryPublish(topics: EventsTopics, message: unknown, outputName?: string): OutgoingPublish {
  const m = toMessage(message);
  if (outputName !== undefined) m.outputName = outputName;
  const topic = topics.topicFor(m);
  const payload = m.wirePayload();
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload))
    throw new TypeError('message data must be a string, Buffer or number');
  checkMessageSize(m, payload, topic);
  return { topic, payload };
}

/**
 * The Python SDK's "anything that is not a Message is converted into one": a string or bytes (Buffer, Uint8Array,
 * ArrayBuffer) become the body as they are; any other value (number, boolean, null, object, array) is sent as its
 * JSON text with content type `application/json` and content encoding `utf-8`, so that IoT Hub routing queries can
 * read the body.
 * @throws TypeError for undefined, a function or a symbol, and for what JSON cannot encode (BigInt, cycles).
 */
export function toMessage(value: unknown): Message {
  if (value instanceof Message) return value;
  if (typeof value === 'string' || Buffer.isBuffer(value)) return new Message(value);
  // util.types rather than instanceof: values made in another realm (a Node-RED function node's vm) are bytes too.
  if (types.isUint8Array(value)) return new Message(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  if (types.isArrayBuffer(value)) return new Message(Buffer.from(value));
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`a ${typeof value} cannot be sent as a message`);
  }
  const json = JSON.stringify(value) as string | undefined; // throws TypeError for BigInt and cycles
  if (json === undefined) throw new TypeError('the value has no JSON form and cannot be sent as a message');
  return new Message(json, { contentType: 'application/json', contentEncoding: 'utf-8' });
}

/**
 * The size of a message as IoT Hub counts it against its 256 KB limit: body bytes + {@link messagePropertiesSize}
 * (property names, the output name, the topic, percent-encoding and MQTT framing do not count).
 * @param payload the body as sent (default {@link Message.wirePayload}).
 */
export function messageSize(message: Message, payload: Buffer | string = message.wirePayload()): number {
  return (
    (typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length) + messagePropertiesSize(message)
  );
}

/** @throws ValueError 'message-too-large' when {@link messageSize} exceeds {@link TELEMETRY_MESSAGE_SIZE_LIMIT}. */
function checkMessageSize(message: Message, payload: Buffer | string, topic: string): void {
  // Fast path (every publish): the topic holds each property value percent-encoded, at least one character per UTF-8
  // byte, and UTF-8 needs at most 3 bytes per UTF-16 code unit: within the limit even so, nothing to count.
  if (
    topic.length + (typeof payload === 'string' ? payload.length * 3 : payload.length) <=
    TELEMETRY_MESSAGE_SIZE_LIMIT
  )
    return;
  const size = messageSize(message, payload);
  if (size > TELEMETRY_MESSAGE_SIZE_LIMIT) {
    throw new ValueError(`Message too large: body and properties are ${size} bytes, over IoT Hub's 256 KB limit`, {
      code: 'message-too-large',
    });
  }
}

/**
 * Builds the publish answering method request `requestId` (payload as JSON, `undefined` → `null`).
 * @throws TypeError for a non-integer status or a payload JSON cannot encode; ValueError 'message-too-large'.
 */
export function methodResponsePublish(requestId: string, status: number, payload: unknown): OutgoingPublish {
  if (typeof status !== 'number' || !Number.isInteger(status)) throw new TypeError('status must be an integer');
  const json = JSON.stringify(payload === undefined ? null : payload);
  const topic = methodResponseTopic(requestId, status);
  checkWireSize(topic, json);
  return { topic, payload: json };
}

/** The topic of a reported PATCH with a `$rid` as long as the client's (a UUID), for the size check. */
const REPORTED_PATCH_TOPIC = twinPatchReportedTopic('00000000-0000-0000-0000-000000000000');

/**
 * The body of a reported-properties PATCH. Checked before it is sent because the hub closes the connection on a
 * PUBLISH over its limit, which would cut every operation of the client short.
 * @throws TypeError when JSON cannot encode the patch (BigInt, circular); ValueError 'message-too-large'.
 */
export function reportedPatchPayload(patch: Record<string, unknown>): string {
  const json = JSON.stringify(patch);
  checkWireSize(REPORTED_PATCH_TOPIC, json);
  return json;
}

/** @throws ValueError 'message-too-large' when topic + payload exceed {@link TELEMETRY_MESSAGE_SIZE_LIMIT} bytes. */
function checkWireSize(topic: string, payload: string): void {
  // Fast path: UTF-8 needs at most 3 bytes per UTF-16 code unit, so short strings cannot exceed the limit.
  if ((topic.length + payload.length) * 3 <= TELEMETRY_MESSAGE_SIZE_LIMIT) return;
  const size = Buffer.byteLength(topic, 'utf8') + Buffer.byteLength(payload, 'utf8');
  if (size > TELEMETRY_MESSAGE_SIZE_LIMIT) {
    throw new ValueError(`Message too large: ${size} bytes on the wire (topic + payload) exceeds 256 KB`, {
      code: 'message-too-large',
    });
  }
}

// What the client publishes, built and checked before anything is sent: telemetry / output messages with their
// property bag (A3.1) and method responses (A3), each within IoT Hub's size limit on wire bytes (A13).
import { ValueError } from './errors';
import { Message } from './models/Message';
import type { EventsTopics } from './transport/eventsTopics';
import { methodResponseTopic, twinPatchReportedTopic } from './transport/topics';

/** IoT Hub's limit on a device-to-cloud message (seed `TELEMETRY_MESSAGE_SIZE_LIMIT`), checked on wire bytes. */
export const TELEMETRY_MESSAGE_SIZE_LIMIT = 262144;

/** A publish ready for the wire. */
export interface OutgoingPublish {
  topic: string;
  payload: Buffer | string;
}

/**
 * Builds the events publish of a message (wrapping a string, Buffer or number in a Message, as the seed does);
 * `outputName` (when given) is set on the message, as the seed's `send_message_to_output` does.
 * @throws TypeError for a value that is not a message or whose data is not sendable.
 * @throws ValueError 'message-too-large' when topic + property bag + payload exceed the limit.
 */
export function telemetryPublish(topics: EventsTopics, message: Message | string | Buffer | number, outputName?: string): OutgoingPublish {
  const m = toMessage(message);
  if (outputName !== undefined) m.outputName = outputName;
  const topic = topics.topicFor(m);
  const payload = m.wirePayload();
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) throw new TypeError('message data must be a string, Buffer or number');
  checkWireSize(topic, payload);
  return { topic, payload };
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

function toMessage(message: Message | string | Buffer | number): Message {
  if (message instanceof Message) return message;
  if (typeof message === 'string' || typeof message === 'number' || Buffer.isBuffer(message)) return new Message(message);
  throw new TypeError('message must be a Message, string, Buffer or number');
}

/** @throws ValueError 'message-too-large' when topic + payload exceed {@link TELEMETRY_MESSAGE_SIZE_LIMIT} bytes. */
function checkWireSize(topic: string, payload: Buffer | string): void {
  // Fast path: UTF-8 needs at most 3 bytes per UTF-16 code unit, so short strings cannot exceed the limit.
  if ((topic.length + (typeof payload === 'string' ? payload.length : payload.length / 3)) * 3 <= TELEMETRY_MESSAGE_SIZE_LIMIT) return;
  const size = Buffer.byteLength(topic, 'utf8') + (typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length);
  if (size > TELEMETRY_MESSAGE_SIZE_LIMIT) {
    throw new ValueError(`Message too large: ${size} bytes on the wire (topic with properties + payload) exceeds 256 KB`, {
      code: 'message-too-large',
    });
  }
}

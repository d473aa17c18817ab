// The messages the local hub routes: a module's events publish or a service-side sendToInput turned into a hub
// message stamped as edgeHub stamps it, and the message size as IoT Hub counts it against its 256 KiB limit.
import type { HubIdentity } from './hubTopics';
import { parsePropertyBag, type DecodedBag } from './messageBag';
import type { HubMessage } from './types';

/**
 * IoT Hub's limit on a device-to-cloud message (the Python SDK's `TELEMETRY_MESSAGE_SIZE_LIMIT`), see {@link
 * messageSize}.
 */
export const MAX_MESSAGE_BYTES = 262_144;

/**
 * The size of a device-to-cloud message as IoT Hub counts it against {@link MAX_MESSAGE_BYTES}, measured like the
 * Python SDK's own check (`Message.get_size`): the body plus the values (UTF-8 bytes) of its system and application
 * properties. Not counted: property names, the output name (`$.on`: the Python SDK sets it after its size check) and
 * the rest of the MQTT topic, so the largest message that SDK sends is accepted however long its topic.
 * @throws never
 */
export function messageSize(bag: DecodedBag, body: Buffer): number {
  let size = body.length;
  for (const [key, value] of Object.entries(bag.systemProperties)) if (key !== '$.on') size += Buffer.byteLength(value);
  for (const value of Object.values(bag.properties)) size += Buffer.byteLength(value);
  return size;
}

/** What a service-side `sendToInput` gives. */
export interface InputMessage {
  body: Buffer | string;
  properties?: Record<string, string>;
  systemProperties?: Record<string, string>;
}

/** The hub message for an events publish from `identity` with property bag `bag` (still percent-encoded). */
export function telemetryMessage(identity: HubIdentity, bag: string, body: Buffer, enqueuedTime: string): HubMessage {
  const decoded = parsePropertyBag(bag);
  const sys = decoded.systemProperties;
  // edgeHub stamps the source identity (overwriting whatever the module claimed).
  sys['$.cdid'] = identity.deviceId;
  if (identity.moduleId !== undefined) sys['$.cmid'] = identity.moduleId;
  else delete sys['$.cmid'];
  const message: HubMessage = {
    body,
    properties: decoded.properties,
    systemProperties: sys,
    deviceId: identity.deviceId,
    enqueuedTime,
  };
  if (identity.moduleId !== undefined) message.moduleId = identity.moduleId;
  if (sys['$.on']) message.outputName = sys['$.on'];
  return message;
}

/**
 * The hub message for a service-side `sendToInput` to a module of `deviceId`: the source identity and output name
 * come from the given system properties (`$.cdid`, `$.cmid`, `$.on`) when present.
 */
export function injectedMessage(deviceId: string, input: InputMessage, enqueuedTime: string): HubMessage {
  const message: HubMessage = {
    body: Buffer.isBuffer(input.body) ? input.body : Buffer.from(input.body, 'utf8'),
    properties: { ...(input.properties ?? {}) },
    systemProperties: { ...(input.systemProperties ?? {}) },
    deviceId: input.systemProperties?.['$.cdid'] ?? deviceId,
    enqueuedTime,
  };
  const cmid = input.systemProperties?.['$.cmid'];
  if (cmid !== undefined) message.moduleId = cmid;
  const on = input.systemProperties?.['$.on'];
  if (on !== undefined) message.outputName = on;
  return message;
}

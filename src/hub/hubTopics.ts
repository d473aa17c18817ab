// The hub's topic vocabulary (IoT Hub's MQTT topics for modules): what a module may publish and subscribe, what each
// allowed publish means, and the topics the hub publishes to.
import { encodePropertyBag, parseTopicQuery, percentDecode, percentEncode, type DecodedBag } from './messageBag';

/** An authenticated MQTT identity: a module, or a device when `moduleId` is undefined. */
export interface HubIdentity {
  deviceId: string;
  moduleId?: string;
}

/** A publish the hub accepts from a module, classified. */
export type ClassifiedPublish =
  | { kind: 'events'; bag: string }
  | { kind: 'twinGet'; rid: string }
  | { kind: 'twinPatchReported'; rid: string }
  | { kind: 'methodResponse'; status: number; rid: string };

/** The MQTT client id of an identity: `{deviceId}/{moduleId}` for a module, `{deviceId}` for a device. */
export function clientKey(id: HubIdentity): string {
  return id.moduleId === undefined ? id.deviceId : `${id.deviceId}/${id.moduleId}`;
}

/**
 * An id as it appears in the topics the broker matches: `%`, `+` and `#` percent-encoded. IoT Hub allows `+` and `#`
 * in device and module ids and puts ids raw in topics; handed to the broker raw they would be MQTT wildcards (a module
 * named `+` would receive every module's inputs), so the broker only ever sees this form. Ids without those three
 * characters are unchanged.
 */
export function brokerId(id: string): string {
  return id.replace(/[%+#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Topic prefix of an identity on the wire: `devices/{d}/modules/{m}` or `devices/{d}` (ids raw, as IoT Hub expects).
 */
export function wirePrefix(id: HubIdentity): string {
  return id.moduleId === undefined ? `devices/${id.deviceId}` : `devices/${id.deviceId}/modules/${id.moduleId}`;
}

/** Topic prefix of an identity in the broker: {@link wirePrefix} with the ids in their {@link brokerId} form. */
export function identityPrefix(id: HubIdentity): string {
  return id.moduleId === undefined
    ? `devices/${brokerId(id.deviceId)}`
    : `devices/${brokerId(id.deviceId)}/modules/${brokerId(id.moduleId)}`;
}

/**
 * A topic or filter an identity sent, as the broker sees it: its own prefix (ids raw) becomes {@link identityPrefix};
 * anything else is left as it is (and judged as it is).
 */
export function toBrokerTopic(topic: string, id: HubIdentity): string {
  const wire = wirePrefix(id);
  return topic.startsWith(`${wire}/`) ? identityPrefix(id) + topic.slice(wire.length) : topic;
}

/**
 * A broker topic as the identity must receive it: its own prefix with the ids raw.
 * @returns the wire topic, or `undefined` when the topic is under `devices/` but not the identity's own (the broker
 *   matched it through a filter that is not literally the identity's, which must never deliver).
 */
export function toWireTopic(topic: string, id: HubIdentity): string | undefined {
  if (!topic.startsWith('devices/')) return topic;
  const wire = wirePrefix(id);
  // A session store may hand back a packet already forwarded once (its topic in wire form).
  for (const own of [identityPrefix(id), wire]) {
    if (!topic.startsWith(`${own}/`)) continue;
    // A device's prefix is also the start of its modules' topics: those are not the device's own.
    if (id.moduleId === undefined && topic.startsWith(`${own}/modules/`)) return undefined;
    return wire + topic.slice(own.length);
  }
  return undefined;
}

/** The topic filter of a module's inputs (broker form). */
export function inputsFilter(deviceId: string, moduleId: string): string {
  return `${identityPrefix({ deviceId, moduleId })}/inputs/#`;
}

/** The filter a module subscribes to for direct method requests. */
export const METHODS_FILTER = '$iothub/methods/POST/#';
export const TWIN_RES_FILTER = '$iothub/twin/res/#';
export const DESIRED_FILTER = '$iothub/twin/PATCH/properties/desired/#';

/**
 * Classifies a PUBLISH from `id` (topic in broker form, see {@link toBrokerTopic}). Only its own events topic, twin GET
 * / reported PATCH and method responses are allowed (IoT Hub closes the connection on anything else).
 * @returns the classification, or `undefined` when the topic is not allowed.
 */
export function classifyPublish(topic: string, id: HubIdentity): ClassifiedPublish | undefined {
  const events = `${identityPrefix(id)}/messages/events`;
  if (topic === events) return { kind: 'events', bag: '' };
  if (topic.startsWith(events + '/')) {
    // The Node SDK appends a '/' after the bag of output messages: tolerate trailing slashes.
    return { kind: 'events', bag: topic.slice(events.length + 1).replace(/\/+$/, '') };
  }
  const rid = parseTopicQuery(topic).get('$rid');
  if (topic.startsWith('$iothub/twin/GET/?') && rid !== undefined) return { kind: 'twinGet', rid };
  if (topic.startsWith('$iothub/twin/PATCH/properties/reported/?') && rid !== undefined) {
    return { kind: 'twinPatchReported', rid };
  }
  const m = /^\$iothub\/methods\/res\/([^/?]+)\/\?/.exec(topic);
  if (m && rid !== undefined) {
    const status = Number(percentDecode(m[1]!));
    if (Number.isInteger(status)) return { kind: 'methodResponse', status, rid };
  }
  return undefined;
}

/**
 * Whether `id` may subscribe to `filter`: its own inputs (modules) or cloud-to-device (devices), methods, twin
 * responses and desired-property patches. Anything else gets SUBACK 0x80.
 */
export function subscriptionAllowed(filter: string, id: HubIdentity): boolean {
  if (filter === METHODS_FILTER || filter === TWIN_RES_FILTER || filter === DESIRED_FILTER) return true;
  if (id.moduleId !== undefined) return filter === inputsFilter(id.deviceId, id.moduleId);
  return filter === `${identityPrefix(id)}/messages/devicebound/#`;
}

/** `$iothub/twin/res/{status}/?$rid={rid}[&$version={version}]`: the answer to a twin GET or reported PATCH. */
export function twinResponseTopic(status: number, rid: string, version?: number): string {
  return `$iothub/twin/res/${status}/?$rid=${percentEncode(rid)}${version === undefined ? '' : `&$version=${version}`}`;
}

/** `$iothub/twin/PATCH/properties/desired/?$version={version}`: a desired-properties patch pushed to a module. */
export function desiredPatchTopic(version: number): string {
  return `$iothub/twin/PATCH/properties/desired/?$version=${version}`;
}

/** `$iothub/methods/POST/{methodName}/?$rid={rid}`: a direct method request (`rid` is the hub's hex counter). */
export function methodRequestTopic(methodName: string, rid: string): string {
  return `$iothub/methods/POST/${percentEncode(methodName)}/?$rid=${rid}`;
}

/** The system properties a message delivered to a module input carries (empty ones are left out). */
const INPUT_SYSTEM_PROPERTIES = ['$.mid', '$.cid', '$.uid', '$.ct', '$.ce', '$.exp', '$.cdid', '$.cmid', '$.on'];

/**
 * `devices/{d}/modules/{m}/inputs/{inputName}/{bag}` (broker form, see {@link toWireTopic}): where a routed message is
 * delivered.
 */
export function inputTopic(deviceId: string, moduleId: string, inputName: string, message: DecodedBag): string {
  const sys: Record<string, string> = {};
  for (const key of INPUT_SYSTEM_PROPERTIES) {
    const v = message.systemProperties[key];
    if (v !== undefined && v !== '') sys[key] = v;
  }
  const bag = encodePropertyBag({ properties: message.properties, systemProperties: sys });
  return `${identityPrefix({ deviceId, moduleId })}/inputs/${inputName}/${bag}`;
}

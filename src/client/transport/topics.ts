// Every IoT Hub MQTT topic a module uses (learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub): building
// publish / subscribe topics and recognising and parsing incoming ones. Pure.
import { quote, unquote, decodeMessageProperties, type DecodedProperties } from './properties';

/** The identity whose topics are used. Ids are inserted raw, never encoded (as the hub expects). */
export interface TopicIdentity {
  deviceId: string;
  moduleId?: string;
}

function identityPrefix(id: TopicIdentity): string {
  return id.moduleId ? `devices/${id.deviceId}/modules/${id.moduleId}` : `devices/${id.deviceId}`;
}

/** Telemetry / output events topic with the encoded property bag appended after the trailing `/`. */
export function eventsTopic(id: TopicIdentity, propertyBag: string): string {
  return `${identityPrefix(id)}/messages/events/${propertyBag}`;
}

/** Subscription for every input of the module (`devices/{d}/modules/{m}/inputs/#`). */
export function inputsSubscription(id: TopicIdentity): string {
  return `${identityPrefix(id)}/inputs/#`;
}

export const METHODS_SUBSCRIPTION = '$iothub/methods/POST/#';
export const TWIN_RESPONSE_SUBSCRIPTION = '$iothub/twin/res/#';
export const DESIRED_PATCH_SUBSCRIPTION = '$iothub/twin/PATCH/properties/desired/#';

export function methodResponseTopic(requestId: string, status: number): string {
  return `$iothub/methods/res/${quote(String(status))}/?$rid=${quote(requestId)}`;
}

export function twinGetTopic(requestId: string): string {
  return `$iothub/twin/GET/?$rid=${quote(requestId)}`;
}

export function twinPatchReportedTopic(requestId: string): string {
  return `$iothub/twin/PATCH/properties/reported/?$rid=${quote(requestId)}`;
}

/** Parses a `?k=v&k2=v2` query: keys decoded with a leading `$` stripped, values decoded. */
function parseQuery(topic: string): Record<string, string> {
  const q = topic.indexOf('?');
  const out: Record<string, string> = {};
  if (q < 0) return out;
  for (const pair of topic.slice(q + 1).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    let key = unquote(eq < 0 ? pair : pair.slice(0, eq));
    if (key.startsWith('$')) key = key.slice(1);
    out[key] = eq < 0 ? '' : unquote(pair.slice(eq + 1));
  }
  return out;
}

/** An incoming publish, classified. */
export type IncomingTopic =
  | { kind: 'input'; inputName: string; properties: DecodedProperties }
  | { kind: 'method'; methodName: string; requestId: string }
  | { kind: 'twin-response'; status: number; requestId: string; version?: number }
  | { kind: 'desired-patch'; version?: number }
  | { kind: 'unknown' };

/**
 * Classifies a received topic (input message, method request, twin response, desired patch). Accepts both SDKs' shapes:
 * encoded or raw input names, a property bag with or without a trailing `/`.
 */
export function parseIncomingTopic(topic: string, id: TopicIdentity): IncomingTopic {
  const inputsPrefix = `${identityPrefix(id)}/inputs/`;
  if (topic.startsWith(inputsPrefix)) {
    const rest = topic.slice(inputsPrefix.length);
    const slash = rest.indexOf('/');
    const rawName = slash < 0 ? rest : rest.slice(0, slash);
    const bag = slash < 0 ? '' : rest.slice(slash + 1);
    return { kind: 'input', inputName: unquote(rawName), properties: decodeMessageProperties(bag) };
  }
  if (topic.startsWith('$iothub/methods/POST/')) {
    const name = topic.split('/')[3] ?? '';
    const query = parseQuery(topic);
    return { kind: 'method', methodName: unquote(name), requestId: query.rid ?? '' };
  }
  if (topic.startsWith('$iothub/twin/res/')) {
    const status = Number.parseInt(unquote(topic.split('/')[3] ?? ''), 10);
    const query = parseQuery(topic);
    const result: IncomingTopic = { kind: 'twin-response', status, requestId: query.rid ?? '' };
    if (query.version !== undefined && /^\d+$/.test(query.version)) result.version = Number(query.version);
    return result;
  }
  if (topic.startsWith('$iothub/twin/PATCH/properties/desired')) {
    const query = parseQuery(topic);
    const result: IncomingTopic = { kind: 'desired-patch' };
    if (query.version !== undefined && /^\d+$/.test(query.version)) result.version = Number(query.version);
    return result;
  }
  return { kind: 'unknown' };
}

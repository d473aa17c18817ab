// Message property bag on the MQTT topic: encode exactly like the Python SDK, decode what either SDK (Python or Node)
// sends.
import type { Message } from '../models/Message';

/**
 * Python `urllib.parse.quote(s, safe='')`: RFC 3986 unreserved characters stay, everything else is percent-encoded
 * from UTF-8 with upper-case hex. Unlike `encodeURIComponent` it also escapes `! * ' ( )`.
 */
export function quote(value: string): string {
  // Hot path of every publish: most keys and values need no escaping, and the rest repeat (cache).
  if (UNRESERVED.test(value)) return value;
  const cached = quoteCache.get(value);
  if (cached !== undefined) return cached;
  const encoded = encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
  if (value.length <= 128) {
    if (quoteCache.size >= 1024) quoteCache.clear();
    quoteCache.set(value, encoded);
  }
  return encoded;
}

const UNRESERVED = /^[A-Za-z0-9_.~-]*$/;
const quoteCache = new Map<string, string>();

/** Python `quote_plus`: like {@link quote} but a space becomes `+`. */
export function quotePlus(value: string): string {
  return quote(value).replace(/%20/g, '+');
}

/**
 * Python `unquote`: percent-decodes UTF-8 and leaves `+` alone. Malformed escapes are kept literally (as Python
 * does) instead of throwing like `decodeURIComponent`.
 */
export function unquote(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** Python `datetime.isoformat()` of a Date in UTC (no `Z`, microseconds only when non-zero). */
function isoformat(date: Date): string {
  const iso = date.toISOString();
  const ms = date.getUTCMilliseconds();
  return ms === 0 ? iso.slice(0, 19) : iso.slice(0, 19) + '.' + String(ms * 1000).padStart(6, '0');
}

/** The text a property value is sent as: a Date in Python `isoformat()`, anything else as `String(value)`. */
function propertyText(value: unknown): string {
  return value instanceof Date ? isoformat(value) : String(value);
}

/** Appends `key=value` to a bag; `key` is already encoded (the system keys are constants). */
function appendPair(bag: string, encodedKey: string, value: unknown): string {
  return (bag === '' ? '' : bag + '&') + encodedKey + '=' + quote(propertyText(value));
}

/**
 * The bytes the properties of a message add to its size as IoT Hub counts it (its 256 KB limit is on the body plus
 * the application and system properties), measured like the Python SDK's own check (`Message.get_size`): the UTF-8
 * length of every system property value that is sent and of every application property value, as sent (before
 * percent-encoding). Not counted, as by that SDK: property names, and the output name (`$.on`), which it sets after
 * its size check.
 */
export function messagePropertiesSize(message: Message): number {
  let size = 0;
  const add = (value: unknown): void => {
    if (value) size += Buffer.byteLength(propertyText(value), 'utf8');
  };
  add(message.messageId);
  add(message.correlationId);
  add(message.userId);
  add(message.contentType);
  add(message.contentEncoding);
  add(message.iothubInterfaceId);
  add(message.expiryTimeUtc);
  const props = message.customProperties;
  if (props) {
    for (const k of Object.keys(props)) size += Buffer.byteLength(propertyText(props[k]), 'utf8');
  }
  return size;
}

/**
 * The property bag appended after `…/messages/events/`: system properties (truthy only) in the Python SDK's order
 * (`$.on`, `$.mid`, `$.cid`, `$.uid`, `$.ct`, `$.ce`, `$.ifid`, `$.exp`), then custom properties sorted by key
 * (code-unit order, as Python sorts str). Keys and values are encoded with {@link quote}.
 */
export function encodeMessageProperties(message: Message): string {
  // Every publish runs this: one plain property read per system property (no table walk, keyed reads or iterators).
  let bag = '';
  if (message.outputName) bag = appendPair(bag, '%24.on', message.outputName);
  if (message.messageId) bag = appendPair(bag, '%24.mid', message.messageId);
  if (message.correlationId) bag = appendPair(bag, '%24.cid', message.correlationId);
  if (message.userId) bag = appendPair(bag, '%24.uid', message.userId);
  if (message.contentType) bag = appendPair(bag, '%24.ct', message.contentType);
  if (message.contentEncoding) bag = appendPair(bag, '%24.ce', message.contentEncoding);
  if (message.iothubInterfaceId) bag = appendPair(bag, '%24.ifid', message.iothubInterfaceId);
  if (message.expiryTimeUtc) bag = appendPair(bag, '%24.exp', message.expiryTimeUtc);
  const props = message.customProperties;
  if (!props) return bag;
  const keys = Object.keys(props);
  if (keys.length === 0) return bag;
  // Keys of an object are unique strings, so the Python SDK's "duplicate key after str()" error cannot happen here.
  if (keys.length > 1) keys.sort();
  for (const k of keys) bag = appendPair(bag, quote(k), props[k]);
  return bag;
}

/** What a received property bag says, split into the fields a Message has and the custom properties. */
export interface DecodedProperties {
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  expiryTimeUtc?: string;
  ack?: string;
  customProperties: Record<string, string>;
}

const RECEIVE_MAP: Record<string, keyof Omit<DecodedProperties, 'customProperties'>> = {
  '$.mid': 'messageId',
  '$.cid': 'correlationId',
  '$.uid': 'userId',
  '$.ct': 'contentType',
  '$.ce': 'contentEncoding',
  '$.exp': 'expiryTimeUtc',
  'iothub-ack': 'ack',
};

/**
 * Parses a received property bag (`k=v&k2=v2`, keys and values percent-encoded). As the Python SDK: `$.to` is dropped,
 * known system keys map to fields, everything else (`$.on`, `$.cdid`, `$.cmid`, …) is a custom property under its
 * decoded key. A key without `=` gets the value `''` (the Python SDK's `None` has no string form). Tolerates a trailing
 * `/` and a leading `?` (the Node SDK's shapes).
 */
export function decodeMessageProperties(bag: string): DecodedProperties {
  const result: DecodedProperties = { customProperties: {} };
  let text = bag;
  if (text.startsWith('?')) text = text.slice(1);
  if (text.endsWith('/')) text = text.slice(0, -1);
  if (!text) return result;
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = unquote(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : unquote(pair.slice(eq + 1));
    if (key === '$.to') continue;
    // Own keys only: `constructor`, `toString`, `__proto__`… must not find Object.prototype members.
    const field = Object.hasOwn(RECEIVE_MAP, key) ? RECEIVE_MAP[key] : undefined;
    if (field) result[field] = value;
    // A plain assignment to `__proto__` would set the prototype (or be ignored) instead of keeping the property.
    else if (key === '__proto__')
      Object.defineProperty(result.customProperties, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else result.customProperties[key] = value;
  }
  return result;
}

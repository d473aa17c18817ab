// The hub's own property-bag code: parse the bag a module appends to its events topic, encode the bag of a delivery.

/** Decoded properties of a message: application properties and `$.`-prefixed system properties. */
export interface DecodedBag {
  properties: Record<string, string>;
  systemProperties: Record<string, string>;
}

/** Percent-decodes like Python's `unquote`: `+` stays `+`, a malformed escape is kept as it is. */
export function percentDecode(value: string): string {
  // Hot path (every key and value of every upstream message): most need no decoding.
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    // Decode what can be decoded, one escape sequence at a time; keep malformed ones literally.
    return value.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

const UNRESERVED = /^[A-Za-z0-9_.~-]*$/;

/** Strict RFC 3986 encoding (also escapes `!'()*`, upper-case hex), the way IoT Hub and the Python SDK encode bags. */
export function percentEncode(value: string): string {
  // Hot path (every key and value of every delivered message): most need no encoding.
  if (UNRESERVED.test(value)) return value;
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * Parses a property bag `k=v&k2=v2` (keys and values percent-encoded). Keys starting with `$.` (after decoding) are
 * system properties, everything else application properties. A pair without `=` gets the value `""`; empty
 * segments (`a=1&&b=2`, a trailing `&`) are skipped; a later duplicate key wins.
 */
export function parsePropertyBag(bag: string): DecodedBag {
  const result: DecodedBag = { properties: {}, systemProperties: {} };
  if (!bag) return result;
  for (const pair of bag.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = percentDecode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : percentDecode(pair.slice(eq + 1));
    if (!key) continue;
    const target = key.startsWith('$.') ? result.systemProperties : result.properties;
    // `__proto__` must become a plain property: assigning it would hit the prototype setter and silently drop it.
    if (key === '__proto__')
      Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
    else target[key] = value;
  }
  return result;
}

/** System properties in the order IoT Hub writes them on a delivered message. */
const SYSTEM_ORDER = ['$.mid', '$.cid', '$.uid', '$.to', '$.ct', '$.ce', '$.exp', '$.on', '$.cdid', '$.cmid', '$.ifid'];

/**
 * Encodes a property bag: system properties first (known ones in IoT Hub's order, then any others sorted), then
 * application properties sorted by key. Keys and values are percent-encoded (so `$.mid` is written `%24.mid`).
 */
export function encodePropertyBag(bag: DecodedBag): string {
  const parts: string[] = [];
  const sysKeys = Object.keys(bag.systemProperties);
  const ordered = [
    ...SYSTEM_ORDER.filter((k) => sysKeys.includes(k)),
    ...sysKeys.filter((k) => !SYSTEM_ORDER.includes(k)).sort(),
  ];
  for (const key of ordered) parts.push(`${percentEncode(key)}=${percentEncode(bag.systemProperties[key]!)}`);
  for (const key of Object.keys(bag.properties).sort())
    parts.push(`${percentEncode(key)}=${percentEncode(bag.properties[key]!)}`);
  return parts.join('&');
}

/**
 * Parses the query part of a hub topic (`?$rid=1&$version=3`): keys and values percent-decoded.
 * @returns a map (empty when there is no `?`).
 */
export function parseTopicQuery(topic: string): Map<string, string> {
  const result = new Map<string, string>();
  const q = topic.indexOf('?');
  if (q < 0) return result;
  for (const pair of topic.slice(q + 1).split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    result.set(percentDecode(eq < 0 ? pair : pair.slice(0, eq)), eq < 0 ? '' : percentDecode(pair.slice(eq + 1)));
  }
  return result;
}

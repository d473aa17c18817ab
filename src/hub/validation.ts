// IoT Hub's rules for values the local hub takes from users (ids, symmetric keys, thumbprints, If-Match etags), and a
// JSON object test.

/**
 * IoT Hub's id rules (devices and modules alike): 1 to 128 ASCII letters, digits and `- . + % _ # * ? ! ( ) , : = @ $
 * '`.
 */
export const ID_PATTERN = /^[A-Za-z0-9\-.+%_#*?!(),:=@$']{1,128}$/;

/** An X.509 thumbprint as IoT Hub stores it: SHA-1 (40) or SHA-256 (64) hex digits, no separators. */
export const THUMBPRINT_PATTERN = /^(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/;

/**
 * Whether a value is a plain JSON object (not null, not an array).
 * @throws never
 */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether a device or module id follows IoT Hub's rules.
 * @throws never
 */
export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/**
 * Whether a symmetric key is one IoT Hub accepts: canonical base64 of 16 to 64 bytes.
 * @throws never
 */
export function isSymmetricKey(key: unknown): key is string {
  if (typeof key !== 'string' || key.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) return false;
  const bytes = Buffer.from(key, 'base64').length;
  return bytes >= 16 && bytes <= 64;
}

/**
 * Whether an `If-Match` value lets a change to something whose etag is `etag` go ahead, as IoT Hub decides it:
 * absent, `*` and `"*"` match anything; an etag matches quoted (`"AAAAAAAAAAE="`, what azure-iothub sends) or bare
 * (what the Python service SDK passes on from a twin's `etag` field); a weak `W/` marker is ignored.
 * @throws never
 */
export function etagMatches(ifMatch: string | undefined, etag: string): boolean {
  if (ifMatch === undefined) return true;
  let wanted = ifMatch.trim().replace(/^W\//, '');
  if (wanted.length >= 2 && wanted.startsWith('"') && wanted.endsWith('"')) wanted = wanted.slice(1, -1);
  return wanted === '*' || wanted === etag;
}

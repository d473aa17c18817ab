// The local hub's own SAS token code: parse, verify and create `SharedAccessSignature` tokens (never the client's).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A SAS token split into its fields. */
export interface ParsedSas {
  /** `sr` exactly as sent, still percent-encoded (the string-to-sign uses it verbatim). */
  sr: string;
  /** `sr` URL-decoded. */
  resource: string;
  /** `sig` URL-decoded (base64). */
  sig: string;
  /** Expiry, seconds since the epoch. */
  se: number;
  /** Shared access policy name, when present (service tokens). */
  skn?: string;
}

const PREFIX = 'SharedAccessSignature ';

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/**
 * Parses `SharedAccessSignature sr=…&sig=…&se=…[&skn=…]` (fields in any order).
 * @returns the fields, or `undefined` when the token is malformed (missing prefix/field, bad encoding, non-integer
 *   `se`, duplicate or unknown field). Never throws.
 */
export function parseSasToken(token: string): ParsedSas | undefined {
  if (typeof token !== 'string' || !token.startsWith(PREFIX)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).trim().split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const key = part.slice(0, eq).trim();
    if (fields.has(key) || !['sr', 'sig', 'se', 'skn'].includes(key)) return undefined;
    fields.set(key, part.slice(eq + 1).trim());
  }
  const sr = fields.get('sr');
  const sigRaw = fields.get('sig');
  const seRaw = fields.get('se');
  if (!sr || !sigRaw || !seRaw || !/^\d+$/.test(seRaw)) return undefined;
  const resource = decode(sr);
  const sig = decode(sigRaw);
  if (resource === undefined || sig === undefined) return undefined;
  const parsed: ParsedSas = { sr, resource, sig, se: Number(seRaw) };
  const sknRaw = fields.get('skn');
  if (sknRaw !== undefined) {
    const skn = decode(sknRaw);
    if (skn === undefined) return undefined;
    parsed.skn = skn;
  }
  return parsed;
}

/** base64 HMAC-SHA256 of `{sr}\n{se}` under a base64 key (IoT Hub's string-to-sign uses the ENCODED `sr`). */
function sign(sr: string, se: number, keyBase64: string): Buffer {
  return createHmac('sha256', Buffer.from(keyBase64, 'base64')).update(`${sr}\n${se}`, 'utf8').digest();
}

/**
 * Checks a parsed token's signature under any of the keys, and that it has not expired.
 * Only signature and expiry are checked: whether `resource` fits the identity is the caller's business.
 * @returns true when `se > nowSeconds` and `sig` is the HMAC-SHA256 of `{sr as sent}\n{se}` under one of the keys.
 */
export function verifySas(parsed: ParsedSas, keysBase64: string[], nowSeconds: number): boolean {
  if (!(parsed.se > nowSeconds)) return false;
  const given = Buffer.from(parsed.sig, 'base64');
  // Reject signatures that are not canonical base64 of a 32-byte digest (e.g. junk that decodes short).
  if (given.length !== 32 || given.toString('base64') !== parsed.sig) return false;
  let ok = false;
  for (const key of keysBase64) {
    if (!key) continue;
    // No early exit: every key is compared so timing does not reveal which one matched.
    if (timingSafeEqual(sign(parsed.sr, parsed.se, key), given)) ok = true;
  }
  return ok;
}

/**
 * Creates a SAS token for any resource URI (e.g. `{host}/devices/{d}/modules/{m}`), the way IoT Hub clients do:
 * `sr` is the whole URI percent-encoded, `skn` appended last only when a key name is given.
 * @throws TypeError when `resourceUri` is empty.
 */
export function createSas(
  resourceUri: string,
  keyBase64: string,
  ttlSeconds: number,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  keyName?: string,
): string {
  if (!resourceUri) throw new TypeError('resourceUri is required');
  const sr = encodeURIComponent(resourceUri);
  const se = Math.floor(nowSeconds + ttlSeconds);
  const sig = encodeURIComponent(sign(sr, se, keyBase64).toString('base64'));
  return `${PREFIX}sr=${sr}&sig=${sig}&se=${se}` + (keyName ? `&skn=${encodeURIComponent(keyName)}` : '');
}

/**
 * Creates a service (policy) SAS token: `SharedAccessSignature sr={host}&sig=…&se=…&skn={keyName}`.
 * @param ttlSeconds lifetime from `nowSeconds` (default: the current time).
 * @throws TypeError when `hostName` or `keyName` is empty.
 */
export function createServiceSas(
  hostName: string,
  keyName: string,
  keyBase64: string,
  ttlSeconds: number,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): string {
  if (!hostName || !keyName) throw new TypeError('hostName and keyName are required');
  return createSas(hostName, keyBase64, ttlSeconds, nowSeconds, keyName);
}

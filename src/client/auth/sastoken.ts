// IoT Hub SAS tokens: building and signing (local key or async signer), parsing and validating user tokens,
// and the renewable token of the connection-string / Edge factories.
import crypto from 'node:crypto';
import { ValueError } from '../errors';
import { quote, unquote } from '../transport/properties';
import type { Signer } from '../types';
import { systemClock, type Clock } from '../clock';

/** Seconds before expiry at which a token is renewed (the Python SDK's `DEFAULT_TOKEN_UPDATE_MARGIN`). */
export const DEFAULT_TOKEN_UPDATE_MARGIN = 120;
/** Default token lifetime, seconds. */
export const DEFAULT_SASTOKEN_TTL = 3600;

/** Resource URI of a device or module: `{host}/devices/{d}[/modules/{m}]` (ids not encoded). */
export function resourceUri(hostname: string, deviceId: string, moduleId?: string): string {
  return moduleId ? `${hostname}/devices/${deviceId}/modules/${moduleId}` : `${hostname}/devices/${deviceId}`;
}

/**
 * Decodes a base64 key the way Python's non-strict `base64.b64decode` does: characters outside the alphabet are
 * discarded, but wrong padding is an error.
 * @throws ValueError "Invalid Symmetric Key".
 */
export function decodeSymmetricKey(key: string): Buffer {
  const cleaned = key.replace(/[^A-Za-z0-9+/=]/g, '');
  const firstPad = cleaned.indexOf('=');
  const data = firstPad < 0 ? cleaned : cleaned.slice(0, firstPad);
  const pads = firstPad < 0 ? 0 : cleaned.length - firstPad;
  const rest = data.length % 4;
  const needed = rest === 0 ? 0 : rest === 2 ? 2 : rest === 3 ? 1 : -1;
  if (needed < 0 || pads < needed) throw new ValueError('Invalid Symmetric Key');
  return Buffer.from(data, 'base64');
}

/**
 * A signer that computes base64(HMAC-SHA256(base64decode(key), stringToSign)).
 * @throws ValueError when the key is not valid base64.
 */
export function symmetricKeySigner(key: string): Signer {
  const secret = decodeSymmetricKey(key);
  return async (stringToSign) => crypto.createHmac('sha256', secret).update(stringToSign, 'utf8').digest('base64');
}

/** The exact string the hub verifies: the ENCODED resource URI, a newline, the expiry. */
export function stringToSign(encodedUri: string, expiry: number): string {
  return `${encodedUri}\n${expiry}`;
}

/**
 * Builds `SharedAccessSignature sr={sr}&sig={sig}&se={se}[&skn={keyName}]`.
 * @throws whatever the signer throws.
 */
export async function buildSasToken(args: {
  uri: string;
  signer: Signer;
  expiry: number;
  keyName?: string;
}): Promise<string> {
  const sr = quote(args.uri);
  const signature = await args.signer(stringToSign(sr, args.expiry));
  let token = `SharedAccessSignature sr=${sr}&sig=${quote(signature)}&se=${args.expiry}`;
  if (args.keyName) token += `&skn=${quote(args.keyName)}`;
  return token;
}

/** The fields of a parsed SAS token plus the identity its `sr` names. */
export interface SasTokenInfo {
  sr: string;
  sig: string;
  se: number;
  skn?: string;
  hostname: string;
  deviceId: string;
  moduleId?: string;
}

/**
 * Parses a SAS token string like the Python SDK's `get_sastoken_info_from_string` plus the `sr` shape check.
 * @throws ValueError "Invalid SasToken provided" for any malformed token.
 */
export function parseSasToken(token: unknown): SasTokenInfo {
  const invalid = (why: string): ValueError => new ValueError(`Invalid SasToken provided: ${why}`);
  if (typeof token !== 'string') throw invalid('not a string');
  const halves = token.split('SharedAccessSignature ');
  if (halves.length !== 2) throw invalid('missing "SharedAccessSignature " prefix');
  const fields: Record<string, string> = {};
  for (const segment of halves[1]!.split('&')) {
    const eq = segment.indexOf('=');
    if (eq < 0) throw invalid('malformed field');
    const key = segment.slice(0, eq).trim();
    if (!['sr', 'sig', 'se', 'skn'].includes(key)) throw invalid(`unexpected field ${key}`);
    fields[key] = segment.slice(eq + 1).trim();
  }
  if (fields.sr === undefined || fields.sig === undefined || fields.se === undefined)
    throw invalid('sr, sig and se are required');
  if (!/^\d+$/.test(fields.se)) throw invalid('se is not an integer');
  const parts = unquote(fields.sr).split('/');
  if (
    !(parts.length === 3 || parts.length === 5) ||
    parts[1] !== 'devices' ||
    (parts.length === 5 && parts[3] !== 'modules')
  ) {
    throw invalid('sr is not a device or module resource URI');
  }
  const info: SasTokenInfo = {
    sr: fields.sr,
    sig: fields.sig,
    se: Number(fields.se),
    hostname: parts[0]!,
    deviceId: parts[2]!,
  };
  if (parts.length === 5) info.moduleId = parts[4]!;
  if (fields.skn !== undefined) info.skn = fields.skn;
  return info;
}

/**
 * Validates a user-supplied module token (as `create_from_sastoken` takes it): module form, not expired.
 * @throws ValueError when malformed, for a device, or already expired.
 */
export function validateModuleSasToken(token: unknown, nowMs: number = Date.now()): SasTokenInfo {
  const info = parseSasToken(token);
  if (info.moduleId === undefined) throw new ValueError('Provided SasToken is for a device');
  if (info.se < nowMs / 1000) throw new ValueError('Provided SasToken has already expired');
  return info;
}

/** Common surface of both token kinds. */
export interface SasTokenSource {
  /** The token text, used as MQTT password and HTTP Authorization value. */
  readonly value: string;
  /** Expiry in seconds since the epoch. */
  readonly expiry: number;
  readonly renewable: boolean;
}

/** A token given by the user: cannot be re-signed; the client asks for a new one (`onNewSastokenRequired`). */
export class NonRenewableSasToken implements SasTokenSource {
  readonly renewable = false;
  readonly info: SasTokenInfo;
  /** Seconds the token had left when it was supplied. */
  readonly lifetime: number;
  constructor(
    readonly value: string,
    nowMs: number = Date.now(),
  ) {
    this.info = validateModuleSasToken(value, nowMs);
    this.lifetime = this.info.se - nowMs / 1000;
  }
  get expiry(): number {
    return this.info.se;
  }
}

/** A token the client signs itself (connection string key or IoT Edge workload API) and re-signs on demand. */
export class RenewableSasToken implements SasTokenSource {
  readonly renewable = true;
  private current = '';
  private currentExpiry = 0;

  private constructor(
    readonly uri: string,
    private readonly signer: Signer,
    readonly ttl: number,
    private readonly clock: Clock,
  ) {}

  /**
   * Creates and signs the first token (expiry = now + ttl, integer seconds).
   * @throws whatever the signer throws (e.g. workload API failure).
   */
  static async create(args: { uri: string; signer: Signer; ttl?: number; clock?: Clock }): Promise<RenewableSasToken> {
    const token = new RenewableSasToken(
      args.uri,
      args.signer,
      args.ttl ?? DEFAULT_SASTOKEN_TTL,
      args.clock ?? systemClock,
    );
    await token.refresh();
    return token;
  }

  /** A token that is signed on first use ({@link refresh}); lets synchronous factories defer async signing. */
  static unsigned(args: { uri: string; signer: Signer; ttl?: number; clock?: Clock }): RenewableSasToken {
    return new RenewableSasToken(args.uri, args.signer, args.ttl ?? DEFAULT_SASTOKEN_TTL, args.clock ?? systemClock);
  }

  /** Re-signs with a fresh expiry. The old value stays in place if signing fails. */
  async refresh(): Promise<void> {
    const expiry = Math.floor(this.clock.now() / 1000 + this.ttl);
    const value = await buildSasToken({ uri: this.uri, signer: this.signer, expiry });
    this.current = value;
    this.currentExpiry = expiry;
  }

  get value(): string {
    return this.current;
  }

  get expiry(): number {
    return this.currentExpiry;
  }
}

/** Absolute time (ms) at which a token expiring at `expirySec` should be renewed. */
export function renewalTime(expirySec: number, marginSec: number = DEFAULT_TOKEN_UPDATE_MARGIN): number {
  return (expirySec - marginSec) * 1000;
}

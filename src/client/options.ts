// Client option validation per factory (as the seed's kwargs checks: unknown/excluded → TypeError, bad value →
// TypeError for a wrong type or ValueError for a bad value) and defaults.
import { ValueError } from './errors';
import { validateProxyOptions } from './transport/proxy';
import type { Logger, ProxyOptions } from './types';
import { MAX_TIMER_MS, type Clock } from './clock';
import { DEFAULT_SASTOKEN_TTL, DEFAULT_TOKEN_UPDATE_MARGIN } from './auth/sastoken';

/** Seed `MAX_KEEP_ALIVE_SECS`. */
export const MAX_KEEP_ALIVE_SECS = 1740;

/**
 * Options that are not part of the public contract (not exported from src/index.ts): test hooks. The factories take
 * them in the same options object (type it `ClientOptions & InternalClientOptions`) and validate them like the rest.
 * @internal
 */
export interface InternalClientOptions {
  /**
   * Seconds before expiry at which the SAS token is renewed. Default 120 (the seed's margin); a renewable token is
   * never renewed earlier than half its lifetime.
   */
  sastokenRenewalMargin?: number;
  /** Time source and timers for renewal, back-off and operation deadlines. Default: Node's own clock. */
  clock?: Clock;
}

export type FactoryKind = 'connectionString' | 'sastoken' | 'x509' | 'edge';

const ALL_KEYS = [
  'serverVerificationCert',
  'gatewayHostname',
  'websockets',
  'cipher',
  'productInfo',
  'proxyOptions',
  'sastokenTtl',
  'keepAlive',
  'autoConnect',
  'connectionRetry',
  'connectionRetryInterval',
  'ensureDesiredProperties',
  'operationTimeout',
  'logger',
  'sastokenRenewalMargin',
  'clock',
] as const;

const EXCLUDED: Record<FactoryKind, readonly string[]> = {
  connectionString: ['gatewayHostname'],
  sastoken: ['sastokenTtl'],
  x509: ['sastokenTtl'],
  edge: ['serverVerificationCert', 'gatewayHostname'],
};

/** Options after validation, with defaults applied (durations still in seconds). */
export interface ResolvedOptions {
  serverVerificationCert?: string;
  gatewayHostname?: string;
  websockets: boolean;
  cipher: string;
  productInfo: string;
  proxyOptions?: ProxyOptions;
  sastokenTtl: number;
  keepAlive: number;
  autoConnect: boolean;
  connectionRetry: boolean;
  connectionRetryInterval: number;
  ensureDesiredProperties: boolean;
  operationTimeout: number;
  logger?: Logger;
  sastokenRenewalMargin: number;
  clock?: Clock;
}

/**
 * Seed cipher normalisation: a list is joined with `:`, the text upper-cased and `_` replaced by `-`.
 * @throws TypeError when neither a string nor an array of strings.
 */
export function normalizeCipher(cipher: unknown): string {
  let text: string;
  if (typeof cipher === 'string') text = cipher;
  else if (Array.isArray(cipher) && cipher.every((c) => typeof c === 'string')) text = cipher.join(':');
  else throw new TypeError('Invalid type for cipher');
  return text.toUpperCase().replace(/_/g, '-');
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return value;
}

function str(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
  return value;
}

/** Python `int(x)` on a number: truncates; a non-number is a TypeError. */
function int(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${name} must be a number`);
  if (!Number.isFinite(value)) throw new ValueError(`${name} must be finite`);
  return Math.trunc(value);
}

function positive(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${name} must be a number`);
  if (!Number.isFinite(value) || value <= 0) throw new ValueError(`${name} must be greater than 0`);
  return value;
}

/**
 * Validates `options` for a factory and applies the defaults.
 * @throws TypeError for an unknown option, an option the factory excludes, or a value of the wrong type.
 * @throws ValueError for a value out of range.
 */
export function resolveOptions(factory: FactoryKind, options: unknown): ResolvedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) throw new TypeError('options must be an object');
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (factory === 'edge' && key === 'env') continue;
    if (!(ALL_KEYS as readonly string[]).includes(key)) throw new TypeError(`Unsupported option: ${key}`);
    if (EXCLUDED[factory].includes(key) && given[key] !== undefined) {
      throw new TypeError(`Unsupported option for this factory: ${key}`);
    }
  }
  const has = (k: string): boolean => given[k] !== undefined;
  const resolved: ResolvedOptions = {
    websockets: has('websockets') ? bool('websockets', given.websockets) : false,
    cipher: has('cipher') ? normalizeCipher(given.cipher) : '',
    productInfo: has('productInfo') ? str('productInfo', given.productInfo) : '',
    sastokenTtl: DEFAULT_SASTOKEN_TTL,
    keepAlive: 60,
    autoConnect: has('autoConnect') ? bool('autoConnect', given.autoConnect) : true,
    connectionRetry: has('connectionRetry') ? bool('connectionRetry', given.connectionRetry) : true,
    connectionRetryInterval: 10,
    ensureDesiredProperties: has('ensureDesiredProperties') ? bool('ensureDesiredProperties', given.ensureDesiredProperties) : true,
    operationTimeout: has('operationTimeout') ? positive('operationTimeout', given.operationTimeout) : 60,
    sastokenRenewalMargin: DEFAULT_TOKEN_UPDATE_MARGIN,
  };
  if (has('serverVerificationCert')) resolved.serverVerificationCert = str('serverVerificationCert', given.serverVerificationCert);
  if (has('gatewayHostname')) resolved.gatewayHostname = str('gatewayHostname', given.gatewayHostname);
  if (has('proxyOptions')) resolved.proxyOptions = validateProxyOptions(given.proxyOptions);
  if (has('sastokenTtl')) {
    resolved.sastokenTtl = int('sastokenTtl', given.sastokenTtl);
    if (resolved.sastokenTtl <= 0) throw new ValueError('sastokenTtl must be greater than 0');
  }
  if (has('keepAlive')) {
    resolved.keepAlive = int('keepAlive', given.keepAlive);
    if (resolved.keepAlive <= 0 || resolved.keepAlive > MAX_KEEP_ALIVE_SECS) {
      throw new ValueError(`keepAlive must be between 1 and ${MAX_KEEP_ALIVE_SECS}`);
    }
  }
  if (has('connectionRetryInterval')) {
    resolved.connectionRetryInterval = int('connectionRetryInterval', given.connectionRetryInterval);
    if (resolved.connectionRetryInterval <= 0 || resolved.connectionRetryInterval * 1000 > MAX_TIMER_MS) {
      throw new ValueError('connectionRetryInterval out of range');
    }
  }
  if (has('sastokenRenewalMargin')) {
    const margin = given.sastokenRenewalMargin;
    if (typeof margin !== 'number' || Number.isNaN(margin)) throw new TypeError('sastokenRenewalMargin must be a number');
    if (margin < 0) throw new ValueError('sastokenRenewalMargin must not be negative');
    resolved.sastokenRenewalMargin = margin;
  }
  if (has('logger')) {
    const logger = given.logger as Record<string, unknown> | null;
    const levels = ['debug', 'info', 'warn', 'error'];
    if (typeof logger !== 'object' || logger === null || levels.some((l) => logger[l] !== undefined && typeof logger[l] !== 'function')) {
      throw new TypeError('logger must be an object whose debug / info / warn / error members are functions');
    }
    resolved.logger = logger as Logger;
  }
  if (has('clock')) {
    const clock = given.clock as Record<string, unknown> | null;
    if (typeof clock !== 'object' || clock === null || ['now', 'setTimeout', 'clearTimeout'].some((k) => typeof clock[k] !== 'function')) {
      throw new TypeError('clock must have now, setTimeout and clearTimeout functions');
    }
    resolved.clock = clock as unknown as Clock;
  }
  if (has('sastokenTtl')) checkSastokenTtlCoversRenewal(resolved.sastokenTtl, resolved.sastokenRenewalMargin);
  return resolved;
}

/**
 * The shortest `sastokenTtl` accepted: twice the renewal margin (240 s with the default 120 s margin), so a token is
 * used for at least half its life and the client re-authenticates at most once per margin. Shorter lifetimes are
 * refused: a token renewed 120 s before it expires but living less than that would be due again at once, and the
 * client would reconnect in a tight loop (the Python SDK accepts such values and does exactly that).
 */
export function minimumSastokenTtl(renewalMargin: number = DEFAULT_TOKEN_UPDATE_MARGIN): number {
  return 2 * renewalMargin;
}

/** @throws ValueError when `ttl` is below {@link minimumSastokenTtl}, stating the minimum. */
function checkSastokenTtlCoversRenewal(ttl: number, renewalMargin: number): void {
  const minimum = minimumSastokenTtl(renewalMargin);
  if (ttl < minimum) {
    throw new ValueError(`sastokenTtl must be at least ${minimum} seconds (the token is renewed ${renewalMargin} s before it expires)`);
  }
}

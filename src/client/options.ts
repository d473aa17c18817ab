// Client option validation per factory (as the Python SDK's kwargs checks: unknown/excluded → TypeError, bad value
// → TypeError for a wrong type or ValueError for a bad value) and defaults.
import { ValueError } from './errors';
import { validateProxyOptions } from './transport/proxy';
import type { Logger, ProxyOptions } from './types';
import { MAX_TIMER_MS, type Clock } from './clock';
import { DEFAULT_SASTOKEN_TTL, DEFAULT_TOKEN_UPDATE_MARGIN } from './auth/sastoken';

/** Seed `MAX_KEEP_ALIVE_SECS`. */
export const MAX_KEEP_ALIVE_SECS = 1740;

/** Longest wait in whole seconds that Node's timers take in one step (about 24.8 days). */
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/** The rule of one numeric setting: type, unit, range and default. */
export interface OptionRule {
  /**
   * `integer`: whole numbers. The library truncates a fraction as the Python SDK's `int()` does (then checks the
   * range); the config node and the editor refuse one, so that what the editor accepts is what runs.
   */
  readonly type: 'integer' | 'number';
  readonly unit: 'seconds';
  /** Smallest value allowed; with `minExclusive`, values must be above it. */
  readonly min: number;
  readonly minExclusive?: boolean;
  /** Largest value allowed; none when absent. */
  readonly max?: number;
  readonly default: number;
}

/**
 * The one table of numeric settings: the client options (durations in seconds) and the timeouts of a direct method
 * call (`MethodParams`, IoT Hub's limits: response 5–300 s, connect 0–300 s). The library's option checks, the
 * config and invoke nodes' settings, the editor's validation (the build writes this table into the node .html files)
 * and the `npm start` demo all read it.
 */
export const OPTION_RULES = {
  /** SAS token lifetime; at least twice the renewal margin (see minimumSastokenTtl). */
  sastokenTtl: {
    type: 'integer',
    unit: 'seconds',
    min: 2 * DEFAULT_TOKEN_UPDATE_MARGIN,
    default: DEFAULT_SASTOKEN_TTL,
  },
  /** MQTT keep-alive; IoT Hub closes connections idle for longer than 1740 s (29 min). */
  keepAlive: { type: 'integer', unit: 'seconds', min: 1, max: MAX_KEEP_ALIVE_SECS, default: 60 },
  /** Cap of the reconnect back-off. */
  connectionRetryInterval: { type: 'integer', unit: 'seconds', min: 1, max: MAX_TIMER_SECONDS, default: 10 },
  /** Time limit of every operation. */
  operationTimeout: {
    type: 'number',
    unit: 'seconds',
    min: 0,
    minExclusive: true,
    max: MAX_TIMER_SECONDS,
    default: 60,
  },
  /** How long IoT Hub waits for the target to connect before answering 404103. */
  connectTimeoutInSeconds: { type: 'integer', unit: 'seconds', min: 0, max: 300, default: 0 },
  /** How long IoT Hub waits for the target's answer before answering 504101. */
  responseTimeoutInSeconds: { type: 'integer', unit: 'seconds', min: 5, max: 300, default: 30 },
} as const satisfies Record<string, OptionRule>;

export type OptionName = keyof typeof OPTION_RULES;

/**
 * Reads a setting as the editor stores it (decimal text) or as a number, against its rule: the number, `undefined`
 * when blank, `null` when the rule refuses it (not a decimal number, a fraction for an integer, out of range).
 * Self-contained on purpose: the build writes its source into the editor's .html, so the editor checks exactly
 * what the config node checks.
 */
export function readOptionSetting(rule: OptionRule, value: unknown): number | undefined | null {
  if (value === undefined || value === null) return undefined;
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string') {
    if (value.trim() === '') return undefined;
    n = /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : NaN;
  } else return null;
  if (!Number.isFinite(n)) return null;
  if (rule.type === 'integer' && !Number.isInteger(n)) return null;
  if (rule.minExclusive ? n <= rule.min : n < rule.min) return null;
  if (rule.max !== undefined && n > rule.max) return null;
  return n;
}

/** The rule in words, for logs and error details: "an integer from 1 to 1740 (seconds)". */
export function describeOptionRule(rule: OptionRule): string {
  const kind = rule.type === 'integer' ? 'an integer' : 'a number';
  if (rule.minExclusive)
    return `${kind} above ${rule.min}${rule.max !== undefined ? ` and at most ${rule.max}` : ''} (${rule.unit})`;
  return rule.max !== undefined
    ? `${kind} from ${rule.min} to ${rule.max} (${rule.unit})`
    : `${kind}, ${rule.min} or more (${rule.unit})`;
}

/**
 * A numeric option given to a factory, checked against {@link OPTION_RULES}.
 * @throws TypeError when not a number; ValueError when not finite or outside the rule's range.
 */
function ruled(
  name: 'sastokenTtl' | 'keepAlive' | 'connectionRetryInterval' | 'operationTimeout',
  value: unknown,
  rule: OptionRule = OPTION_RULES[name],
): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${name} must be a number`);
  if (!Number.isFinite(value)) throw new ValueError(`${name} must be finite`);
  // Python `int(x)` on a number truncates.
  const n = rule.type === 'integer' ? Math.trunc(value) : value;
  if (readOptionSetting(rule, n) === null) throw new ValueError(`${name} must be ${describeOptionRule(rule)}`);
  return n;
}

/**
 * Options that are not part of the public contract (not exported from src/index.ts): test hooks. The factories take
 * them in the same options object (type it `ClientOptions & InternalClientOptions`) and validate them like the rest.
 * @internal
 */
export interface InternalClientOptions {
  /**
   * Seconds before expiry at which the SAS token is renewed. Default 120 (the Python SDK's margin); a renewable token
   * is never renewed earlier than half its lifetime.
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
  'connectionRetryForever',
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
  connectionRetryForever: boolean;
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
    // The minimum lifetime depends on the renewal margin (a test hook may shorten it): checked at the end.
    sastokenTtl: has('sastokenTtl')
      ? ruled('sastokenTtl', given.sastokenTtl, { ...OPTION_RULES.sastokenTtl, min: 1 })
      : OPTION_RULES.sastokenTtl.default,
    keepAlive: has('keepAlive') ? ruled('keepAlive', given.keepAlive) : OPTION_RULES.keepAlive.default,
    autoConnect: has('autoConnect') ? bool('autoConnect', given.autoConnect) : true,
    connectionRetry: has('connectionRetry') ? bool('connectionRetry', given.connectionRetry) : true,
    connectionRetryInterval: has('connectionRetryInterval')
      ? ruled('connectionRetryInterval', given.connectionRetryInterval)
      : OPTION_RULES.connectionRetryInterval.default,
    connectionRetryForever: has('connectionRetryForever')
      ? bool('connectionRetryForever', given.connectionRetryForever)
      : false,
    ensureDesiredProperties: has('ensureDesiredProperties')
      ? bool('ensureDesiredProperties', given.ensureDesiredProperties)
      : true,
    operationTimeout: has('operationTimeout')
      ? ruled('operationTimeout', given.operationTimeout)
      : OPTION_RULES.operationTimeout.default,
    sastokenRenewalMargin: DEFAULT_TOKEN_UPDATE_MARGIN,
  };
  if (has('serverVerificationCert'))
    resolved.serverVerificationCert = str('serverVerificationCert', given.serverVerificationCert);
  if (has('gatewayHostname')) resolved.gatewayHostname = str('gatewayHostname', given.gatewayHostname);
  if (has('proxyOptions')) resolved.proxyOptions = validateProxyOptions(given.proxyOptions);
  if (has('sastokenRenewalMargin')) {
    const margin = given.sastokenRenewalMargin;
    if (typeof margin !== 'number' || Number.isNaN(margin))
      throw new TypeError('sastokenRenewalMargin must be a number');
    if (margin < 0) throw new ValueError('sastokenRenewalMargin must not be negative');
    resolved.sastokenRenewalMargin = margin;
  }
  if (has('logger')) {
    const logger = given.logger as Record<string, unknown> | null;
    const levels = ['debug', 'info', 'warn', 'error'];
    if (
      typeof logger !== 'object' ||
      logger === null ||
      levels.some((l) => logger[l] !== undefined && typeof logger[l] !== 'function')
    ) {
      throw new TypeError('logger must be an object whose debug / info / warn / error members are functions');
    }
    resolved.logger = logger;
  }
  if (has('clock')) {
    const clock = given.clock as Record<string, unknown> | null;
    if (
      typeof clock !== 'object' ||
      clock === null ||
      ['now', 'setTimeout', 'clearTimeout'].some((k) => typeof clock[k] !== 'function')
    ) {
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
    throw new ValueError(
      `sastokenTtl must be at least ${minimum} seconds (the token is renewed ${renewalMargin} s before it expires)`,
    );
  }
}

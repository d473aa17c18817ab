// The local hub CLI's JSON configuration: its shape, the default, and a validator that names the first bad field.
import fs from 'node:fs/promises';
import { parseRoute } from './routes';
import type { IdentityAuth, LocalHubOptions } from './types';
import { ID_PATTERN, THUMBPRINT_PATTERN, isObject, isSymmetricKey } from './validation';

/** Identity keys and certificates as written in the config file (same names as `IdentityAuth`). */
export type ConfigAuth = IdentityAuth;

/** One module of a device in the config file. */
export interface ConfigModule {
  moduleId: string;
  auth?: ConfigAuth;
}

/** One device (usually an IoT Edge device) in the config file. */
export interface ConfigDevice {
  deviceId: string;
  auth?: ConfigAuth;
  modules?: ConfigModule[];
}

/** The validated configuration of `azure-iot-local-hub`. Every field is optional in the file. */
export interface HubConfig {
  /** IoT Hub host name. Default `local-hub.azure-devices.net`; `hubName: "x"` is short for `x.azure-devices.net`. */
  hostName?: string;
  /** Bind address. Default `127.0.0.1`. */
  bindAddress?: string;
  /** The one TLS port (MQTT, WSS, HTTPS). Default 0 (any free port). */
  port?: number;
  /** Optional plain-TCP MQTT port (debugging). Off unless set. */
  plainMqttPort?: number;
  /** Unix socket path of the IoT Edge workload API, or `false` for none. Default: a temp file. */
  workloadSocketPath?: string | false;
  /** Store-and-forward time to live for messages to offline module inputs, seconds. Default 7200. */
  storeAndForwardTtlSeconds?: number;
  /** How long a new connection may stay silent (TLS handshake, first byte, CONNECT), seconds. Default 30. */
  connectTimeoutSeconds?: number;
  /** Entries kept in each observation list (connects, publishes, subscriptions, upstream). Default 10000. */
  observationLimit?: number;
  /** TLS material loaded from PEM files instead of a CA generated at start. */
  tls?: { caCertFile: string; serverCertFile: string; serverKeyFile: string };
  /** Initial registry. Default: device `local-device` with modules `sensor` and `processor`. */
  devices: ConfigDevice[];
  /** edgeHub routes, name → `FROM … [WHERE …] INTO …`. Default: everything to `$upstream`. */
  routes: Record<string, string>;
}

/**
 * A configuration problem, naming the offending field as a path such as `devices[0].modules[1].moduleId`
 * (`(config)` for the document itself, `(file)` for reading or JSON syntax).
 * @throws never
 */
export class ConfigError extends Error {
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

/**
 * The configuration used when no file is given.
 * @throws never
 */
export function defaultHubConfig(): HubConfig {
  return {
    devices: [{ deviceId: 'local-device', modules: [{ moduleId: 'sensor' }, { moduleId: 'processor' }] }],
    routes: { upstream: 'FROM /messages/* INTO $upstream' },
  };
}

// A DNS host name: labels of letters, digits and hyphens.
const HOST_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

type Json = Record<string, unknown>;

function expectObject(value: unknown, field: string): Json {
  if (!isObject(value)) throw new ConfigError(field, 'must be a JSON object');
  return value;
}

function rejectUnknown(obj: Json, allowed: string[], prefix: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key))
      throw new ConfigError(prefix ? `${prefix}.${key}` : key, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function expectString(value: unknown, field: string, pattern?: RegExp, what?: string): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(field, 'must be a non-empty string');
  if (pattern && !pattern.test(value))
    throw new ConfigError(field, `is not a valid ${what ?? 'value'}: ${JSON.stringify(value)}`);
  return value;
}

function expectPort(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(field, 'must be an integer port number from 0 to 65535');
  }
  return value;
}

function expectPositiveInteger(value: unknown, field: string, unit: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new ConfigError(field, `must be a positive integer (${unit})`);
  return value;
}

function expectKey(value: unknown, field: string): string {
  const key = expectString(value, field);
  // IoT Hub accepts symmetric keys of 16 to 64 bytes, base64-encoded.
  if (!isSymmetricKey(key)) throw new ConfigError(field, 'must be base64 of 16 to 64 bytes');
  return key;
}

function parseAuth(value: unknown, field: string): ConfigAuth {
  const obj = expectObject(value, field);
  rejectUnknown(obj, ['primaryKey', 'secondaryKey', 'x509Thumbprints', 'x509CaCerts'], field);
  const auth: ConfigAuth = {};
  if (obj.primaryKey !== undefined) auth.primaryKey = expectKey(obj.primaryKey, `${field}.primaryKey`);
  if (obj.secondaryKey !== undefined) auth.secondaryKey = expectKey(obj.secondaryKey, `${field}.secondaryKey`);
  if (obj.x509Thumbprints !== undefined) {
    if (!Array.isArray(obj.x509Thumbprints)) throw new ConfigError(`${field}.x509Thumbprints`, 'must be an array');
    auth.x509Thumbprints = obj.x509Thumbprints.map((t, i) =>
      expectString(t, `${field}.x509Thumbprints[${i}]`, THUMBPRINT_PATTERN, 'SHA-1 or SHA-256 hex thumbprint'),
    );
  }
  if (obj.x509CaCerts !== undefined) {
    if (!Array.isArray(obj.x509CaCerts)) throw new ConfigError(`${field}.x509CaCerts`, 'must be an array');
    auth.x509CaCerts = obj.x509CaCerts.map((c, i) => {
      const pem = expectString(c, `${field}.x509CaCerts[${i}]`);
      if (!pem.includes('-----BEGIN CERTIFICATE-----'))
        throw new ConfigError(`${field}.x509CaCerts[${i}]`, 'must be a PEM certificate');
      return pem;
    });
  }
  return auth;
}

function parseModule(value: unknown, field: string): ConfigModule {
  const obj = expectObject(value, field);
  rejectUnknown(obj, ['moduleId', 'auth'], field);
  const module: ConfigModule = { moduleId: expectString(obj.moduleId, `${field}.moduleId`, ID_PATTERN, 'module id') };
  if (obj.auth !== undefined) module.auth = parseAuth(obj.auth, `${field}.auth`);
  return module;
}

function parseDevice(value: unknown, field: string): ConfigDevice {
  const obj = expectObject(value, field);
  rejectUnknown(obj, ['deviceId', 'auth', 'modules'], field);
  const device: ConfigDevice = { deviceId: expectString(obj.deviceId, `${field}.deviceId`, ID_PATTERN, 'device id') };
  if (obj.auth !== undefined) device.auth = parseAuth(obj.auth, `${field}.auth`);
  if (obj.modules !== undefined) {
    if (!Array.isArray(obj.modules)) throw new ConfigError(`${field}.modules`, 'must be an array');
    const seen = new Set<string>();
    device.modules = obj.modules.map((m, i) => {
      const module = parseModule(m, `${field}.modules[${i}]`);
      if (seen.has(module.moduleId))
        throw new ConfigError(
          `${field}.modules[${i}].moduleId`,
          `duplicate module id ${JSON.stringify(module.moduleId)}`,
        );
      seen.add(module.moduleId);
      return module;
    });
  }
  return device;
}

/**
 * Validates a parsed JSON configuration and fills in defaults (`devices` and `routes` from {@link defaultHubConfig}
 * when absent).
 * @throws ConfigError naming the first offending field.
 */
export function parseHubConfig(raw: unknown): HubConfig {
  const obj = expectObject(raw, '(config)');
  rejectUnknown(
    obj,
    [
      'hubName',
      'hostName',
      'bindAddress',
      'port',
      'plainMqttPort',
      'workloadSocketPath',
      'storeAndForwardTtlSeconds',
      'connectTimeoutSeconds',
      'observationLimit',
      'tls',
      'devices',
      'routes',
    ],
    '',
  );
  const defaults = defaultHubConfig();
  const config: HubConfig = { devices: defaults.devices, routes: defaults.routes };
  if (obj.hubName !== undefined && obj.hostName !== undefined)
    throw new ConfigError('hubName', 'give hubName or hostName, not both');
  if (obj.hubName !== undefined)
    config.hostName = `${expectString(obj.hubName, 'hubName', /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,48}[A-Za-z0-9])?$/, 'hub name')}.azure-devices.net`;
  if (obj.hostName !== undefined) config.hostName = expectString(obj.hostName, 'hostName', HOST_PATTERN, 'host name');
  if (obj.bindAddress !== undefined) config.bindAddress = expectString(obj.bindAddress, 'bindAddress');
  if (obj.port !== undefined) config.port = expectPort(obj.port, 'port');
  if (obj.plainMqttPort !== undefined) config.plainMqttPort = expectPort(obj.plainMqttPort, 'plainMqttPort');
  if (obj.workloadSocketPath !== undefined) {
    config.workloadSocketPath =
      obj.workloadSocketPath === false ? false : expectString(obj.workloadSocketPath, 'workloadSocketPath');
  }
  if (obj.storeAndForwardTtlSeconds !== undefined) {
    const ttl = obj.storeAndForwardTtlSeconds;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0)
      throw new ConfigError('storeAndForwardTtlSeconds', 'must be a non-negative integer (seconds)');
    config.storeAndForwardTtlSeconds = ttl;
  }
  if (obj.connectTimeoutSeconds !== undefined)
    config.connectTimeoutSeconds = expectPositiveInteger(obj.connectTimeoutSeconds, 'connectTimeoutSeconds', 'seconds');
  if (obj.observationLimit !== undefined)
    config.observationLimit = expectPositiveInteger(obj.observationLimit, 'observationLimit', 'entries');
  if (obj.tls !== undefined) {
    const tls = expectObject(obj.tls, 'tls');
    rejectUnknown(tls, ['caCertFile', 'serverCertFile', 'serverKeyFile'], 'tls');
    config.tls = {
      caCertFile: expectString(tls.caCertFile, 'tls.caCertFile'),
      serverCertFile: expectString(tls.serverCertFile, 'tls.serverCertFile'),
      serverKeyFile: expectString(tls.serverKeyFile, 'tls.serverKeyFile'),
    };
  }
  if (obj.devices !== undefined) {
    if (!Array.isArray(obj.devices)) throw new ConfigError('devices', 'must be an array');
    const seen = new Set<string>();
    config.devices = obj.devices.map((d, i) => {
      const device = parseDevice(d, `devices[${i}]`);
      if (seen.has(device.deviceId))
        throw new ConfigError(`devices[${i}].deviceId`, `duplicate device id ${JSON.stringify(device.deviceId)}`);
      seen.add(device.deviceId);
      return device;
    });
  }
  if (obj.routes !== undefined) {
    const routes = expectObject(obj.routes, 'routes');
    config.routes = {};
    for (const [name, route] of Object.entries(routes)) {
      const text = expectString(route, `routes.${name}`);
      try {
        parseRoute(name, text);
      } catch (err) {
        throw new ConfigError(`routes.${name}`, (err as Error).message);
      }
      config.routes[name] = text;
    }
  }
  return config;
}

/**
 * Reads and validates a JSON configuration file; no path means {@link defaultHubConfig}.
 * @throws ConfigError when the file cannot be read, is not JSON, or fails validation.
 */
export async function loadHubConfig(file?: string): Promise<HubConfig> {
  if (file === undefined) return defaultHubConfig();
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('(file)', `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(file)', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseHubConfig(raw);
}

/**
 * Turns a validated configuration into `LocalHub.start()` options (reads the TLS files when given).
 * @throws ConfigError naming `tls.*File` when a TLS file cannot be read.
 */
export async function hubOptionsFromConfig(config: HubConfig): Promise<LocalHubOptions> {
  const options: LocalHubOptions = { devices: config.devices, routes: config.routes };
  if (config.hostName !== undefined) options.hostName = config.hostName;
  if (config.bindAddress !== undefined) options.bindAddress = config.bindAddress;
  if (config.port !== undefined) options.port = config.port;
  if (config.plainMqttPort !== undefined) options.plainMqttPort = config.plainMqttPort;
  if (config.workloadSocketPath !== undefined) options.workloadSocketPath = config.workloadSocketPath;
  if (config.storeAndForwardTtlSeconds !== undefined)
    options.storeAndForwardTtlSeconds = config.storeAndForwardTtlSeconds;
  if (config.connectTimeoutSeconds !== undefined) options.connectTimeoutSeconds = config.connectTimeoutSeconds;
  if (config.observationLimit !== undefined) options.observationLimit = config.observationLimit;
  if (config.tls) {
    const read = async (field: 'caCertFile' | 'serverCertFile' | 'serverKeyFile'): Promise<string> => {
      try {
        return await fs.readFile(config.tls![field], 'utf8');
      } catch (err) {
        throw new ConfigError(`tls.${field}`, `cannot read ${config.tls![field]}: ${(err as Error).message}`);
      }
    };
    options.tls = {
      caCert: await read('caCertFile'),
      serverCert: await read('serverCertFile'),
      serverKey: await read('serverKeyFile'),
    };
  }
  return options;
}

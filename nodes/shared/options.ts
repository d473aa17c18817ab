// Pure mapping from the config node's settings (plus its tls-config and http proxy nodes) to a client factory
// call and ClientOptions, honouring each factory's excluded options; numeric settings follow the option table.
import {
  describeOptionRule,
  OPTION_RULES,
  readOptionSetting,
  type ClientOptions,
  type OptionName,
  type ProxyOptions,
  type X509,
} from '../../src/index';
import type { CLIENT_CREDENTIALS } from './clientConfigFields';
import { NodeError } from './errors';

export type ConnectionKind = 'connectionString' | 'sasToken' | 'x509' | 'edge' | 'localHub';

/** The config node's editor settings (strings as the editor stores them). */
export interface ClientConfigDef {
  connectionType?: ConnectionKind;
  hostname?: string;
  deviceId?: string;
  moduleId?: string;
  gatewayHostname?: string;
  transport?: 'mqtt' | 'mqtt-ws';
  x509Source?: 'tls' | 'pem';
  cipher?: string;
  productInfo?: string;
  sastokenTtl?: string | number;
  keepAlive?: string | number;
  autoConnect?: boolean;
  connectionRetry?: boolean;
  connectionRetryInterval?: string | number;
  ensureDesiredProperties?: boolean;
  operationTimeout?: string | number;
  /** Local hub only: edgeHub routes for the development hub, one per line. */
  routes?: string;
  /** The id of the core tls-config node linked, if any. */
  tls?: string;
  /** The id of the core http proxy node linked, if any. */
  proxy?: string;
}

/** The config node's secrets, as Node-RED keeps them (see CLIENT_CREDENTIALS). */
export type ClientCredentials = { [name in keyof typeof CLIENT_CREDENTIALS]?: string };

/** What a core tls-config node contributes (its addTLSOptions output). */
export interface TlsMaterial {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca?: string | Buffer;
  passphrase?: string;
}

/** What a core http proxy node holds. */
export interface ProxyMaterial {
  url?: string;
  username?: string;
  password?: string;
}

export type ClientSetup =
  | { kind: 'connectionString'; connectionString: string; options: ClientOptions }
  | { kind: 'sasToken'; sasToken: string; options: ClientOptions }
  | { kind: 'x509'; args: { x509: X509; hostname: string; deviceId: string; moduleId: string }; options: ClientOptions }
  | { kind: 'edge'; options: ClientOptions }
  | { kind: 'localHub'; deviceId: string; moduleId: string; routes: string; options: ClientOptions };

/** The device a local-hub module belongs to when the dialog leaves it empty. */
export const LOCAL_HUB_DEFAULT_DEVICE = 'local-device';

function text(value: string | Buffer | undefined): string | undefined {
  if (value === undefined) return undefined;
  const s = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  return s.trim() === '' ? undefined : s;
}

/**
 * A numeric setting read by its rule in the option table (the editor validates with the same rule); blank leaves
 * the library's default, which is the table's.
 * @throws NodeError `config-invalid` (detail: the setting and its rule) for a value the rule refuses.
 */
export function optionSetting(name: OptionName, value: unknown): number | undefined {
  const n = readOptionSetting(OPTION_RULES[name], value);
  if (n === null) throw new NodeError('config-invalid', `${name} must be ${describeOptionRule(OPTION_RULES[name])}`);
  return n;
}

/**
 * Maps the URL and credentials of a core `http proxy` node to ProxyOptions: `http://`/`https://` → HTTP,
 * `socks4://` → SOCKS4, `socks5://` / `socks://` → SOCKS5; the port defaults to the scheme's usual one.
 * @throws NodeError `config-invalid` for a URL that does not parse or an unknown scheme.
 */
export function proxyOptionsFrom(proxy: ProxyMaterial): ProxyOptions {
  let url: URL;
  try {
    url = new URL(String(proxy.url ?? '').trim());
  } catch (err) {
    throw new NodeError('config-invalid', 'proxy url', err);
  }
  const types: Record<string, [ProxyOptions['proxyType'], number]> = {
    'http:': ['HTTP', 80],
    'https:': ['HTTP', 443],
    'socks4:': ['SOCKS4', 1080],
    'socks5:': ['SOCKS5', 1080],
    'socks:': ['SOCKS5', 1080],
  };
  const entry = types[url.protocol];
  if (!entry || !url.hostname) throw new NodeError('config-invalid', 'proxy url');
  const result: ProxyOptions = {
    proxyType: entry[0],
    proxyAddress: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    proxyPort: url.port ? Number(url.port) : entry[1],
  };
  const username = proxy.username || decodeURIComponent(url.username);
  const password = proxy.password || decodeURIComponent(url.password);
  if (username) result.proxyUsername = username;
  if (password) result.proxyPassword = password;
  return result;
}

/**
 * Builds the client factory call for a config node.
 * @throws NodeError `not-configured` when the chosen kind lacks its secret, `config-invalid` for bad values.
 */
export function buildClientSetup(
  def: ClientConfigDef,
  creds: ClientCredentials,
  tls?: TlsMaterial,
  proxy?: ProxyMaterial,
): ClientSetup {
  const kind = def.connectionType ?? 'connectionString';
  const options: ClientOptions = {};
  if (def.transport === 'mqtt-ws') options.websockets = true;
  const ca = text(tls?.ca);
  // The IoT Edge environment and the local hub bring their own trust anchor and gateway.
  if (ca && kind !== 'edge' && kind !== 'localHub') options.serverVerificationCert = ca;
  if (def.cipher?.trim()) options.cipher = def.cipher.trim();
  if (def.productInfo?.trim()) options.productInfo = def.productInfo.trim();
  if (proxy?.url?.trim()) options.proxyOptions = proxyOptionsFrom(proxy);
  const ttl = optionSetting('sastokenTtl', def.sastokenTtl);
  if (ttl !== undefined && (kind === 'connectionString' || kind === 'edge' || kind === 'localHub'))
    options.sastokenTtl = ttl;
  const keepAlive = optionSetting('keepAlive', def.keepAlive);
  if (keepAlive !== undefined) options.keepAlive = keepAlive;
  if (def.autoConnect === false) options.autoConnect = false;
  // A flow runs unattended: with retry on, every failure is retried, the first connect and refused credentials or
  // certificates too (they may be fixed on the hub side while the flow runs), by the library's one reconnect loop.
  if (def.connectionRetry === false) options.connectionRetry = false;
  else options.connectionRetryForever = true;
  const interval = optionSetting('connectionRetryInterval', def.connectionRetryInterval);
  if (interval !== undefined) options.connectionRetryInterval = interval;
  if (def.ensureDesiredProperties === false) options.ensureDesiredProperties = false;
  const operationTimeout = optionSetting('operationTimeout', def.operationTimeout);
  if (operationTimeout !== undefined) options.operationTimeout = operationTimeout;
  const gateway = def.gatewayHostname?.trim();
  if (gateway && (kind === 'sasToken' || kind === 'x509')) options.gatewayHostname = gateway;

  switch (kind) {
    case 'connectionString': {
      const connectionString = creds.connectionString?.trim();
      if (!connectionString) throw new NodeError('not-configured', 'connectionString');
      return { kind, connectionString, options };
    }
    case 'sasToken': {
      const sasToken = creds.sasToken?.trim();
      if (!sasToken) throw new NodeError('not-configured', 'sasToken');
      return { kind, sasToken, options };
    }
    case 'x509': {
      const fromTls = def.x509Source !== 'pem';
      const cert = fromTls ? text(tls?.cert) : text(creds.cert);
      const key = fromTls ? text(tls?.key) : text(creds.key);
      const passPhrase = fromTls ? tls?.passphrase : creds.passphrase;
      const hostname = def.hostname?.trim();
      const deviceId = def.deviceId?.trim();
      const moduleId = def.moduleId?.trim();
      if (!cert || !key) throw new NodeError('not-configured', 'x509');
      if (!hostname || !deviceId || !moduleId) throw new NodeError('not-configured', 'hostname/deviceId/moduleId');
      const x509: X509 = { cert, key };
      if (passPhrase) x509.passPhrase = passPhrase;
      return { kind, args: { x509, hostname, deviceId, moduleId }, options };
    }
    case 'edge':
      return { kind, options };
    case 'localHub': {
      const moduleId = def.moduleId?.trim();
      if (!moduleId) throw new NodeError('not-configured', 'moduleId');
      return {
        kind,
        deviceId: def.deviceId?.trim() || LOCAL_HUB_DEFAULT_DEVICE,
        moduleId,
        routes: def.routes ?? '',
        options,
      };
    }
    default:
      throw new NodeError('not-configured', String(kind));
  }
}

// The IoT Hub MQTT username (pure): `{HostName}/{clientId}/?api-version=…&DeviceClientType=…[&model-id=…]`, and
// the `host[:port]` split of gateway names that MQTT and HTTP share.
import { quote } from './properties';

export const IOTHUB_API_VERSION = '2019-10-01';
export const DIGITAL_TWIN_API_VERSION = '2020-09-30';

/**
 * Builds the username like the Python SDK: hostname is always the IoT Hub host (never the gateway), client id raw,
 * query values encoded with Python `quote`. A `dtmi…` productInfo becomes `model-id` with api-version 2020-09-30.
 */
export function buildUsername(hostname: string, clientId: string, userAgent: string, productInfo: string): string {
  const query = productInfo.startsWith('dtmi')
    ? `api-version=${DIGITAL_TWIN_API_VERSION}&DeviceClientType=${quote(userAgent)}&model-id=${quote(productInfo)}`
    : `api-version=${IOTHUB_API_VERSION}&DeviceClientType=${quote(userAgent + productInfo)}`;
  return `${hostname}/${clientId}/?${query}`;
}

/** Splits `host` or `host:port` (also `[v6]:port`); `defaultPort` when none is given. */
export function splitHostPort(value: string, defaultPort: number): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort };
  const m = /^([^:]+):(\d+)$/.exec(value);
  if (m) return { host: m[1]!, port: Number(m[2]) };
  return { host: value, port: defaultPort };
}

// Public option and data types of the module client (the Python SDK's API in TypeScript casing), shared by every client
// module.

/** HTTP / SOCKS proxy settings (defined beside the tunnel code that uses them). */
export type { ProxyOptions } from './transport/proxy';
import type { ProxyOptions } from './transport/proxy';

/** Optional logger; the library itself prints nothing. */
export interface Logger {
  debug?(msg: string): void;
  info?(msg: string): void;
  warn?(msg: string): void;
  error?(msg: string): void;
}

/** Client options; durations in seconds like the Python SDK. */
export interface ClientOptions {
  /** PEM; when given it is the ONLY trust anchor. Default: the system CAs. */
  serverVerificationCert?: string;
  /** `host` or `host:port` of the gateway (edgeHub) to dial instead of the IoT Hub host. */
  gatewayHostname?: string;
  /** MQTT over `wss://{host}:{443|port}/$iothub/websocket`. Default false. */
  websockets?: boolean;
  /**
   * OpenSSL cipher list of TLS 1.2 suites; a list is joined with `:`, upper-cased, `_` → `-` (the Python SDK's
   * normalisation). When given, the connection is pinned to TLS 1.2 (as the Python SDK always is), so that the list is
   * what is negotiated even with a hub that offers TLS 1.3. Default: Node's cipher list, TLS 1.2 or 1.3.
   */
  cipher?: string | string[];
  /** Appended to the user agent; `dtmi:…` becomes the model id (api-version 2020-09-30). Default ''. */
  productInfo?: string;
  proxyOptions?: ProxyOptions;
  /**
   * SAS token lifetime in seconds, at least 240 (the token is renewed 120 s before it expires; a shorter lifetime is
   * a ValueError at the factory). Default 3600.
   */
  sastokenTtl?: number;
  /** MQTT keep-alive in seconds, 1..1740. Default 60. */
  keepAlive?: number;
  /** Connect automatically when an operation needs the network. Default true. */
  autoConnect?: boolean;
  /** Reconnect after unexpected drops. Default true. */
  connectionRetry?: boolean;
  /** Upper bound of the reconnect back-off, seconds, an integer (a fraction is truncated). Default 10. */
  connectionRetryInterval?: number;
  /**
   * With `connectionRetry`, never give up: a failed `connect()` (which still rejects) is retried in the background
   * as a dropped connection is, and refused credentials or server certificates are retried too, waiting up to six
   * times `connectionRetryInterval` between attempts (the far side may be fixed while the program runs). Default
   * false: as in the Python SDK, a failed `connect()` is the caller's to retry and refused credentials stop the
   * reconnect loop.
   */
  connectionRetryForever?: boolean;
  /** Re-read the twin after every (re)connect while a desired-patch listener is set. Default true. */
  ensureDesiredProperties?: boolean;
  /**
   * Time limit of every operation, seconds. An operation made while the client reconnects waits for the connection
   * this long, then fails with ConnectionFailedError; connected, a hub that does not answer in time gives
   * OperationTimeout. Default 60.
   */
  operationTimeout?: number;
  logger?: Logger;
}

/** X.509 client credentials: PEM text or file paths (defined beside the loader). */
export type { X509 } from './auth/x509';

/**
 * The module identity a client connects as: the IoT Hub host name (as in its SAS tokens and MQTT username), the
 * device and module ids, and the gateway (edgeHub) it dials instead of the hub, when it has one.
 */
export interface ClientIdentity {
  hostname: string;
  deviceId: string;
  moduleId: string;
  gatewayHostname?: string;
}

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'disconnecting' | 'reauthorizing';

export interface TwinDocument {
  desired: Record<string, unknown> & { $version: number };
  reported: Record<string, unknown> & { $version: number };
}

export interface MethodParams {
  methodName: string;
  payload?: unknown;
  connectTimeoutInSeconds?: number;
  responseTimeoutInSeconds?: number;
}

export interface MethodResult {
  status: number;
  payload: unknown;
}

/** Signs a string-to-sign, returning the base64 HMAC-SHA256 digest (local key or the IoT Edge workload API). */
export type Signer = (stringToSign: string) => Promise<string>;

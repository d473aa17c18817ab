// HTTP over undici: module-to-module invoke_method through edgeHub (the workload API's client: LocalHttpClient).
import net from 'node:net';
import tls from 'node:tls';
import { Client, type buildConnector } from 'undici';
import { errorFromServiceBody, mapTransportError } from '../errorMapping';
import { ClientError, OperationTimeout } from '../errors';
import { openProxyTunnel, type ProxyOptions } from './proxy';
import { clientTlsOptions } from './tlsOptions';
import { quotePlus } from './properties';
// The Python SDK puts the same api-version on the invoke_method path as in the MQTT username.
import { IOTHUB_API_VERSION, splitHostPort } from './mqttUsername';

/** Arguments of {@link invokeMethodOverHttp}. */
export interface InvokeMethodOverHttpArgs {
  /** `host` or `host:port` (`[v6]:port` too); port 443 when absent. */
  gatewayHostname: string;
  /** PEM; when given it is the ONLY trust anchor. */
  ca?: string;
  /** OpenSSL cipher list, already normalised (`A-B:C-D`). */
  cipher?: string;
  proxy?: ProxyOptions;
  /** Target device, and module when calling a module. */
  deviceId: string;
  moduleId?: string;
  /** The caller's identity, sent as `x-ms-edge-moduleId`. */
  ownDeviceId: string;
  ownModuleId: string;
  userAgent: string;
  productInfo: string;
  /** Current SAS token of the calling module (`SharedAccessSignature …`). */
  sastoken: string;
  methodParams: Record<string, unknown>;
  /** Whole-request deadline (connect, proxy, TLS, response). */
  timeoutMs: number;
}

/**
 * Invokes a direct method on another device or module through the gateway (edgeHub), like the Python SDK's
 * `invoke_method`: `POST /twins/{d}[/modules/{m}]/methods?api-version=2019-10-01` with the caller's SAS token.
 * Uses a dedicated undici client per call, closed afterwards.
 * @returns the parsed response body, normally `{ status, payload }` (`null` for an empty body).
 * @throws ClientError with `statusCode` and IoT Hub `errorCode` when the gateway answers ≥ 300, coded by the one
 *   error table (errorMapping.ts): `device-not-online` for 404103, `gateway-timeout` for 504101, `unauthorized` for
 *   401/403, `not-found` for 404, `throttled` for 429, `bad-request` for 400, else `service-error`; ClientError
 *   `tls-error` when the server certificate is not trusted; ClientError `service-error` when a 2xx body is not JSON.
 * @throws ConnectionFailedError when the gateway (or the proxy, code `proxy-error`) cannot be reached.
 * @throws CredentialError when the proxy refuses the proxy credentials.
 * @throws OperationTimeout when the whole request takes longer than `timeoutMs`.
 */
export async function invokeMethodOverHttp(args: InvokeMethodOverHttpArgs): Promise<unknown> {
  const { host, port } = splitHostPort(args.gatewayHostname, 443);
  let path = `/twins/${quotePlus(args.deviceId)}`;
  if (args.moduleId) path += `/modules/${quotePlus(args.moduleId)}`;
  path += `/methods?api-version=${IOTHUB_API_VERSION}`;

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new OperationTimeout(`invokeMethod did not complete within ${args.timeoutMs} ms`));
  }, args.timeoutMs);

  const client = new Client(`https://${net.isIPv6(host) ? `[${host}]` : host}:${port}`, {
    connect: tlsConnector({
      host,
      port,
      ca: args.ca,
      cipher: args.cipher,
      proxy: args.proxy,
      signal: controller.signal,
    }),
    // The whole-request deadline above governs; keep undici's own timers out of the way.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  try {
    const response = await client.request({
      method: 'POST',
      path,
      headers: {
        'content-type': 'application/json',
        'x-ms-edge-moduleId': `${args.ownDeviceId}/${args.ownModuleId}`,
        // The Python SDK URL-encodes the user agent with quote_plus.
        'user-agent': quotePlus(args.userAgent + args.productInfo),
        authorization: args.sastoken,
      },
      body: JSON.stringify(args.methodParams),
      signal: controller.signal,
    });
    const body = await response.body.text();
    if (response.statusCode >= 300) throw serviceError(response.statusCode, body);
    try {
      return JSON.parse(body || 'null');
    } catch (err) {
      throw new ClientError(`invokeMethod: the gateway answered ${response.statusCode} with a body that is not JSON`, {
        code: 'service-error',
        statusCode: response.statusCode,
        cause: err,
      });
    }
  } catch (err) {
    if (timedOut)
      throw new OperationTimeout(`invokeMethod did not complete within ${args.timeoutMs} ms`, { cause: err });
    // Errors of ours (proxy) pass through; socket / TLS codes go through the one table (errorMapping.ts).
    throw mapTransportError(err, true);
  } finally {
    clearTimeout(timer);
    await client.destroy().catch(() => undefined);
  }
}

/**
 * A connector for undici: optional proxy tunnel, then TLS with only the given CA (options from tlsOptions.ts, shared
 * with the MQTT transport).
 */
function tlsConnector(opts: {
  host: string;
  port: number;
  ca?: string;
  cipher?: string;
  proxy?: ProxyOptions;
  signal: AbortSignal;
}): buildConnector.connector {
  return (_undiciOptions, callback) => {
    let settled = false;
    const settle = (...args: Parameters<buildConnector.Callback>): void => {
      if (settled) return;
      settled = true;
      callback(...args);
    };
    (async () => {
      const raw = opts.proxy ? await openProxyTunnel(opts.proxy, opts.host, opts.port, opts.signal) : undefined;
      const options = clientTlsOptions({
        host: opts.host,
        port: opts.port,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.cipher !== undefined ? { cipher: opts.cipher } : {}),
        alpn: ['http/1.1'],
      });
      if (raw) options.socket = raw;
      const socket = tls.connect(options);
      // A handshake that never completes must not outlive the call: the deadline destroys it.
      const onAbort = (): void => {
        socket.destroy();
        settle(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'), null);
      };
      if (opts.signal.aborted) return onAbort();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      socket.once('secureConnect', () => {
        opts.signal.removeEventListener('abort', onAbort);
        settle(null, socket);
      });
      socket.once('error', (err: Error) => {
        opts.signal.removeEventListener('abort', onAbort);
        socket.destroy();
        settle(err, null);
      });
    })().catch((err: unknown) => settle(err instanceof Error ? err : new Error(String(err)), null));
  };
}

/** Maps a ≥ 300 answer through the one error table (errorMapping.ts), with the IoT Hub code found in the body. */
function serviceError(statusCode: number, body: string): ClientError {
  return errorFromServiceBody(
    statusCode,
    body,
    new Error(`HTTP operation returned: ${statusCode} ${body.slice(0, 2000)}`),
  );
}

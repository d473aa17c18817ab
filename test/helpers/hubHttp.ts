// Test helpers for the hub's HTTP side: raw requests over TCP or a Unix socket, and an https.Agent that dials the hub.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

/** An HTTP answer with the body parsed as JSON when possible. */
export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/** Where and how to send a raw request; `body` objects are sent as JSON. */
export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** TCP target (127.0.0.1) … */
  port?: number;
  /** … or a Unix socket. */
  socketPath?: string;
  /** HTTPS to the TCP target, trusting only this CA (the server is verified as `localhost`). */
  ca?: string;
}

/**
 * Sends one request (HTTP, or HTTPS with `ca`) without connection reuse (`agent: false`), so nothing stays open
 * afterwards.
 */
export function rawRequest(req: RawRequest): Promise<HttpAnswer> {
  const payload =
    req.body === undefined
      ? undefined
      : typeof req.body === 'string' || Buffer.isBuffer(req.body)
        ? req.body
        : JSON.stringify(req.body);
  return new Promise((resolve, reject) => {
    const request = req.ca ? https.request : http.request;
    const r = request(
      {
        method: req.method,
        path: req.path,
        agent: false,
        ...(req.ca ? { ca: req.ca, servername: 'localhost' } : {}),
        ...(req.socketPath ? { socketPath: req.socketPath } : { host: '127.0.0.1', port: req.port }),
        headers: {
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
          ...req.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    r.on('error', reject);
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

/**
 * An https.Agent whose connections always go to 127.0.0.1:`port`, verified against `ca` with `servername` (the hub's
 * certificate names `localhost`), whatever host and port the request names. This is how the official SDKs — which
 * dial `{HostName}:443` (azure-iothub) or `wss://{host}:443` (MqttWs) — are pointed at the local hub.
 */
export function hubAgent(port: number, ca: string, servername = 'localhost'): https.Agent {
  const agent = new https.Agent({ keepAlive: false });
  (agent as unknown as { createConnection: (options: tls.ConnectionOptions) => Duplex }).createConnection = (options) =>
    tls.connect({ ...options, host: '127.0.0.1', port, ca, servername });
  return agent;
}

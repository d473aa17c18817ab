// The IoT Edge workload API (trust bundle and module-key signing) over a Unix socket, for "from edge environment" clients.
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { WorkloadHub } from './types';

/** Largest sign request accepted; real requests carry a string-to-sign of a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;

class WorkloadError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw new WorkloadError(413, 'request body too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new WorkloadError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new WorkloadError(400, 'request body is not valid JSON');
  }
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new WorkloadError(400, 'bad percent-encoding in the path');
  }
}

function isCanonicalBase64(value: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0;
}

async function handle(hub: WorkloadHub, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://workload');
  // The real workload API (aziot-edged) refuses requests without an api-version; both SDKs always send one.
  if (!url.searchParams.get('api-version')) throw new WorkloadError(400, 'api-version is required');
  const segments = url.pathname.split('/').slice(1);
  if (segments.length === 1 && segments[0] === 'trust-bundle') {
    if (req.method !== 'GET') throw new WorkloadError(405, 'method not allowed');
    reply(res, 200, { certificate: hub.caCert });
    return;
  }
  if (segments.length === 5 && segments[0] === 'modules' && segments[2] === 'genid' && segments[4] === 'sign') {
    if (req.method !== 'POST') throw new WorkloadError(405, 'method not allowed');
    // The Node SDK percent-encodes both ids; the Python SDK encodes the module id only.
    const moduleId = decode(segments[1]!);
    const generationId = decode(segments[3]!);
    const body = await readJson(req);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new WorkloadError(400, 'request body must be a JSON object');
    const { keyId, algo, data } = body as Record<string, unknown>;
    if (keyId !== 'primary' && keyId !== 'secondary') throw new WorkloadError(400, 'keyId must be "primary" or "secondary"');
    if (algo !== 'HMACSHA256') throw new WorkloadError(400, 'algo must be "HMACSHA256"');
    if (typeof data !== 'string' || !isCanonicalBase64(data)) throw new WorkloadError(400, 'data must be base64');
    const mod = hub.listModules().find((m) => m.moduleId === moduleId && m.generationId === generationId);
    if (!mod) throw new WorkloadError(404, `module ${moduleId} with generation id ${generationId} not found`);
    const key = keyId === 'primary' ? mod.primaryKey : mod.secondaryKey;
    const digest = createHmac('sha256', Buffer.from(key, 'base64')).update(Buffer.from(data, 'base64')).digest('base64');
    reply(res, 200, { digest });
    return;
  }
  throw new WorkloadError(404, `no resource at ${url.pathname}`);
}

/** Removes a socket file left by a process that died, refusing to touch a live socket or a non-socket file. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${socketPath} is in use by another process`);
  fs.unlinkSync(socketPath);
}

/**
 * Starts the IoT Edge workload API (B8) on a Unix socket:
 * `GET /trust-bundle?api-version=…` → `{"certificate": <hub CA PEM>}`;
 * `POST /modules/{moduleId}/genid/{generationId}/sign?api-version=…` with
 * `{"keyId":"primary","algo":"HMACSHA256","data":"<base64>"}` → `{"digest":"<base64 HMAC-SHA256 under the module key>"}`.
 * Unknown module or generation id → 404; bad body → 400; errors are `{"message": …}`.
 * A stale socket file is removed first; the socket file is made owner-only and removed on close.
 * @param hub the hub whose CA and module keys are served.
 * @param socketPath where to listen.
 * @returns a handle whose `close()` stops the server and removes the socket file.
 * @throws when the path is taken by a live socket or a non-socket file, or listening fails.
 */
export async function startWorkloadServer(hub: WorkloadHub, socketPath: string): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    handle(hub, req, res).catch((err: unknown) => {
      const status = err instanceof WorkloadError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!req.readableEnded) res.setHeader('connection', 'close');
      if (!res.headersSent) reply(res, status, { message });
      else res.destroy();
      if (!req.readableEnded) req.resume();
    });
  });
  await removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Only the hub's user may ask for signatures made with module keys.
  fs.chmodSync(socketPath, 0o600);
  server.on('error', () => {
    // A listening server only reports errors here after start; nothing useful can be done with them.
  });
  let closing: Promise<void> | undefined;
  return {
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          fs.rmSync(socketPath, { force: true });
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

// The IoT Edge workload API (trust bundle and module-key signing) over Unix sockets, for "from edge environment"
// clients: like IoT Edge, each module gets a socket of its own, and signs only with its own key.
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { moduleWorkloadSocketPath } from './localIdentity';
import type { WorkloadHub } from './types';

/** The module a workload socket belongs to; undefined for the hub's own socket (trust bundle only). */
interface Caller {
  deviceId: string;
  moduleId: string;
}

/** Largest sign request accepted; real requests carry a string-to-sign of a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;

class WorkloadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES)
    throw new WorkloadError(413, 'request body too large');
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

async function handle(
  hub: WorkloadHub,
  caller: Caller | undefined,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
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
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new WorkloadError(400, 'request body must be a JSON object');
    const { keyId, algo, data } = body as Record<string, unknown>;
    if (keyId !== 'primary' && keyId !== 'secondary')
      throw new WorkloadError(400, 'keyId must be "primary" or "secondary"');
    if (algo !== 'HMACSHA256') throw new WorkloadError(400, 'algo must be "HMACSHA256"');
    if (typeof data !== 'string' || !isCanonicalBase64(data)) throw new WorkloadError(400, 'data must be base64');
    // IoT Edge binds each module's workload socket to that module and refuses to sign for any other (403).
    if (caller === undefined)
      throw new WorkloadError(
        403,
        "this workload socket belongs to no module: use the module's own IOTEDGE_WORKLOADURI",
      );
    if (moduleId !== caller.moduleId)
      throw new WorkloadError(403, `module ${caller.moduleId} may not sign for module ${moduleId}`);
    const mod = hub.getModule(caller.deviceId, caller.moduleId);
    if (!mod || mod.generationId !== generationId)
      throw new WorkloadError(404, `module ${moduleId} with generation id ${generationId} not found`);
    const key = keyId === 'primary' ? mod.primaryKey : mod.secondaryKey;
    const digest = createHmac('sha256', Buffer.from(key, 'base64'))
      .update(Buffer.from(data, 'base64'))
      .digest('base64');
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

/** A running workload API: the hub's socket and one socket per module. */
export interface WorkloadServer {
  /**
   * Opens the module's own socket (at {@link moduleWorkloadSocketPath}) unless it is open; synchronous, so the socket
   * accepts connections as soon as this returns.
   */
  addModule(deviceId: string, moduleId: string): void;
  /** Closes the module's socket and removes its file (unknown modules are ignored). */
  removeModule(deviceId: string, moduleId: string): void;
  /** Stops every socket and removes the socket files. */
  close(): Promise<void>;
}

function createServer(hub: WorkloadHub, caller: Caller | undefined): http.Server {
  const server = http.createServer((req, res) => {
    handle(hub, caller, req, res).catch((err: unknown) => {
      const status = err instanceof WorkloadError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!req.readableEnded) res.setHeader('connection', 'close');
      if (!res.headersSent) reply(res, status, { message });
      else res.destroy();
      if (!req.readableEnded) req.resume();
    });
  });
  server.on('error', () => {
    // A listening server only reports errors here after start; nothing useful can be done with them.
  });
  return server;
}

function closeServer(server: http.Server, socketPath: string): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => {
      fs.rmSync(socketPath, { force: true });
      resolve();
    });
    server.closeAllConnections();
  });
}

/**
 * Starts the IoT Edge workload API on Unix sockets: the hub's own at `socketPath`, and one per module (see
 * {@link WorkloadServer.addModule}; every module the hub has now is added here).
 * `GET /trust-bundle?api-version=…` → `{"certificate": <hub CA PEM>}` on every socket;
 * `POST /modules/{moduleId}/genid/{generationId}/sign?api-version=…` with
 * `{"keyId":"primary","algo":"HMACSHA256","data":"<base64>"}` → `{"digest":"<base64 HMAC-SHA256 under the module
 * key>"}` on the module's own socket only: another module, or the hub's socket → 403; unknown generation id → 404;
 * bad body → 400; errors are `{"message": …}`.
 * A stale socket file is removed first; socket files are owner-only and removed on close.
 * @param hub the hub whose CA and module keys are served.
 * @param socketPath where the hub's own socket listens.
 * @returns a handle that adds and removes module sockets and closes them all.
 * @throws when the path is taken by a live socket or a non-socket file, or listening fails.
 */
export async function startWorkloadServer(hub: WorkloadHub, socketPath: string): Promise<WorkloadServer> {
  const server = createServer(hub, undefined);
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
  const moduleDir = path.dirname(moduleWorkloadSocketPath(socketPath, '', ''));
  fs.rmSync(moduleDir, { recursive: true, force: true });
  fs.mkdirSync(moduleDir, { mode: 0o700 });
  const modules = new Map<string, { server: http.Server; path: string }>();
  let closing: Promise<void> | undefined;

  const handle: WorkloadServer = {
    addModule(deviceId, moduleId) {
      const modulePath = moduleWorkloadSocketPath(socketPath, deviceId, moduleId);
      if (closing || modules.has(modulePath)) return;
      const moduleServer = createServer(hub, { deviceId, moduleId });
      // A Unix socket is bound and listening when listen() returns; only the 'listening' event comes later.
      moduleServer.listen(modulePath);
      fs.chmodSync(modulePath, 0o600);
      modules.set(modulePath, { server: moduleServer, path: modulePath });
    },
    removeModule(deviceId, moduleId) {
      const modulePath = moduleWorkloadSocketPath(socketPath, deviceId, moduleId);
      const entry = modules.get(modulePath);
      if (!entry) return;
      modules.delete(modulePath);
      void closeServer(entry.server, entry.path);
    },
    close(): Promise<void> {
      closing ??= Promise.all([
        closeServer(server, socketPath),
        ...[...modules.values()].map((m) => closeServer(m.server, m.path)),
      ]).then(() => fs.rmSync(moduleDir, { recursive: true, force: true }));
      return closing;
    },
  };
  for (const m of hub.listModules()) handle.addModule(m.deviceId, m.moduleId);
  return handle;
}

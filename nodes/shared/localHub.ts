// The "local hub" connection kind (development only): finds or starts a local hub and provisions a module on it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { IoTHubModuleClient, LocalHub, localConnectionString, localEdgeEnvironment } from '../../src/index';
import type { ClientOptions, EdgeEnvironment, HubMessage, LocalHubApi, ModuleIdentity } from '../../src/index';

/**
 * Where running local hubs announce themselves: one `<port>.json` per hub. Default `<os tmpdir>/azure-iot-local-hub`;
 * the environment variable `AZURE_IOT_LOCAL_HUB_DIR` moves it (tests use a private one).
 */
export const DISCOVERY_DIR = process.env.AZURE_IOT_LOCAL_HUB_DIR || path.join(os.tmpdir(), 'azure-iot-local-hub');

/** The process-wide key under which an embedding program (scripts/start.js) shares its running hub. */
const SHARED_KEY = Symbol.for('node-red-contrib-azure-iot-module.localHub');

/** What a discovery file holds (written by `npm start`, read by other processes). */
export interface HubDiscovery {
  pid: number;
  port: number;
  hostName: string;
  caCertPath: string;
  serviceConnectionString: string;
  /** `unix:///…` of the hub's IoT Edge workload API, '' when off. */
  workloadUri: string;
  startedAt: string;
}

/** Where a lease's hub lives: shared by the embedding program, started here, or in another process. */
export type LocalHubSource = 'shared' | 'in-process' | 'remote';

/** What `acquireLocalHub` gives: the module's credentials and the CA to trust, until `release()`. */
export interface LocalHubLease {
  connectionString: string;
  /** PEM of the hub's CA: pass it as `serverVerificationCert`. */
  ca: string;
  /**
   * The module's IoT Edge environment (workload API of the hub), for `createFromEdgeEnvironment({ env })`: a module
   * created so can also invoke methods, as on a real IoT Edge device. `IOTEDGE_WORKLOADURI` is '' when the hub has
   * no workload API: use the connection string then.
   */
  edgeEnvironment: EdgeEnvironment;
  source: LocalHubSource;
  /** Routes this lease added, name → route. */
  routes: Record<string, string>;
  /** Gives the lease back; the last release of a hub started here closes it (after a short grace period). */
  release(): Promise<void>;
}

/** Options of `acquireLocalHub`. */
export interface AcquireOptions {
  /**
   * edgeHub routes (`FROM … [WHERE …] INTO …`, one per entry) to add while the lease is held. Default: the
   * module's outputs go upstream (`FROM /messages/modules/<moduleId>/* INTO $upstream`). Routes cannot be set
   * on a hub in another process (there the hub's own routes apply).
   */
  routes?: string[];
}

interface RouteBook {
  base: Record<string, string>;
  leases: Map<number, Record<string, string>>;
}

interface OwnHub {
  hub: Promise<LocalHubApi>;
  users: number;
  closeTimer?: NodeJS.Timeout;
}

/** Tunables (tests shorten the grace period). */
export const localHubSettings = {
  /** How long a hub started here outlives its last lease, so a redeploy keeps its twins and keys. Default 3000 ms. */
  graceMs: 3000,
  /** Where to look for discovery files. */
  discoveryDir: DISCOVERY_DIR,
};

const routeBooks = new WeakMap<LocalHubApi, RouteBook>();
/** The last upstream messages of each hub known here (the editor panel shows them). */
const recent = new WeakMap<LocalHubApi, HubMessage[]>();
/** How many upstream messages `recentUpstream` keeps per hub. */
const RECENT_LIMIT = 50;

function watchUpstream(hub: LocalHubApi): void {
  if (recent.has(hub)) return;
  const list: HubMessage[] = [];
  recent.set(hub, list);
  hub.events.on('upstream', (message) => {
    list.push(message);
    if (list.length > RECENT_LIMIT) list.splice(0, list.length - RECENT_LIMIT);
  });
}

/** The last upstream messages (oldest first) of a hub shared or started in this process. */
export function recentUpstream(hub: LocalHubApi): HubMessage[] {
  return [...(recent.get(hub) ?? [])];
}
let own: OwnHub | undefined;
let closingOwn: Promise<void> = Promise.resolve();
let nextLeaseId = 1;

/** The hub an embedding program shares in this process, if any. */
export function sharedLocalHub(): LocalHubApi | undefined {
  const entry = (globalThis as Record<symbol, { hub: LocalHubApi } | undefined>)[SHARED_KEY];
  return entry?.hub;
}

/**
 * Shares a running hub with every `acquireLocalHub` of this process (scripts/start.js calls it before Node-RED
 * starts). `routes` are the hub's own routes, kept when leases add or remove theirs.
 */
export function shareLocalHub(hub: LocalHubApi, routes: Record<string, string>): void {
  routeBooks.set(hub, { base: { ...routes }, leases: new Map() });
  hub.setRoutes(routes);
  watchUpstream(hub);
  (globalThis as Record<symbol, unknown>)[SHARED_KEY] = { hub };
}

/** Stops sharing (the caller closes the hub). */
export function unshareLocalHub(): void {
  delete (globalThis as Record<symbol, unknown>)[SHARED_KEY];
}

/** The hub started here by a lease, if one is running (the editor panel shows it). */
export async function ownLocalHub(): Promise<LocalHubApi | undefined> {
  return own ? own.hub : undefined;
}

/**
 * Announces a hub to other processes: writes `<dir>/<port>.json` (mode 0600, it holds the service key).
 * @returns the file path, to remove with `removeDiscoveryFile`.
 */
export function writeDiscoveryFile(hub: LocalHubApi, dir = localHubSettings.discoveryDir): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  removeStaleDiscoveryFiles(dir);
  const file = path.join(dir, `${hub.port}.json`);
  const content: HubDiscovery = {
    pid: process.pid,
    port: hub.port,
    hostName: hub.hostName,
    caCertPath: hub.caCertPath,
    serviceConnectionString: hub.serviceConnectionString,
    workloadUri: hub.workloadUri ?? '',
    startedAt: new Date().toISOString(),
  };
  fs.writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600 });
  return file;
}

/** Removes the announcements of processes that are gone (a hub killed without its clean stop). */
function removeStaleDiscoveryFiles(dir: string): void {
  for (const name of fs.readdirSync(dir).filter((n) => /^\d+\.json$/.test(n))) {
    try {
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { pid?: unknown };
      if (typeof pid === 'number' && !alive(pid)) fs.rmSync(path.join(dir, name), { force: true });
    } catch {
      // Unreadable or being written: leave it.
    }
  }
}

/** Removes a discovery file (missing is fine). */
export function removeDiscoveryFile(file: string): void {
  fs.rmSync(file, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The hubs announced by live processes (other than this one), newest first; stale files are ignored. */
export function discoverHubs(dir = localHubSettings.discoveryDir): HubDiscovery[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const found: HubDiscovery[] = [];
  for (const name of names) {
    try {
      const d = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as HubDiscovery;
      if (typeof d.port === 'number' && typeof d.pid === 'number' && d.pid !== process.pid && alive(d.pid) && fs.existsSync(d.caCertPath)) found.push(d);
    } catch {
      // A file being written or from another tool: not a hub we can join.
    }
  }
  return found.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/** Parses `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`. */
function parseServiceConnectionString(cs: string): { hostName: string; keyName: string; key: string } {
  const parts = new Map(cs.split(';').map((p) => {
    const i = p.indexOf('=');
    return [p.slice(0, i), p.slice(i + 1)] as [string, string];
  }));
  return { hostName: parts.get('HostName') ?? '', keyName: parts.get('SharedAccessKeyName') ?? '', key: parts.get('SharedAccessKey') ?? '' };
}

/** A service SAS token (IoT Hub: HMAC-SHA256 over `<url-encoded resource>\n<expiry>` with the policy key). */
export function serviceToken(serviceConnectionString: string, ttlSeconds = 3600, now = Date.now()): string {
  const { hostName, keyName, key } = parseServiceConnectionString(serviceConnectionString);
  const sr = encodeURIComponent(hostName);
  const se = Math.floor(now / 1000) + ttlSeconds;
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}&skn=${encodeURIComponent(keyName)}`;
}

/** A small HTTPS JSON call to a hub's service REST API. */
export function hubRequest(d: HubDiscovery, ca: string, method: string, pathname: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: d.port,
        method,
        path: `${pathname}${pathname.includes('?') ? '&' : '?'}api-version=2021-04-12`,
        ca,
        headers: {
          authorization: serviceToken(d.serviceConnectionString),
          'content-type': 'application/json',
          ...(data ? { 'content-length': String(data.length) } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON: keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`local hub on port ${d.port} did not answer`)));
    req.on('error', reject);
    req.end(data);
  });
}

const seg = (s: string): string => encodeURIComponent(s);

/** Provisions device and module through the hub's registry REST API; returns the module's key and generation id. */
async function provisionRemote(d: HubDiscovery, ca: string, deviceId: string, moduleId: string): Promise<{ key: string; generationId: string }> {
  const dev = await hubRequest(d, ca, 'GET', `/devices/${seg(deviceId)}`);
  if (dev.status === 404) {
    const put = await hubRequest(d, ca, 'PUT', `/devices/${seg(deviceId)}`, { deviceId });
    if (put.status >= 300 && put.status !== 409) throw new Error(`local hub refused device ${deviceId} (HTTP ${put.status})`);
  } else if (dev.status >= 300) {
    throw new Error(`local hub on port ${d.port} answered HTTP ${dev.status}`);
  }
  let mod = await hubRequest(d, ca, 'GET', `/devices/${seg(deviceId)}/modules/${seg(moduleId)}`);
  if (mod.status === 404) mod = await hubRequest(d, ca, 'PUT', `/devices/${seg(deviceId)}/modules/${seg(moduleId)}`, { deviceId, moduleId });
  if (mod.status >= 300) throw new Error(`local hub refused module ${deviceId}/${moduleId} (HTTP ${mod.status})`);
  const body = mod.body as { generationId?: string; authentication?: { symmetricKey?: { primaryKey?: string } } } | undefined;
  const key = body?.authentication?.symmetricKey?.primaryKey;
  if (!key) throw new Error(`local hub gave no key for ${deviceId}/${moduleId}`);
  return { key, generationId: body?.generationId ?? '' };
}


function routesFor(moduleId: string, routes: string[] | undefined, leaseId: number): Record<string, string> {
  const lines = (routes ?? []).map((r) => r.trim()).filter((r) => r !== '' && !r.startsWith('#'));
  const chosen = lines.length > 0 ? lines : [`FROM /messages/modules/${moduleId}/* INTO $upstream`];
  const out: Record<string, string> = {};
  chosen.forEach((text, i) => {
    out[`lease${leaseId}_${i + 1}`] = text;
  });
  return out;
}

function applyRoutes(hub: LocalHubApi): void {
  const book = routeBooks.get(hub);
  if (!book) return;
  const all: Record<string, string> = { ...book.base };
  for (const routes of book.leases.values()) Object.assign(all, routes);
  hub.setRoutes(all);
}

/** Adds a lease's routes to a hub in this process. @throws RouteSyntaxError (from the hub) for a bad route. */
function addLeaseRoutes(hub: LocalHubApi, leaseId: number, routes: Record<string, string>): void {
  let book = routeBooks.get(hub);
  if (!book) {
    book = { base: {}, leases: new Map() };
    routeBooks.set(hub, book);
  }
  book.leases.set(leaseId, routes);
  try {
    applyRoutes(hub);
  } catch (err) {
    book.leases.delete(leaseId);
    applyRoutes(hub);
    throw err;
  }
}

function removeLeaseRoutes(hub: LocalHubApi, leaseId: number): void {
  const book = routeBooks.get(hub);
  if (book?.leases.delete(leaseId)) applyRoutes(hub);
}

async function startOwnHub(): Promise<LocalHubApi> {
  await closingOwn;
  if (own) {
    if (own.closeTimer) clearTimeout(own.closeTimer);
    own.closeTimer = undefined;
    own.users++;
    return own.hub;
  }
  const hub = LocalHub.start({ routes: {} }).then((h) => {
    routeBooks.set(h, { base: {}, leases: new Map() });
    watchUpstream(h);
    return h;
  });
  own = { hub, users: 1 };
  hub.catch(() => {
    own = undefined;
  });
  return hub;
}

function releaseOwnHub(): void {
  if (!own) return;
  own.users--;
  if (own.users > 0) return;
  const current = own;
  const close = (): void => {
    if (own !== current || current.users > 0) return;
    own = undefined;
    closingOwn = current.hub.then((h) => h.close()).catch(() => undefined);
  };
  if (localHubSettings.graceMs <= 0) close();
  else {
    current.closeTimer = setTimeout(close, localHubSettings.graceMs);
    // The grace period must not keep a stopping Node-RED alive.
    current.closeTimer.unref();
  }
}

/** Waits until a hub started here has fully closed (tests use it to prove nothing is left open). */
export async function localHubsClosed(): Promise<void> {
  const current = own;
  if (current) {
    if (current.closeTimer) clearTimeout(current.closeTimer);
    if (current.users <= 0) {
      own = undefined;
      closingOwn = current.hub.then((h) => h.close()).catch(() => undefined);
    }
  }
  await closingOwn;
}

/**
 * Gets a module identity on a local hub, in this order: the hub an embedding program shares in this process
 * (`npm start`), a hub announced by another live process (joined through its registry REST API), or ONE hub
 * started in this process and shared by every lease (closed a little after the last release).
 * @param deviceId device of the module (created when missing).
 * @param moduleId module identity (created when missing).
 * @throws Error when the hub cannot be started or refuses the identity; RouteSyntaxError for a bad route.
 */
export async function acquireLocalHub(deviceId: string, moduleId: string, options: AcquireOptions = {}): Promise<LocalHubLease> {
  const leaseId = nextLeaseId++;
  const routes = routesFor(moduleId, options.routes, leaseId);
  const shared = sharedLocalHub();
  if (shared) {
    const identity: ModuleIdentity = shared.addModule(deviceId, moduleId);
    addLeaseRoutes(shared, leaseId, routes);
    let released = false;
    return {
      connectionString: identity.connectionString,
      ca: shared.caCert,
      edgeEnvironment: shared.edgeEnvironment(deviceId, moduleId),
      source: 'shared',
      routes,
      release: async () => {
        if (released) return;
        released = true;
        removeLeaseRoutes(shared, leaseId);
      },
    };
  }
  for (const d of discoverHubs()) {
    let ca: string;
    try {
      ca = fs.readFileSync(d.caCertPath, 'utf8');
    } catch {
      continue;
    }
    let provisioned: { key: string; generationId: string };
    try {
      provisioned = await provisionRemote(d, ca, deviceId, moduleId);
    } catch (err) {
      // A hub that went away between announcement and call: try the next one, else start our own.
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') continue;
      throw err;
    }
    return {
      connectionString: localConnectionString(d, deviceId, moduleId, provisioned.key),
      ca,
      edgeEnvironment: localEdgeEnvironment(d, deviceId, moduleId, provisioned.generationId),
      source: 'remote',
      routes: {},
      release: async () => undefined,
    };
  }
  const hub = await startOwnHub();
  let identity: ModuleIdentity;
  try {
    identity = hub.addModule(deviceId, moduleId);
    addLeaseRoutes(hub, leaseId, routes);
  } catch (err) {
    releaseOwnHub();
    throw err;
  }
  let released = false;
  return {
    connectionString: identity.connectionString,
    ca: hub.caCert,
    edgeEnvironment: hub.edgeEnvironment(deviceId, moduleId),
    source: 'in-process',
    routes,
    release: async () => {
      if (released) return;
      released = true;
      removeLeaseRoutes(hub, leaseId);
      releaseOwnHub();
    },
  };
}

/**
 * The local-hub side of one config node: acquires its module identity once, creates clients for it, and releases
 * the identity when the node closes.
 */
export class LocalHubConnection {
  private lease: Promise<LocalHubLease> | undefined;
  private released = false;

  /**
   * @param deviceId device of the module.
   * @param moduleId the module identity.
   * @param routes edgeHub routes for the development hub, one per line (`#` starts a comment); empty = the module's outputs upstream.
   */
  constructor(readonly deviceId: string, readonly moduleId: string, readonly routes = '') {}

  /** The lease (acquired on first use). @throws like `acquireLocalHub`. */
  acquire(): Promise<LocalHubLease> {
    if (this.released) return Promise.reject(new Error('the local hub connection is closed'));
    if (!this.lease) {
      this.lease = acquireLocalHub(this.deviceId, this.moduleId, { routes: this.routes.split(/\r?\n/) });
      this.lease.catch(() => {
        this.lease = undefined;
      });
    }
    return this.lease;
  }

  /**
   * A client for the module: from its IoT Edge environment (so that it can invoke methods), or from its connection
   * string with the hub's CA when the hub has no workload API. `serverVerificationCert` and `gatewayHostname` are
   * ignored: the hub decides both.
   * @throws like `acquireLocalHub`, and the client factories' TypeError / ValueError for bad options.
   */
  async createClient(options: ClientOptions): Promise<IoTHubModuleClient> {
    const lease = await this.acquire();
    const rest: ClientOptions = { ...options };
    delete rest.serverVerificationCert;
    delete rest.gatewayHostname;
    if (lease.edgeEnvironment.IOTEDGE_WORKLOADURI) {
      return IoTHubModuleClient.createFromEdgeEnvironment({ ...rest, env: { ...lease.edgeEnvironment } });
    }
    return IoTHubModuleClient.createFromConnectionString(lease.connectionString, { ...rest, serverVerificationCert: lease.ca });
  }

  /** Releases the module identity (idempotent); clients must be shut down first. */
  async release(): Promise<void> {
    this.released = true;
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.then((l) => l.release(), () => undefined);
  }
}

// Leases of module identities on a development local hub: the hub an embedding program shares in this process, one
// announced by another process (joined through its registry REST API), or one started here and shared by every lease.
// Node-RED's "local hub" connection kind is built on it; nothing here knows Node-RED.
import fs from 'node:fs';
import { DISCOVERY_DIR, discoverHubs } from './hubDiscovery';
import { addLeaseRoutes, removeLeaseRoutes, routesFor, startRouteBook } from './leaseRoutes';
import { LocalHub } from './LocalHub';
import { localConnectionString, localEdgeEnvironment } from './localIdentity';
import { provisionRemote } from './remoteHub';
import type { EdgeEnvironment, HubMessage, LocalHubApi, ModuleIdentity, SharedLocalHub, UpstreamSource } from './types';

/** The process-wide key under which an embedding program (`npm start`) shares its running hub. */
const SHARED_KEY = Symbol.for('node-red-contrib-azure-iot-module.localHub');

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

/** The last upstream messages of each hub known here (the editor panel shows them). */
const recent = new WeakMap<UpstreamSource, HubMessage[]>();
/** How many upstream messages `recentUpstream` keeps per hub. */
const RECENT_LIMIT = 50;

function watchUpstream(hub: UpstreamSource): void {
  if (recent.has(hub)) return;
  const list: HubMessage[] = [];
  recent.set(hub, list);
  hub.events.on('upstream', (message) => {
    list.push(message);
    if (list.length > RECENT_LIMIT) list.splice(0, list.length - RECENT_LIMIT);
  });
}

/** The last upstream messages (oldest first) of a hub shared or started in this process. @throws never */
export function recentUpstream(hub: UpstreamSource): HubMessage[] {
  return [...(recent.get(hub) ?? [])];
}
let own: OwnHub | undefined;
let closingOwn: Promise<void> = Promise.resolve();
let nextLeaseId = 1;

/** The hub an embedding program shares in this process, if any. @throws never */
export function sharedLocalHub(): SharedLocalHub | undefined {
  const entry = (globalThis as Record<symbol, { hub: SharedLocalHub } | undefined>)[SHARED_KEY];
  return entry?.hub;
}

/**
 * Shares a running hub with every `acquireLocalHub` of this process (`npm start` calls it before Node-RED starts).
 * `routes` are the hub's own routes, kept when leases add or remove theirs.
 * @throws RouteSyntaxError (from the hub) when a route does not parse.
 */
export function shareLocalHub(hub: SharedLocalHub, routes: Record<string, string>): void {
  startRouteBook(hub, routes);
  hub.setRoutes(routes);
  watchUpstream(hub);
  (globalThis as Record<symbol, unknown>)[SHARED_KEY] = { hub };
}

/** Stops sharing (the caller closes the hub). @throws never */
export function unshareLocalHub(): void {
  delete (globalThis as Record<symbol, unknown>)[SHARED_KEY];
}

/** The hub started here by a lease, if one is running (the editor panel shows it); rejects if it failed to start. */
export async function ownLocalHub(): Promise<LocalHubApi | undefined> {
  return own ? own.hub : undefined;
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
    startRouteBook(h, {});
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

/** Waits until a hub started here has fully closed (tests use it to prove nothing is left open). @throws never */
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
export async function acquireLocalHub(
  deviceId: string,
  moduleId: string,
  options: AcquireOptions = {},
): Promise<LocalHubLease> {
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
  for (const d of discoverHubs(localHubSettings.discoveryDir)) {
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

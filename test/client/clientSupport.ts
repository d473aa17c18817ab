// Helpers for the client tests: a local hub per suite (the shared fixture), tracked clients that are shut down after
// each test, waits.
import { LocalHub } from '../../src/hub';
import { IoTHubModuleClient, type ClientOptions } from '../../src/index';
import type { InternalClientOptions } from '../../src/client/options';

/** Starts a local hub without the workload API. */
export function startHub(): Promise<LocalHub> {
  return LocalHub.start({ workloadSocketPath: false });
}

/**
 * The fixture every client spec shares: one local hub for the suite (handed to `use` once started), closed after it;
 * after each test every tracked client is shut down and the hub's faults, observations and routes are reset.
 */
export function useLocalHub(use: (hub: LocalHub) => void): void {
  let hub: LocalHub | undefined;
  before(async () => {
    hub = await startHub();
    use(hub);
  });
  after(async () => {
    await hub?.close();
  });
  afterEach(async () => {
    await closeClients();
    hub?.faults.clear();
    hub?.observed.clear();
    hub?.setRoutes({});
  });
}

const clients = new Set<IoTHubModuleClient>();

/**
 * Creates a client from a module's connection string, trusting the hub's CA; shut down by {@link closeClients}.
 * `options` may carry the internal test hooks (InternalClientOptions), which the factories validate like the rest.
 */
export function clientFor(
  hub: LocalHub,
  deviceId: string,
  moduleId: string,
  options: ClientOptions & InternalClientOptions = {},
): IoTHubModuleClient {
  const m = hub.addModule(deviceId, moduleId);
  const client = IoTHubModuleClient.createFromConnectionString(m.connectionString, {
    serverVerificationCert: hub.caCert,
    ...options,
  });
  return track(client);
}

export function track(client: IoTHubModuleClient): IoTHubModuleClient {
  clients.add(client);
  return client;
}

/** Shuts every tracked client down. */
export async function closeClients(): Promise<void> {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((c) => c.shutdown().catch(() => undefined)));
}

/** Resolves with the first value passed to the callback that `install` wires up, or rejects after a timeout. */
export function nextCall<T>(install: (cb: (value: T) => void) => void, what: string, timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    install((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

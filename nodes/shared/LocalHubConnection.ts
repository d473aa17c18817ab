// The "local hub" connection kind of the config node (development only): one module identity leased from a local
// hub (see acquireLocalHub in the library), and clients created for it, also for SAS tokens issued for the local hub.
import { IoTHubModuleClient, acquireLocalHub } from '../../src/index';
import type { ClientOptions, LocalHubLease } from '../../src/index';

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
   * @param routes edgeHub routes for the development hub, one per line (`#` starts a comment); empty = the module's
   * outputs upstream.
   */
  constructor(
    readonly deviceId: string,
    readonly moduleId: string,
    readonly routes = '',
  ) {}

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
    return IoTHubModuleClient.createFromConnectionString(lease.connectionString, {
      ...rest,
      serverVerificationCert: lease.ca,
    });
  }

  /**
   * A client for the module that authenticates with `sastoken`, a token someone else signed for this module (renewed
   * by the flow with updateSastoken), through the hub's gateway port with the hub's CA.
   * @throws like `acquireLocalHub`, and createFromSastoken's ValueError for a malformed or expired token.
   */
  async createClientFromSastoken(sastoken: string, options: ClientOptions): Promise<IoTHubModuleClient> {
    const lease = await this.acquire();
    const gateway = /GatewayHostName=([^;]+)/.exec(lease.connectionString)?.[1];
    return IoTHubModuleClient.createFromSastoken(sastoken, {
      ...options,
      serverVerificationCert: lease.ca,
      ...(gateway ? { gatewayHostname: gateway } : {}),
    });
  }

  /** Releases the module identity (idempotent); clients must be shut down first. */
  async release(): Promise<void> {
    this.released = true;
    const lease = this.lease;
    this.lease = undefined;
    if (lease)
      await lease.then(
        (l) => l.release(),
        () => undefined,
      );
  }
}

// Node-RED config node `iothub-module-client`: one IoTHubModuleClient per node, shared by the flow nodes using it.
import { IoTHubModuleClient } from '../src/index';
import { LocalHubConnection } from './shared/localHub';
import { ModuleClientHost } from './shared/ModuleClientHost';
import { buildClientSetup, type ClientConfigDef, type ClientCredentials, type ProxyMaterial, type TlsMaterial } from './shared/options';
import type { ModuleClientNode } from './shared/flowNode';
import type { BaseNodeDef, RedApi } from './shared/red';

interface ClientNodeDef extends BaseNodeDef, ClientConfigDef {
  tls?: string;
  proxy?: string;
}

interface TlsConfigNode {
  addTLSOptions(opts: Record<string, unknown>): Record<string, unknown>;
}

interface HttpProxyNode {
  url?: string;
  credentials?: { username?: string; password?: string };
}

/** Node-RED allows 15 s for close; the client gets 10 s to say goodbye. */
const CLOSE_LIMIT_MS = 10_000;

function tlsMaterial(RED: RedApi, id: string | undefined): TlsMaterial | undefined {
  const node = id ? (RED.nodes.getNode(id) as TlsConfigNode | null) : null;
  if (!node || typeof node.addTLSOptions !== 'function') return undefined;
  const opts = node.addTLSOptions({}) as { cert?: string | Buffer; key?: string | Buffer; ca?: string | Buffer; passphrase?: string };
  const material: TlsMaterial = {};
  if (opts.cert) material.cert = opts.cert;
  if (opts.key) material.key = opts.key;
  if (opts.ca) material.ca = opts.ca;
  if (opts.passphrase) material.passphrase = opts.passphrase;
  return material;
}

function proxyMaterial(RED: RedApi, id: string | undefined): ProxyMaterial | undefined {
  const node = id ? (RED.nodes.getNode(id) as HttpProxyNode | null) : null;
  if (!node?.url) return undefined;
  const material: ProxyMaterial = { url: node.url };
  if (node.credentials?.username) material.username = node.credentials.username;
  if (node.credentials?.password) material.password = node.credentials.password;
  return material;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleClientNode(this: ModuleClientNode, def: ClientNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    // The local hub (development only) lends this node a module identity for as long as the node lives.
    let localHub: LocalHubConnection | undefined;
    const create = async (): Promise<IoTHubModuleClient> => {
      const setup = buildClientSetup(def, node.credentials as ClientCredentials, tlsMaterial(RED, def.tls), proxyMaterial(RED, def.proxy));
      // The library's English log lines go to the runtime log only; people see catalog text via status / done(err).
      const logger = { debug: (m: string) => node.debug(m), info: (m: string) => node.debug(m), warn: (m: string) => node.log(m), error: (m: string) => node.log(m) };
      const options = { ...setup.options, logger };
      switch (setup.kind) {
        case 'connectionString':
          return IoTHubModuleClient.createFromConnectionString(setup.connectionString, options);
        case 'sasToken':
          return IoTHubModuleClient.createFromSastoken(setup.sasToken, options);
        case 'x509':
          return IoTHubModuleClient.createFromX509Certificate(setup.args, options);
        case 'edge':
          return IoTHubModuleClient.createFromEdgeEnvironment(options);
        case 'localHub':
          localHub ??= new LocalHubConnection(setup.deviceId, setup.moduleId, setup.routes);
          return localHub.createClient(options);
      }
    };
    this.host = new ModuleClientHost({
      id: this.id,
      RED,
      create,
      autoConnect: def.autoConnect !== false,
      log: { warn: (m) => node.warn(m), error: (m) => node.error(m) },
    });
    this.on('close', (_removed: boolean, done: () => void) => {
      node.host
        .close(CLOSE_LIMIT_MS)
        .then(() => localHub?.release())
        .then(
          () => done(),
          () => done(),
        );
    });
  }

  RED.nodes.registerType('iothub-module-client', IoTHubModuleClientNode, {
    credentials: {
      connectionString: { type: 'password' },
      sasToken: { type: 'password' },
      cert: { type: 'text' },
      key: { type: 'password' },
      passphrase: { type: 'password' },
    },
  });
};

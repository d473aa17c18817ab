// Node-RED config node `iothub-module-client`: one IoTHubModuleClient per node, shared by the flow nodes using it.
import { IoTHubModuleClient } from '../src/index';
import { clientCredentialTypes } from './shared/clientConfigFields';
import { NodeError } from './shared/errors';
import { LocalHubConnection } from './shared/LocalHubConnection';
import { localHubModuleOf } from './shared/localHub';
import { ModuleClientHost } from './shared/ModuleClientHost';
import {
  buildClientSetup,
  type ClientConfigDef,
  type ClientCredentials,
  type ProxyMaterial,
  type TlsMaterial,
} from './shared/options';
import type { ModuleClientNode } from './shared/flowNode';
import type { BaseNodeDef, RedApi } from './shared/red';

type ClientNodeDef = BaseNodeDef & ClientConfigDef;

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
  const opts = node.addTLSOptions({}) as {
    cert?: string | Buffer;
    key?: string | Buffer;
    ca?: string | Buffer;
    passphrase?: string;
  };
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
    // A *SAS token* connection also takes its tokens from the flow (msg.action "update-sastoken"): the last one
    // is used for the next client, and without a configured token the node waits for the first one.
    let flowSastoken: string | undefined;
    const sasKind = def.connectionType === 'sasToken';
    // Status nodes are wired up only when every node of a deploy exists, so a token needed at start is announced then.
    const flowsStarted = new Promise<void>((resolve) => {
      const started = (): void => {
        RED.events?.removeListener('flows:started', started);
        resolve();
      };
      if (!RED.events || !sasKind) return resolve();
      RED.events.on('flows:started', started);
      node.on('close', started);
    });
    const create = async (): Promise<IoTHubModuleClient> => {
      const credentials = { ...(node.credentials as ClientCredentials | undefined) };
      const fromFlow = sasKind && flowSastoken !== undefined;
      if (sasKind) {
        const token = flowSastoken ?? credentials.sasToken?.trim();
        if (!token) {
          await flowsStarted;
          throw new NodeError('sastoken-needed');
        }
        credentials.sasToken = token;
      }
      const setup = buildClientSetup(def, credentials, tlsMaterial(RED, def.tls), proxyMaterial(RED, def.proxy));
      // The library's English log lines go to the runtime log only; people see catalog text via status / done(err).
      const logger = {
        debug: (m: string) => node.debug(m),
        info: (m: string) => node.debug(m),
        warn: (m: string) => node.log(m),
        error: (m: string) => node.log(m),
      };
      const options = { ...setup.options, logger };
      switch (setup.kind) {
        case 'connectionString':
          return IoTHubModuleClient.createFromConnectionString(setup.connectionString, options);
        case 'sasToken': {
          try {
            // A token for the local hub's host name, with no gateway set, goes to the local hub on this machine.
            const local = setup.options.gatewayHostname ? undefined : localHubModuleOf(setup.sasToken);
            if (!local) return IoTHubModuleClient.createFromSastoken(setup.sasToken, options);
            localHub ??= new LocalHubConnection(local.deviceId, local.moduleId);
            return await localHub.createClientFromSastoken(setup.sasToken, options);
          } catch (err) {
            if ((err as { code?: unknown }).code !== 'invalid-value') throw err;
            // A token from the flow that cannot be used is the flow's error (asking again could loop); a stored one
            // that has expired (or is malformed) is a need for the flow's first token.
            if (fromFlow) throw new NodeError('invalid-sastoken', undefined, err);
            await flowsStarted;
            throw new NodeError('sastoken-needed', undefined, err);
          }
        }
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
      label: def.name?.trim() || this.id,
      RED,
      create,
      autoConnect: def.autoConnect !== false,
      log: { warn: (m) => node.warn(m), error: (m) => node.error(m) },
      supplySastoken: (sastoken) => {
        if (!sasKind) return false;
        flowSastoken = sastoken;
        return true;
      },
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
    credentials: clientCredentialTypes(),
  });
};

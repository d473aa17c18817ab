// Shared set-up of the node flow tests: a real LocalHub, node-red-node-test-helper loading the pack's nodes
// from their TypeScript sources, and deterministic waits (events with a deadline, polled conditions).
import { once } from 'node:events';
import type { EventEmitter } from 'node:events';
import { LocalHub } from '../../src/hub/index';
import type { LocalHubApi } from '../../src/hub/types';
import clientNode from '../../nodes/iothub-module-client';
import inputNode from '../../nodes/iothub-module-input';
import invokeNode from '../../nodes/iothub-module-invoke';
import methodRequestNode from '../../nodes/iothub-module-method-request';
import methodResponseNode from '../../nodes/iothub-module-method-response';
import outputNode from '../../nodes/iothub-module-output';
import twinNode from '../../nodes/iothub-module-twin';
import { until } from '../helpers/until';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper') as TestHelper;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tlsNode = require('@node-red/nodes/core/network/05-tls.js') as unknown;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const proxyNode = require('@node-red/nodes/core/network/06-httpproxy.js') as unknown;

export interface TestHelper {
  load(nodes: unknown[], flow: FlowNode[], credentials?: Record<string, Record<string, string>>): Promise<void>;
  setFlows(flow: FlowNode[], type: string, credentials?: Record<string, Record<string, string>>): Promise<void>;
  unload(): Promise<void>;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  getNode(id: string): TestNode;
}

export type FlowNode = Record<string, unknown> & { id: string; type: string };

/** A runtime node as the test helper exposes it (with its spied methods emitting `call:<name>`). */
export interface TestNode extends EventEmitter {
  id: string;
  receive(msg: Record<string, unknown>): void;
}

/** Every node module of the pack plus the core config nodes it reuses. */
export const NODES = [
  tlsNode,
  proxyNode,
  clientNode,
  inputNode,
  outputNode,
  twinNode,
  methodRequestNode,
  methodResponseNode,
  invokeNode,
];

export const DEVICE = 'edge-1';

export async function startHub(): Promise<LocalHubApi> {
  return LocalHub.start({ devices: [{ deviceId: DEVICE, modules: [{ moduleId: 'flow' }, { moduleId: 'peer' }] }] });
}

/** A tls-config node trusting the hub's CA, with its credentials. */
export function tlsConfig(hub: LocalHubApi, id = 'tls'): { node: FlowNode; credentials: Record<string, string> } {
  return {
    node: { id, type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true },
    credentials: { cadata: hub.caCert },
  };
}

/** A config node connecting module `moduleId` of the test device with its connection string. */
export function clientConfig(
  hub: LocalHubApi,
  moduleId: string,
  id = 'cfg',
  extra: Record<string, unknown> = {},
): { node: FlowNode; credentials: Record<string, string> } {
  const module = hub.getModule(DEVICE, moduleId);
  if (!module) throw new Error(`no module ${moduleId}`);
  return {
    node: {
      id,
      type: 'iothub-module-client',
      connectionType: 'connectionString',
      tls: 'tls',
      operationTimeout: '10',
      connectionRetryInterval: '1',
      ...extra,
    },
    credentials: { connectionString: module.connectionString },
  };
}

/** Resolves with the next message a node sends (its `input` on a helper node), or rejects after `ms`. */
export async function nextInput(node: TestNode, ms = 10_000): Promise<Record<string, unknown>> {
  const [msg] = (await once(node, 'input', { signal: AbortSignal.timeout(ms) })) as [Record<string, unknown>];
  return msg;
}

/** Resolves with the first argument of the next call of a spied node method (`warn`, `error`, `status`…). */
export async function nextCall(node: TestNode, method: string, ms = 10_000): Promise<unknown[]> {
  const [call] = (await once(node, `call:${method}`, { signal: AbortSignal.timeout(ms) })) as [{ args: unknown[] }];
  return call.args;
}

/** Waits until the module's client is connected and subscribed to `topicPart` (granted). */
export async function untilSubscribed(hub: LocalHubApi, clientId: string, topicPart: string, since = 0): Promise<void> {
  await until(
    () =>
      hub.isConnected(clientId) &&
      hub.observed.subscriptions.some(
        (s) => s.at >= since && s.clientId === clientId && s.topic.includes(topicPart) && s.granted !== 128,
      ),
    `${clientId} subscribed to ${topicPart}`,
    10_000,
  );
}

/** Every status a node has shown since it was created (from the helper's spy on Node.prototype.status). */
export function statusesOf(id: string): Array<{ fill?: string; shape?: string; text?: string }> {
  const spy = (
    helper as unknown as {
      _NodePrototype: { status: { getCalls(): Array<{ thisValue: { id: string }; args: unknown[] }> } };
    }
  )._NodePrototype.status;
  return spy
    .getCalls()
    .filter((c) => c.thisValue?.id === id)
    .map((c) => c.args[0] as { fill?: string; shape?: string; text?: string });
}

/** Every warning a node logged (`node.warn`), oldest first. */
export function warningsOf(id: string): unknown[] {
  const spy = (
    helper as unknown as {
      _NodePrototype: { warn: { getCalls(): Array<{ thisValue: { id: string }; args: unknown[] }> } };
    }
  )._NodePrototype.warn;
  return spy
    .getCalls()
    .filter((c) => c.thisValue?.id === id)
    .map((c) => c.args[0]);
}

/** Every `input` a node receives, collected. */
export function collect(node: TestNode): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  node.on('input', (msg: Record<string, unknown>) => seen.push(msg));
  return seen;
}

const CONFIG_TYPES = new Set(['tls-config', 'http proxy', 'iothub-module-client']);

/**
 * Puts flow nodes on a tab (Node-RED treats nodes without a tab and position as config nodes, which breaks
 * catch / complete scopes); config nodes stay global.
 */
export function onTab(nodes: FlowNode[]): FlowNode[] {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    ...nodes.map((n) => (CONFIG_TYPES.has(n.type) || n.type === 'tab' ? n : { z: 'tab', x: 100, y: 100, ...n })),
  ];
}

export async function unloadAll(): Promise<void> {
  await helper.unload();
  await helper.stopServer();
}

/**
 * The set-up every flow spec shares: one LocalHub for the describe block (handed to `use` once started), the
 * test helper's server around each test, and everything unloaded after it. Call inside `describe`.
 */
export function useLocalHub(use: (hub: LocalHubApi) => void): void {
  let hub: LocalHubApi | undefined;
  before(async () => {
    hub = await startHub();
    use(hub);
  });
  after(async () => {
    await hub?.close();
  });
  beforeEach(() => helper.startServer());
  afterEach(() => unloadAll());
}

/**
 * Loads `nodes` on a tab together with a tls-config node trusting the hub and config node `cfg` (module `flow`,
 * connection string, `options.cfg` merged in), with their credentials; with `options.subscribedTo`, waits until
 * that client has subscribed to a topic containing it.
 */
export async function loadWithClient(
  hub: LocalHubApi,
  nodes: FlowNode[],
  options: { cfg?: Record<string, unknown>; subscribedTo?: string } = {},
): Promise<void> {
  const tls = tlsConfig(hub);
  const cfg = clientConfig(hub, 'flow', 'cfg', options.cfg);
  const since = Date.now();
  await helper.load(NODES, onTab([tls.node, cfg.node, ...nodes]), { tls: tls.credentials, cfg: cfg.credentials });
  if (options.subscribedTo !== undefined) await untilSubscribed(hub, `${DEVICE}/flow`, options.subscribedTo, since);
}

// An embedded Node-RED runtime for the benchmark: settings object, an http server on port 0, this pack loaded from
// dist/nodes (nodesDir), a tiny `bench-sink` node type that reports what reaches it, flows deployed with setFlows.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/** The parts of the runtime's internal node API the benchmark uses. */
export interface RedNodesApi {
  setFlows(config: object[], credentials: object | null, type: string): Promise<unknown>;
  getNode(id: string): unknown;
  createNode(node: object, def: object): void;
  registerType(set: string, type: string, ctor: (this: RedNodeLike, def: { id: string }) => void): void;
}

interface RedNodeLike {
  id: string;
  on(event: 'input', fn: (msg: Record<string, unknown>, send: unknown, done: (err?: Error) => void) => void): void;
}

interface RedHooks {
  add(name: string, fn: (event: { node: { id: string }; error?: unknown; msg: Record<string, unknown> }) => void): void;
  remove(name: string): void;
}

interface RedRuntime {
  init(server: http.Server, settings: object): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  nodes: RedNodesApi;
  hooks: RedHooks;
  events: import('node:events').EventEmitter;
  version(): string;
}

/** What a sink or completion listener is told. */
export type SinkListener = (nodeId: string, msg: Record<string, unknown>) => void;
export type CompleteListener = (nodeId: string, error: unknown) => void;

/** A started runtime. */
export interface NodeRedHarness {
  readonly RED: RedRuntime;
  readonly version: string;
  /** Replaces the running flows (full deploy) and resolves once they are started. */
  deploy(flows: object[]): Promise<void>;
  getNode<T = Record<string, unknown>>(id: string): T | undefined;
  /** Delivers a message to a node's input, as the editor's inject button does. */
  trigger(id: string, msg?: Record<string, unknown>): void;
  /** Called for every message reaching any `bench-sink` node. */
  onSink(listener: SinkListener | null): void;
  /** Called for every node calling done(); installs the onComplete hook only while set (it costs every node). */
  onComplete(listener: CompleteListener | null): void;
  stop(): Promise<void>;
}

/** The project root (the directory whose package.json is this pack's). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (
      fs.existsSync(file) &&
      (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name === 'node-red-contrib-azure-iot-module'
    )
      return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
}

/**
 * Starts Node-RED in this process with the pack's built nodes.
 * @throws Error when dist/nodes is missing (run `npm run build`) or the runtime fails to start.
 */
export async function startNodeRed(): Promise<NodeRedHarness> {
  const nodesDir = path.join(packageRoot(), 'dist', 'nodes');
  if (!fs.existsSync(path.join(nodesDir, 'iothub-module-client.js')))
    throw new Error(`${nodesDir} has no built nodes: run npm run build`);
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-nodered-'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RED = require('node-red') as RedRuntime;
  const server = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  RED.init(server, {
    userDir,
    flowFile: 'flows.json',
    nodesDir: [nodesDir],
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    credentialSecret: false,
    mqttReconnectTime: 1000,
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    logging: { console: { level: process.env.BENCH_NODERED_LOG ?? 'error', metrics: false, audit: false } },
  });
  let sink: SinkListener | null = null;
  RED.nodes.registerType('bench', 'bench-sink', function BenchSink(this: RedNodeLike, def: { id: string }) {
    RED.nodes.createNode(this, def);
    this.on('input', (msg, _send, done) => {
      sink?.(this.id, msg);
      done();
    });
  });
  // start() resolves before the initial flows (and their credentials) are loaded; a deploy made before that would
  // have its credentials wiped by the load, so wait for the runtime's own first start.
  const firstStart = new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
  await RED.start();
  await firstStart;
  let hooked = false;
  return {
    RED,
    version: RED.version(),
    deploy: async (flows) => {
      await RED.nodes.setFlows(flows, null, 'full');
    },
    getNode: <T>(id: string) => (RED.nodes.getNode(id) ?? undefined) as T | undefined,
    trigger: (id, msg = {}) => {
      const node = RED.nodes.getNode(id) as { receive(m: object): void } | null;
      if (!node) throw new Error(`no node ${id}`);
      node.receive(msg);
    },
    onSink: (listener) => {
      sink = listener;
    },
    onComplete: (listener) => {
      if (hooked) RED.hooks.remove('onComplete.bench');
      hooked = false;
      if (listener) {
        RED.hooks.add('onComplete.bench', (event) => listener(event.node.id, event.error));
        hooked = true;
      }
    },
    stop: async () => {
      await RED.nodes.setFlows([], null, 'full');
      await RED.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

/** Builders for the flow objects the cases deploy. */
export const flows = {
  tab: (id = 'bench-tab'): object => ({ id, type: 'tab', label: 'bench', disabled: false }),
  tls: (id: string, caCert: string): object => ({
    id,
    type: 'tls-config',
    name: 'bench hub CA',
    cert: '',
    key: '',
    ca: '',
    certname: '',
    keyname: '',
    caname: '',
    servername: '',
    verifyservercert: true,
    alpnprotocol: '',
    credentials: { cadata: caCert },
  }),
  moduleClient: (id: string, connectionString: string, tlsId: string): object => ({
    id,
    type: 'iothub-module-client',
    // Not the id: Node-RED reads any property equal to a config node id as a dependency (here: on itself).
    name: `module ${id}`,
    connectionType: 'connectionString',
    tls: tlsId,
    autoConnect: true,
    connectionRetry: true,
    credentials: { connectionString },
  }),
  inject: (id: string, z: string, wires: string[], props: Array<{ p: string; v: string; vt: string }>): object => ({
    id,
    type: 'inject',
    z,
    name: '',
    props,
    repeat: '',
    crontab: '',
    once: false,
    onceDelay: 0.1,
    topic: '',
    x: 100,
    y: 100,
    wires: [wires],
  }),
  sink: (id: string, z: string): object => ({ id, type: 'bench-sink', z, name: '', x: 500, y: 100, wires: [] }),
};

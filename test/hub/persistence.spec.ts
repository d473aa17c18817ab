// The CLI hub's state directory as the Azure IoT Python SDK relies on it: after `kill -9` and a restart on the same
// state directory, the same CA file and connection strings work, a `cleanSession: false` module finds its session
// (CONNACK session present) and gets methods, desired patches and routed inputs without subscribing again, messages
// queued while it was away arrive, and twins keep their versions and etags. `--ephemeral` keeps nothing.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { defaultStateDir } from '../../src/hub/HubState';
import { createSas } from '../../src/hub/sas';
import { rawRequest } from '../helpers/hubHttp';
import { serviceOracle, type ServiceOracle } from '../helpers/hubOracle';
import { API, end, nextMessage, subscribe } from './support';
import { connectPacket, packet, subscribePacket, type WirePacket } from '../helpers/mqttWire';
import { RawMqtt } from '../helpers/RawMqtt';
import { until } from '../helpers/until';

/** PUBACK of a packet id. */
function pubackPacket(id: number): Buffer {
  return packet(0x40, Buffer.from([id >> 8, id & 0xff]));
}

/** The packet id of a QoS 1 PUBLISH read back from the hub. */
function packetIdOf(p: WirePacket): number {
  return p.body.readUInt16BE(2 + p.body.readUInt16BE(0));
}

const root = path.resolve(__dirname, '..', '..');

interface Summary {
  hostName: string;
  httpsPort: number;
  caCertPath: string;
  serviceConnectionString: string;
  stateDir: string | null;
  modules: Array<{
    deviceId: string;
    moduleId: string;
    connectionString: string;
    edgeEnvironment?: Record<string, string>;
  }>;
}

/** A port that was free a moment ago (the hub is restarted on it). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function keyOf(connectionString: string): string {
  return /SharedAccessKey=([^;]+)/.exec(connectionString)![1]!;
}

describe('hub state directory (kill -9 and restart of the CLI hub)', function () {
  let dir: string;
  const children = new Set<ChildProcessWithoutNullStreams>();
  const clients = new Set<MqttClient>();
  const raws = new Set<RawMqtt>();
  let service: ServiceOracle | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-state-'));
  });

  afterEach(async () => {
    for (const c of clients) await end(c);
    clients.clear();
    for (const r of raws) await r.close();
    raws.clear();
    await service?.close();
    service = undefined;
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }
    children.clear();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the CLI hub and resolves with its first stdout line; `XDG_DATA_HOME` points into the test's directory. */
  async function startCli(
    args: string[],
    nodeArgs: string[] = [],
  ): Promise<{ child: ChildProcessWithoutNullStreams; summary: Summary; stderr: () => string }> {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', ...nodeArgs, 'src/hub/cli.ts', ...args], {
      cwd: root,
      stdio: 'pipe',
      env: { ...process.env, XDG_DATA_HOME: path.join(dir, 'data') },
    });
    children.add(child);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const lines = readline.createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the hub exited with ${code} before its first line: ${stderr}`)));
    });
    // Keep reading so that the hub never blocks on a full pipe.
    child.stdout.resume();
    return { child, summary: JSON.parse(first) as Summary, stderr: () => stderr };
  }

  /**
   * Starts the CLI hub on a state directory with modules `dev/mod` and `dev/src`, `src`'s outputs routed to `mod`'s
   * input `in`; `extra` goes into its config file.
   */
  async function startRoutedHub(extra: Record<string, unknown> = {}): Promise<{
    port: number;
    config: string;
    stateDir: string;
    first: Awaited<ReturnType<typeof startCli>>;
    ca: string;
  }> {
    const port = await freePort();
    const config = path.join(dir, 'hub.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        ...extra,
        port,
        workloadSocketPath: false,
        devices: [{ deviceId: 'dev', modules: [{ moduleId: 'mod' }, { moduleId: 'src' }] }],
        routes: { toMod: 'FROM /messages/modules/src/outputs/* INTO BrokeredEndpoint("/modules/mod/inputs/in")' },
      }),
    );
    const stateDir = path.join(dir, 'state');
    const first = await startCli([config, '--state-dir', stateDir]);
    return { port, config, stateDir, first, ca: fs.readFileSync(first.summary.caCertPath, 'utf8') };
  }

  async function kill9(child: ChildProcessWithoutNullStreams): Promise<void> {
    const exited = once(child, 'exit', { signal: AbortSignal.timeout(10_000) });
    child.kill('SIGKILL');
    await exited;
  }

  /**
   * Connects as a module the way the Python SDK does (client id `d/m`, SAS password, MQTT 3.1.1); resolves with the
   * CONNACK.
   */
  async function connectAs(
    summary: Summary,
    ca: string,
    deviceId: string,
    moduleId: string,
    over: Partial<IClientOptions> = {},
    onMessage?: (topic: string, payload: Buffer) => void,
  ): Promise<{ client: MqttClient; connack: IConnackPacket }> {
    const m = summary.modules.find((x) => x.deviceId === deviceId && x.moduleId === moduleId)!;
    const clientId = `${deviceId}/${moduleId}`;
    const password = createSas(
      `${summary.hostName}/devices/${deviceId}/modules/${moduleId}`,
      keyOf(m.connectionString),
      3600,
    );
    const client = mqtt.connect(`mqtts://127.0.0.1:${summary.httpsPort}`, {
      clientId,
      username: `${summary.hostName}/${clientId}/?${API}`,
      password,
      protocolVersion: 4,
      clean: false,
      reconnectPeriod: 0,
      ca,
      servername: 'localhost',
      rejectUnauthorized: true,
      ...over,
    });
    clients.add(client);
    client.on('error', () => undefined);
    // Listening before the CONNACK: a restored session's messages may come in the same read.
    if (onMessage) client.on('message', onMessage);
    const [connack] = (await once(client as unknown as EventEmitter, 'connect', {
      signal: AbortSignal.timeout(10_000),
    })) as [IConnackPacket];
    return { client, connack };
  }

  /** Sends a message to the sender module's output `out` at QoS 1 and resolves once the hub acknowledged it. */
  function sendOutput(client: MqttClient, body: string): Promise<void> {
    return new Promise((resolve, reject) => {
      client.publish('devices/dev/modules/src/messages/events/%24.on=out', body, { qos: 1 }, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }

  async function disconnect(client: MqttClient): Promise<void> {
    clients.delete(client);
    await end(client);
  }

  it('after kill -9, a restarted hub on the same state directory keeps CA, keys, sessions, queued messages and twins', async function () {
    this.timeout(60_000);
    const { port, config, stateDir, first, ca } = await startRoutedHub({ hubName: 'persist-hub' });
    assert.equal(first.summary.stateDir, stateDir);
    assert.equal(first.summary.caCertPath, path.join(stateDir, 'ca.pem'));

    // The module subscribes once, as the Python SDK does at its first connect, and reports a property.
    const mod = await connectAs(first.summary, ca, 'dev', 'mod');
    assert.equal(mod.connack.sessionPresent, false);
    assert.deepEqual(
      await subscribe(mod.client, [
        '$iothub/methods/POST/#',
        '$iothub/twin/PATCH/properties/desired/#',
        'devices/dev/modules/mod/inputs/#',
        '$iothub/twin/res/#',
      ]),
      [1, 1, 1, 1],
    );
    const reported = nextMessage(mod.client, (t) => t.startsWith('$iothub/twin/res/'));
    mod.client.publish('$iothub/twin/PATCH/properties/reported/?$rid=1', JSON.stringify({ firmware: '1.0' }), {
      qos: 0,
    });
    assert.match((await reported).topic, /^\$iothub\/twin\/res\/204\/\?\$rid=1&\$version=2$/);
    await disconnect(mod.client);

    // While the module is away, two messages are routed to its input; the hub acknowledges both.
    const src = await connectAs(first.summary, ca, 'dev', 'src', { clean: true });
    await sendOutput(src.client, 'queued 1');
    await sendOutput(src.client, 'queued 2');
    await disconnect(src.client);
    service = serviceOracle(first.summary.serviceConnectionString, port, ca);
    const { responseBody: before } = await service.registry.getModuleTwin('dev', 'mod');
    await service.close();
    service = undefined;

    await kill9(first.child);
    const second = await startCli([config, '--state-dir', stateDir]);
    assert.equal(second.summary.httpsPort, port);
    assert.equal(second.summary.caCertPath, first.summary.caCertPath);
    assert.equal(fs.readFileSync(second.summary.caCertPath, 'utf8'), ca, 'the same CA file');
    assert.equal(second.summary.serviceConnectionString, first.summary.serviceConnectionString);
    assert.deepEqual(
      second.summary.modules.map((m) => m.connectionString),
      first.summary.modules.map((m) => m.connectionString),
    );

    // Reconnect with the old CA and key, and subscribe to nothing: the session is there.
    const queued: string[] = [];
    const again = await connectAs(first.summary, ca, 'dev', 'mod', {}, (topic, payload) => {
      if (topic.startsWith('devices/dev/modules/mod/inputs/in/')) queued.push(payload.toString());
    });
    assert.equal(again.connack.sessionPresent, true, 'CONNACK session present');
    service = serviceOracle(second.summary.serviceConnectionString, port, ca);

    const { responseBody: after } = await service.registry.getModuleTwin('dev', 'mod');
    assert.equal(after.etag, before.etag);
    assert.equal((after as unknown as { version: number }).version, (before as unknown as { version: number }).version);
    assert.deepEqual((after.properties.reported as Record<string, unknown>).firmware, '1.0');
    assert.equal(after.properties.reported.$version, 2);

    // A direct method reaches it.
    const method = nextMessage(again.client, (t) => t.startsWith('$iothub/methods/POST/ping/'), 10_000);
    const invoked = service.client.invokeDeviceMethod('dev', 'mod', {
      methodName: 'ping',
      payload: { n: 1 },
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    const request = await method;
    const rid = /\$rid=([^&]+)/.exec(request.topic)![1]!;
    again.client.publish(`$iothub/methods/res/200/?$rid=${rid}`, JSON.stringify({ pong: true }), { qos: 0 });
    assert.deepEqual((await invoked).result, { status: 200, payload: { pong: true } });

    // A desired patch reaches it, with the twin's version going on from where it was.
    const desired = nextMessage(again.client, (t) => t.startsWith('$iothub/twin/PATCH/properties/desired/'), 10_000);
    const { responseBody: updated } = await service.registry.updateModuleTwin(
      'dev',
      'mod',
      { properties: { desired: { threshold: 7 } } },
      after.etag,
    );
    const patch = await desired;
    assert.deepEqual(JSON.parse(patch.payload.toString()), { threshold: 7, $version: 2 });
    assert.match(patch.topic, /\?\$version=2$/);
    assert.equal(
      (updated as unknown as { version: number }).version,
      (after as unknown as { version: number }).version + 1,
    );
    assert.notEqual(updated.etag, after.etag);

    // The messages queued before the crash arrive, then a newly routed one.
    const src2 = await connectAs(second.summary, ca, 'dev', 'src', { clean: true });
    await sendOutput(src2.client, 'after restart');
    await until(() => queued.length >= 3, 'three input messages');
    assert.deepEqual(queued, ['queued 1', 'queued 2', 'after restart']);
  });

  it('under load, every message the hub acknowledged reaches the module: before the kill -9, or after the restart in order', async function () {
    this.timeout(60_000);
    const { port, config, stateDir, first, ca } = await startRoutedHub();
    // The module is online: it acknowledges the first half as they come and never the second half, so its session
    // queue changes (packet ids given, entries removed) while the hub writes its batches. Raw MQTT: mqtt.js
    // acknowledges every QoS 1 message of an MQTT 3.1.1 connection itself.
    const count = 1000;
    const before: number[] = [];
    const m = first.summary.modules.find((x) => x.moduleId === 'mod')!;
    const raw = await RawMqtt.open(port, ca);
    raws.add(raw);
    const password = createSas(`${first.summary.hostName}/devices/dev/modules/mod`, keyOf(m.connectionString), 3600);
    raw.write(connectPacket('dev/mod', `${first.summary.hostName}/dev/mod/?${API}`, password));
    await raw.next((p) => p.type === 2, 'CONNACK');
    raw.write(subscribePacket('devices/dev/modules/mod/inputs/#', 1, 1));
    await raw.next((p) => p.type === 9, 'SUBACK');
    let read = 0;
    raw.socket.on('packets', () => {
      for (; read < raw.packets.length; read += 1) {
        const p = raw.packets[read]!;
        if (p.type !== 3) continue;
        const n = Number(p.payload!.toString());
        before.push(n);
        if (n < count / 2) raw.write(pubackPacket(packetIdOf(p)));
      }
    });
    const src = await connectAs(first.summary, ca, 'dev', 'src', { clean: true });
    await Promise.all(Array.from({ length: count }, (_, i) => sendOutput(src.client, String(i))));
    // Every one acknowledged to the sender: the hub is killed at once.
    await kill9(first.child);
    await disconnect(src.client);

    const after: number[] = [];
    await startCli([config, '--state-dir', stateDir]);
    const again = await connectAs(first.summary, ca, 'dev', 'mod', {}, (topic, payload) => {
      if (topic.startsWith('devices/dev/modules/mod/inputs/in/')) after.push(Number(payload.toString()));
    });
    assert.equal(again.connack.sessionPresent, true);
    const missing = (): number[] => {
      const seen = new Set([...before.filter((n) => n < count / 2), ...after]);
      return Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    };
    await until(() => missing().length === 0, `all ${count} acknowledged messages at the module`);
    assert.deepEqual(
      after,
      [...after].sort((a, b) => a - b),
      'redelivered in the order routed',
    );
    const unacknowledged = Array.from({ length: count / 2 }, (_, i) => count / 2 + i);
    assert.deepEqual(
      unacknowledged.filter((i) => !after.includes(i)),
      [],
      'every message the module had not acknowledged comes again',
    );
  });

  it('keeps messages held for a module that never subscribed, and changes made over HTTP, across kill -9', async function () {
    this.timeout(60_000);
    const stateDir = path.join(dir, 'state');
    const config = path.join(dir, 'hub.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        workloadSocketPath: false,
        devices: [{ deviceId: 'dev', modules: [{ moduleId: 'src' }] }],
        routes: { toNew: 'FROM /messages/modules/src/outputs/* INTO BrokeredEndpoint("/modules/late/inputs/in")' },
      }),
    );
    const first = await startCli([config, '--state-dir', stateDir]);
    const ca = fs.readFileSync(first.summary.caCertPath, 'utf8');
    service = serviceOracle(first.summary.serviceConnectionString, first.summary.httpsPort, ca);
    // A module added through the service API, with keys the hub made: its answer means it is kept.
    const created = (await service.registry.addModule({ deviceId: 'dev', moduleId: 'late' })).responseBody as {
      authentication?: { symmetricKey?: { primaryKey?: string } };
    };
    const lateKey = created.authentication!.symmetricKey!.primaryKey!;
    await service.close();
    service = undefined;
    const src = await connectAs(first.summary, ca, 'dev', 'src', { clean: true });
    await sendOutput(src.client, 'held for late');
    await disconnect(src.client);
    await kill9(first.child);

    const second = await startCli([config, '--state-dir', stateDir]);
    const late = { deviceId: 'dev', moduleId: 'late', connectionString: `SharedAccessKey=${lateKey}` };
    const { client, connack } = await connectAs({ ...second.summary, modules: [late] }, ca, 'dev', 'late');
    assert.equal(connack.sessionPresent, false);
    const arrived = nextMessage(client, (t) => t.startsWith('devices/dev/modules/late/inputs/in/'), 10_000);
    await subscribe(client, 'devices/dev/modules/late/inputs/#');
    assert.equal((await arrived).payload.toString(), 'held for late');
  });

  it("keeps each module's IoT Edge environment across kill -9: the module goes on signing through the same socket", async function () {
    // A module started with the printed IoT Edge environment (the Python SDK's create_from_edge_environment) signs
    // every SAS token renewal through its workload socket; as on IoT Edge, a restarted hub serves it at the same path.
    this.timeout(60_000);
    const config = path.join(dir, 'hub.json');
    fs.writeFileSync(
      config,
      JSON.stringify({ port: await freePort(), devices: [{ deviceId: 'dev', modules: [{ moduleId: 'mod' }] }] }),
    );
    const stateDir = path.join(dir, 'state');
    const first = await startCli([config, '--state-dir', stateDir]);
    const env = first.summary.modules.find((m) => m.moduleId === 'mod')!.edgeEnvironment!;
    // Killed as soon as it printed its environment: what it printed (key, generation id) is already stored.
    await kill9(first.child);

    const second = await startCli([config, '--state-dir', stateDir]);
    assert.deepEqual(second.summary.modules.find((m) => m.moduleId === 'mod')!.edgeEnvironment, env);
    const sign = await rawRequest({
      method: 'POST',
      path: `/modules/mod/genid/${env.IOTEDGE_MODULEGENERATIONID}/sign?api-version=2019-01-30`,
      socketPath: env.IOTEDGE_WORKLOADURI!.slice('unix://'.length),
      body: { keyId: 'primary', algo: 'HMACSHA256', data: 'YWJj' },
    });
    assert.equal(sign.status, 200);
    const key = keyOf(second.summary.modules.find((m) => m.moduleId === 'mod')!.connectionString);
    assert.deepEqual(sign.json, {
      digest: createHmac('sha256', Buffer.from(key, 'base64')).update('abc').digest('base64'),
    });
    const exited = once(second.child, 'exit');
    second.child.kill('SIGTERM');
    await exited;
    assert.equal(fs.existsSync(env.IOTEDGE_WORKLOADURI!.slice('unix://'.length)), false, 'socket removed on stop');
  });

  it('--ephemeral keeps nothing: a new CA at each start, temp files removed; without flags the state is in the user data dir', async function () {
    this.timeout(60_000);
    const a = await startCli(['--ephemeral']);
    assert.equal(a.summary.stateDir, null);
    const caA = fs.readFileSync(a.summary.caCertPath, 'utf8');
    const exitA = once(a.child, 'exit');
    a.child.kill('SIGTERM');
    await exitA;
    assert.equal(fs.existsSync(a.summary.caCertPath), false, 'temp files removed');
    const b = await startCli(['--ephemeral']);
    assert.notEqual(fs.readFileSync(b.summary.caCertPath, 'utf8'), caA);
    assert.notEqual(b.summary.serviceConnectionString, a.summary.serviceConnectionString);
    await kill9(b.child);

    const c = await startCli([]);
    const expected = path.join(dir, 'data', 'azure-iot-local-hub', 'local-hub');
    assert.equal(c.summary.stateDir, expected);
    assert.equal(c.summary.caCertPath, path.join(expected, 'ca.pem'));
    // A second hub on the same state directory is refused (the first one holds it).
    const refused = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/hub/cli.ts', '--state-dir', expected], {
      cwd: root,
      stdio: 'pipe',
    });
    children.add(refused);
    let stderr = '';
    refused.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    refused.stdout.resume();
    const [code] = (await once(refused, 'exit', { signal: AbortSignal.timeout(20_000) })) as [number];
    assert.equal(code, 1);
    assert.match(stderr, /in use by another hub/);
    const exitC = once(c.child, 'exit');
    c.child.kill('SIGTERM');
    await exitC;
    assert.equal(fs.existsSync(c.summary.caCertPath), true, 'the CA stays in the state directory');
  });

  it('without classic-level installed: runs as --ephemeral and says how to install it; --state-dir is refused', async function () {
    this.timeout(60_000);
    // A pack installed without its optional peers: resolving them fails as it would there.
    const hide = path.join(dir, 'hide-state-packages.js');
    fs.writeFileSync(
      hide,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'classic-level') {
    throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
`,
    );
    const hint = /npm install classic-level\), or run the hub with --ephemeral/;
    const a = await startCli([], ['--require', hide]);
    assert.equal(a.summary.stateDir, null);
    assert.match(a.stderr(), /keeping nothing \(as --ephemeral\)/);
    assert.match(a.stderr(), hint);
    assert.equal(fs.existsSync(path.join(dir, 'data', 'azure-iot-local-hub')), false, 'no state directory made');
    const exitA = once(a.child, 'exit');
    a.child.kill('SIGTERM');
    await exitA;

    const refused = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', '--require', hide, 'src/hub/cli.ts', '--state-dir', path.join(dir, 'state')],
      { cwd: root, stdio: 'pipe' },
    );
    children.add(refused);
    let stderr = '';
    refused.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    refused.stdout.resume();
    const [code] = (await once(refused, 'exit', { signal: AbortSignal.timeout(20_000) })) as [number];
    assert.equal(code, 1);
    assert.match(stderr, hint);
  });

  it('the default state directory follows the platform and the hub name', () => {
    const home = os.homedir();
    assert.equal(
      defaultStateDir('local-hub.azure-devices.net', { XDG_DATA_HOME: '/x/data' }, 'linux'),
      path.join('/x/data', 'azure-iot-local-hub', 'local-hub'),
    );
    assert.equal(
      defaultStateDir('my-hub.azure-devices.net', {}, 'linux'),
      path.join(home, '.local', 'share', 'azure-iot-local-hub', 'my-hub'),
    );
    assert.equal(
      defaultStateDir('my-hub.azure-devices.net', { XDG_DATA_HOME: 'relative' }, 'linux'),
      path.join(home, '.local', 'share', 'azure-iot-local-hub', 'my-hub'),
    );
    assert.equal(
      defaultStateDir('hub.example.com', {}, 'darwin'),
      path.join(home, 'Library', 'Application Support', 'azure-iot-local-hub', 'hub.example.com'),
    );
  });
});

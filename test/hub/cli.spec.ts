// The `azure-iot-local-hub` CLI as a user runs it: spawn it, configure the official SDKs from its first stdout line
// alone, run a short scenario, stop it with SIGTERM; a bad configuration exits with 2 and names the field.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Message, ModuleClient } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { serviceOracle } from '../helpers/hubOracle';
import { until } from '../helpers/until';

const root = path.resolve(__dirname, '..', '..');

interface Summary {
  hostName: string;
  mqttPort: number;
  httpsPort: number;
  caCertPath: string;
  serviceConnectionString: string;
  modules: Array<{
    deviceId: string;
    moduleId: string;
    connectionString: string;
    edgeEnvironment: Record<string, string>;
  }>;
}

describe('hub cli', function () {
  let dir: string;
  let child: ChildProcessWithoutNullStreams | undefined;

  function start(args: string[]): ChildProcessWithoutNullStreams {
    // The default state directory goes into the test's own directory, never the user's.
    const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'data') };
    child = spawn(process.execPath, ['--require', 'tsx/cjs', 'src/hub/cli.ts', ...args], {
      cwd: root,
      stdio: 'pipe',
      env,
    });
    return child;
  }

  async function exitOf(proc: ChildProcessWithoutNullStreams): Promise<number | null> {
    if (proc.exitCode !== null) return proc.exitCode;
    const [code] = (await once(proc, 'exit', { signal: AbortSignal.timeout(20_000) })) as [number | null];
    return code;
  }

  function collect(stream: NodeJS.ReadableStream): { text: string } {
    const out = { text: '' };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      out.text += chunk;
    });
    return out;
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-cli-'));
  });

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    child = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints one JSON line that alone configures the official SDKs, logs events, and exits 0 on SIGTERM', async () => {
    const config = path.join(dir, 'hub.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        hubName: 'cli-hub',
        devices: [{ deviceId: 'cli-dev', modules: [{ moduleId: 'a' }, { moduleId: 'b' }] }],
        routes: { ab: 'FROM /messages/modules/a/outputs/* INTO BrokeredEndpoint("/modules/b/inputs/in")' },
      }),
    );
    const proc = start([config, '--ephemeral']);
    const stderr = collect(proc.stderr);
    const lines = readline.createInterface({ input: proc.stdout });
    const later: string[] = [];
    const firstLine = new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      proc.once('exit', (code) => reject(new Error(`cli exited with ${code} before printing: ${stderr.text}`)));
    });
    const summary = JSON.parse(await firstLine) as Summary;
    lines.on('line', (line) => later.push(line));

    assert.equal(summary.hostName, 'cli-hub.azure-devices.net');
    assert.equal(summary.mqttPort, summary.httpsPort);
    assert.deepEqual(
      summary.modules.map((m) => `${m.deviceId}/${m.moduleId}`),
      ['cli-dev/a', 'cli-dev/b'],
    );
    assert.equal(summary.modules[0]!.edgeEnvironment.IOTEDGE_MODULEID, 'a');
    const ca = fs.readFileSync(summary.caCertPath, 'utf8');

    const clients: ModuleClient[] = [];
    const service = serviceOracle(summary.serviceConnectionString, summary.httpsPort, ca);
    try {
      for (const m of summary.modules) {
        const client = ModuleClient.fromConnectionString(m.connectionString, Mqtt);
        clients.push(client);
        await client.setOptions({ ca });
        await client.open();
      }
      const [a, b] = clients as [ModuleClient, ModuleClient];
      const arrived = once(b, 'inputMessage', { signal: AbortSignal.timeout(10_000) });
      b.onMethod('ping', (_request, response) => {
        response?.send(200, { pong: true }, () => undefined);
      });
      const { responseBody: twin } = await service.registry.getModuleTwin('cli-dev', 'b');
      assert.equal((twin as unknown as { connectionState: string }).connectionState, 'Connected');
      // The connect timeout lets the hub wait for b's methods subscription. b asked for inputs first, and a broker
      // handles one client's packets in order, so once the method is answered the input subscription exists too.
      const result: unknown = (
        await service.client.invokeDeviceMethod('cli-dev', 'b', {
          methodName: 'ping',
          responseTimeoutInSeconds: 10,
          connectTimeoutInSeconds: 5,
        })
      ).result;
      assert.deepEqual(result, { status: 200, payload: { pong: true } });
      await a.sendOutputEvent('out', new Message('through the cli hub'));
      const [inputName, message] = (await arrived) as [string, Message];
      assert.equal(inputName, 'in');
      assert.equal((message.data as Buffer).toString(), 'through the cli hub');
    } finally {
      for (const client of clients) await client.close();
      await service.close();
    }

    await until(() => later.some((l) => l.includes('cli-dev/a')), 'an event line about module a');
    proc.kill('SIGTERM');
    assert.equal(await exitOf(proc), 0, stderr.text);
    assert.equal(fs.existsSync(summary.caCertPath), false, 'temp files removed');
  });

  it('without a config prints the default identities with gateway connection strings and IOTEDGE_* env, and exits 0 on SIGINT', async () => {
    const proc = start([]);
    const stderr = collect(proc.stderr);
    const lines = readline.createInterface({ input: proc.stdout });
    const [first] = (await once(lines, 'line', { signal: AbortSignal.timeout(20_000) })) as [string];
    const summary = JSON.parse(first) as Summary;
    const port = summary.httpsPort;
    assert.equal(summary.hostName, 'local-hub.azure-devices.net');
    assert.match(
      summary.serviceConnectionString,
      /^HostName=local-hub\.azure-devices\.net;SharedAccessKeyName=iothubowner;SharedAccessKey=[A-Za-z0-9+/]{43}=$/,
    );
    assert.deepEqual(
      summary.modules.map((m) => `${m.deviceId}/${m.moduleId}`),
      ['local-device/sensor', 'local-device/processor'],
    );
    for (const m of summary.modules) {
      assert.match(
        m.connectionString,
        new RegExp(
          `^HostName=local-hub\\.azure-devices\\.net;DeviceId=local-device;ModuleId=${m.moduleId};SharedAccessKey=[A-Za-z0-9+/]{43}=;GatewayHostName=localhost:${port}$`,
        ),
      );
      const env = m.edgeEnvironment;
      assert.deepEqual(Object.keys(env).sort(), [
        'IOTEDGE_APIVERSION',
        'IOTEDGE_AUTHSCHEME',
        'IOTEDGE_DEVICEID',
        'IOTEDGE_GATEWAYHOSTNAME',
        'IOTEDGE_IOTHUBHOSTNAME',
        'IOTEDGE_MODULEGENERATIONID',
        'IOTEDGE_MODULEID',
        'IOTEDGE_WORKLOADURI',
      ]);
      assert.deepEqual(
        [
          env.IOTEDGE_DEVICEID,
          env.IOTEDGE_MODULEID,
          env.IOTEDGE_IOTHUBHOSTNAME,
          env.IOTEDGE_GATEWAYHOSTNAME,
          env.IOTEDGE_AUTHSCHEME,
        ],
        ['local-device', m.moduleId, 'local-hub.azure-devices.net', `localhost:${port}`, 'sasToken'],
      );
      assert.match(env.IOTEDGE_WORKLOADURI!, /^unix:\/\//);
    }
    assert.ok(fs.existsSync(summary.caCertPath));
    proc.kill('SIGINT');
    assert.equal(await exitOf(proc), 0, stderr.text);
    assert.equal(summary.caCertPath, path.join(dir, 'data', 'azure-iot-local-hub', 'local-hub', 'ca.pem'));
    assert.ok(fs.existsSync(summary.caCertPath), 'the CA stays in the state directory');
  });

  it('Ctrl-C in a terminal (SIGINT to the whole process group, twice) stops it cleanly: exit 0, temp dir, workload sockets and announcement gone', async () => {
    // As `npm run hub` runs it: standard ports when free, announced to Node-RED.
    const discoveryDir = path.join(dir, 'discovery');
    const proc = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', 'src/hub/cli.ts', '--standard-ports', '--announce', '--ephemeral'],
      {
        cwd: root,
        stdio: 'pipe',
        detached: true,
        env: { ...process.env, AZURE_IOT_LOCAL_HUB_DIR: discoveryDir },
      },
    );
    child = proc;
    const stderr = collect(proc.stderr);
    const lines = readline.createInterface({ input: proc.stdout });
    const [first] = (await once(lines, 'line', { signal: AbortSignal.timeout(20_000) })) as [string];
    const summary = JSON.parse(first) as Summary & { standardPorts: boolean };
    if (summary.standardPorts) assert.deepEqual([summary.mqttPort, summary.httpsPort], [8883, 443]);
    else assert.match(stderr.text, /the standard ports are not available/);
    const tempDir = path.dirname(summary.caCertPath);
    const socket = summary.modules[0]!.edgeEnvironment.IOTEDGE_WORKLOADURI!.slice('unix://'.length);
    assert.ok(fs.existsSync(socket));
    assert.equal(fs.readdirSync(discoveryDir).length, 1, 'announced');

    const stopping = new Promise<void>((resolve) =>
      lines.on('line', (l) => l.includes('SIGINT received, stopping') && resolve()),
    );
    // The terminal signals every process of the group; `npm run` (or a second Ctrl-C) signals the hub again.
    process.kill(-proc.pid!, 'SIGINT');
    await stopping;
    process.kill(-proc.pid!, 'SIGINT');
    assert.equal(await exitOf(proc), 0, `exit code (signal ${proc.signalCode}); stderr: ${stderr.text}`);
    assert.equal(fs.existsSync(tempDir), false, 'the temp dir (CA, workload sockets) is removed');
    assert.equal(fs.existsSync(socket), false, 'the workload socket is removed');
    assert.deepEqual(fs.readdirSync(discoveryDir), [], 'the announcement is withdrawn');
  });

  it('prints usage and exits with 2 on an unknown option, 0 on --help', async () => {
    const bad = start(['--port', '1']);
    const stderr = collect(bad.stderr);
    assert.equal(await exitOf(bad), 2);
    assert.match(stderr.text, /^usage: azure-iot-local-hub/);
    const help = start(['--help']);
    const stdout = collect(help.stdout);
    assert.equal(await exitOf(help), 0);
    assert.match(stdout.text, /^usage: azure-iot-local-hub/);
  });

  const badConfigs: Array<[string, unknown, string]> = [
    [
      'an invalid module id',
      { devices: [{ deviceId: 'ok', modules: [{ moduleId: 'bad id' }] }] },
      'devices[0].modules[0].moduleId',
    ],
    ['a route that does not parse', { routes: { r1: 'FROM /messages/* INTO nowhere' } }, 'routes.r1'],
    ['a port out of range', { port: 70000 }, 'port'],
    ['an unknown field', { hubname: 'x' }, 'hubname'],
  ];
  for (const [name, config, field] of badConfigs) {
    it(`exits with 2 and names the field for ${name}`, async () => {
      const file = path.join(dir, 'bad.json');
      fs.writeFileSync(file, JSON.stringify(config));
      const proc = start([file]);
      const stderr = collect(proc.stderr);
      const stdout = collect(proc.stdout);
      assert.equal(await exitOf(proc), 2);
      assert.ok(stderr.text.includes(field), stderr.text);
      assert.equal(stdout.text, '');
    });
  }
});

// The "local hub" connection kind's helper: one shared in-process hub (reference-counted), joining a hub shared by
// `npm start` in this process, and joining a hub announced by another process through its registry REST API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IoTHubModuleClient, LocalHub, MethodResponse } from '../../src/index';
import type { LocalHubApi } from '../../src/index';
import { discoverHubs, removeDiscoveryFile, writeDiscoveryFile } from '../../nodes/shared/hubDiscovery';
import { acquireLocalHub, LocalHubConnection, localHubsClosed, localHubSettings, ownLocalHub, shareLocalHub, unshareLocalHub } from '../../nodes/shared/localHub';
import { until } from './support';

/** Connects a client with a lease's credentials, proves it is online at the hub, and shuts it down. */
async function connectOnce(cs: string, ca: string): Promise<void> {
  const client = IoTHubModuleClient.createFromConnectionString(cs, { serverVerificationCert: ca, connectionRetry: false });
  try {
    await client.connect();
    assert.equal(client.connected, true);
  } finally {
    await client.shutdown();
  }
}

describe('nodes/shared/localHub (local hub connection kind)', function () {
  this.timeout(30_000);
  let discoveryDir: string;
  const saved = { ...localHubSettings };

  beforeEach(() => {
    // A private discovery directory: a developer's running `npm start` must not change the outcome.
    discoveryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-hub-discovery-'));
    localHubSettings.discoveryDir = discoveryDir;
    localHubSettings.graceMs = 0;
  });
  afterEach(async () => {
    unshareLocalHub();
    await localHubsClosed();
    Object.assign(localHubSettings, saved);
    fs.rmSync(discoveryDir, { recursive: true, force: true });
  });

  it('starts ONE in-process hub for every lease and closes it when the last lease is released', async () => {
    const a = await acquireLocalHub('dev-a', 'mod-1');
    const b = await acquireLocalHub('dev-a', 'mod-2');
    assert.equal(a.source, 'in-process');
    assert.equal(b.source, 'in-process');
    assert.equal(a.ca, b.ca, 'both leases share the same hub');
    const hub = await ownLocalHub();
    assert.ok(hub);
    assert.deepEqual(hub.listModules().map((m) => m.moduleId).sort(), ['mod-1', 'mod-2']);
    assert.match(a.connectionString, /DeviceId=dev-a;ModuleId=mod-1;SharedAccessKey=[^;]+;GatewayHostName=localhost:\d+$/);
    await connectOnce(a.connectionString, a.ca);
    await a.release();
    await a.release();
    assert.equal(await ownLocalHub(), hub, 'still open while a lease remains');
    await b.release();
    assert.equal(await ownLocalHub(), undefined);
    await localHubsClosed();
  });

  it('keeps the hub over a redeploy within the grace period', async () => {
    localHubSettings.graceMs = 60_000;
    const first = await acquireLocalHub('dev-g', 'mod');
    await first.release();
    const second = await acquireLocalHub('dev-g', 'mod');
    assert.equal(second.connectionString, first.connectionString, 'same hub, same keys');
    await second.release();
  });

  it('adds each lease\'s routes (default: the module\'s outputs upstream) and removes them on release', async () => {
    const receiver = await acquireLocalHub('dev-r', 'receiver');
    const sender = await acquireLocalHub('dev-r', 'sender', {
      routes: ['# a comment line', 'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")'],
    });
    assert.deepEqual(Object.values(receiver.routes), ['FROM /messages/modules/receiver/* INTO $upstream']);
    assert.deepEqual(Object.values(sender.routes), ['FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")']);
    const hub = (await ownLocalHub())!;
    const routed: string[] = [];
    hub.events.on('routed', (e) => routed.push(`${e.target}:${e.inputName}`));
    const client = IoTHubModuleClient.createFromConnectionString(sender.connectionString, { serverVerificationCert: sender.ca, connectionRetry: false });
    try {
      await client.connect();
      await client.sendMessageToOutput('hello', 'out');
      await until(() => routed.length === 1, 10_000, 'routed message');
      assert.deepEqual(routed, ['dev-r/receiver:in']);
    } finally {
      await client.shutdown();
    }
    await assert.rejects(acquireLocalHub('dev-r', 'bad', { routes: ['FROM nowhere'] }));
    await sender.release();
    await receiver.release();
  });

  it('joins the hub that npm start shares in this process, leaving it open on release', async () => {
    const hub = await LocalHub.start({ routes: { all: 'FROM /messages/* INTO $upstream' } });
    try {
      shareLocalHub(hub, { all: 'FROM /messages/* INTO $upstream' });
      const lease = await acquireLocalHub('dev-s', 'mod');
      assert.equal(lease.source, 'shared');
      assert.equal(lease.ca, hub.caCert);
      assert.ok(hub.getModule('dev-s', 'mod'));
      await connectOnce(lease.connectionString, lease.ca);
      await lease.release();
      assert.equal(await ownLocalHub(), undefined, 'no second hub was started');
    } finally {
      unshareLocalHub();
      await hub.close();
    }
  });

  it('joins a hub announced by another live process through its registry REST API', async () => {
    const hub = await LocalHub.start({});
    try {
      const file = writeDiscoveryFile(hub, discoveryDir);
      assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600', 'the file holds the service key');
      // Announce it as another live process's hub (this process's own announcements are skipped).
      const announced = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(file, JSON.stringify({ ...announced, pid: process.ppid }));
      assert.equal(discoverHubs(discoveryDir).length, 1);
      const lease = await acquireLocalHub('dev-remote', 'mod-remote');
      assert.equal(lease.source, 'remote');
      assert.equal(lease.ca, hub.caCert);
      assert.ok(hub.getModule('dev-remote', 'mod-remote'), 'module provisioned through PUT /devices/{d}/modules/{m}');
      await connectOnce(lease.connectionString, lease.ca);
      const again = await acquireLocalHub('dev-remote', 'mod-remote');
      assert.equal(again.connectionString, lease.connectionString, 'an existing module is reused');
      await lease.release();
      await again.release();
      assert.equal(await ownLocalHub(), undefined);
      removeDiscoveryFile(file);
      assert.equal(discoverHubs(discoveryDir).length, 0);
    } finally {
      await hub.close();
    }
  });

  it('LocalHubConnection: clients come from the IoT Edge environment, so one module can invoke another', async () => {
    const caller = new LocalHubConnection('dev-c', 'caller', '');
    const target = new LocalHubConnection('dev-c', 'target', '# no routes: outputs go upstream\n');
    const a = await caller.createClient({ connectionRetry: false, serverVerificationCert: 'ignored', operationTimeout: 10 });
    const b = await target.createClient({ connectionRetry: false });
    try {
      b.onMethodRequestReceived = (request) => b.sendMethodResponse(MethodResponse.createFromMethodRequest(request, 200, { pong: request.payload }));
      await b.connect();
      await a.connect();
      const result = await a.invokeMethod({ methodName: 'ping', payload: 7, responseTimeoutInSeconds: 10 }, 'dev-c', 'target');
      assert.deepEqual(result, { status: 200, payload: { pong: 7 } });
      assert.equal((await caller.acquire()).edgeEnvironment.IOTEDGE_MODULEID, 'caller');
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
    await caller.release();
    await caller.release();
    await assert.rejects(caller.acquire(), /closed/);
    assert.ok(await ownLocalHub(), 'the target still holds the hub');
    await target.release();
    assert.equal(await ownLocalHub(), undefined);
  });

  it('`npm run hub` (scripts/hub.js) prints the CLI\'s JSON line first, announces the hub, and withdraws it on Ctrl-C', async function () {
    const script = path.resolve(__dirname, '..', '..', 'scripts', 'hub.js');
    const child = spawn(process.execPath, [script, '--ephemeral'], { env: { ...process.env, AZURE_IOT_LOCAL_HUB_DIR: discoveryDir }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = once(child, 'exit');
    try {
      await until(() => discoverHubs(discoveryDir).length === 1, 20_000, 'the announcement');
      const first = JSON.parse(out.split('\n')[0]!) as { httpsPort: number };
      assert.equal(discoverHubs(discoveryDir)[0]!.port, first.httpsPort);
      const lease = await acquireLocalHub('dev-cli', 'mod-cli');
      assert.equal(lease.source, 'remote');
      assert.match(lease.edgeEnvironment.IOTEDGE_WORKLOADURI, /^unix:\/\//);
      await connectOnce(lease.connectionString, lease.ca);
      await lease.release();
    } finally {
      child.kill('SIGINT');
      await exited;
    }
    assert.deepEqual(fs.readdirSync(discoveryDir), [], 'the announcement is removed');
  });

  it('ignores announcements of processes that are gone', async () => {
    fs.writeFileSync(path.join(discoveryDir, '1.json'), JSON.stringify({ pid: 2 ** 22 + 12345, port: 1, hostName: 'x', caCertPath: __filename, serviceConnectionString: '', startedAt: '' }));
    fs.writeFileSync(path.join(discoveryDir, '2.json'), '{ not json');
    assert.deepEqual(discoverHubs(discoveryDir), []);
  });
});

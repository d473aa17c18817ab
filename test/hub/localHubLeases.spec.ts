// Leases of module identities on a development local hub: one shared in-process hub (reference-counted), joining a
// hub shared by `npm start` in this process, and joining a hub announced by another process (the CLI's --announce)
// through its registry REST API.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { IoTHubModuleClient, LocalHub } from '../../src/index';
import type { AnnouncedHub, LocalHubApi, RoutedHub } from '../../src/index';
import { addLeaseRoutes, removeLeaseRoutes, routesFor, startRouteBook } from '../../src/hub/leaseRoutes';
import {
  acquireLocalHub,
  discoverHubs,
  startPreferringStandardPorts,
  localHubsClosed,
  localHubSettings,
  ownLocalHub,
  removeDiscoveryFile,
  shareLocalHub,
  unshareLocalHub,
  writeDiscoveryFile,
} from '../../src/hub';
import { until } from '../helpers/until';
import { usePrivateDiscoveryDir } from '../helpers/localHubDiscovery';

/** Connects a client with a lease's credentials, proves it is online at the hub, and shuts it down. */
async function connectOnce(cs: string, ca: string): Promise<void> {
  const client = IoTHubModuleClient.createFromConnectionString(cs, {
    serverVerificationCert: ca,
    connectionRetry: false,
  });
  try {
    await client.connect();
    assert.equal(client.connected, true);
  } finally {
    await client.shutdown();
  }
}

describe('local hub leases and discovery', function () {
  this.timeout(30_000);
  const discovery = usePrivateDiscoveryDir();

  it('starts ONE in-process hub for every lease and closes it when the last lease is released', async () => {
    const a = await acquireLocalHub('dev-a', 'mod-1');
    const b = await acquireLocalHub('dev-a', 'mod-2');
    assert.equal(a.source, 'in-process');
    assert.equal(b.source, 'in-process');
    assert.equal(a.ca, b.ca, 'both leases share the same hub');
    const hub = await ownLocalHub();
    assert.ok(hub);
    assert.deepEqual(
      hub
        .listModules()
        .map((m) => m.moduleId)
        .sort(),
      ['mod-1', 'mod-2'],
    );
    assert.match(
      a.connectionString,
      /DeviceId=dev-a;ModuleId=mod-1;SharedAccessKey=[^;]+;GatewayHostName=localhost:\d+$/,
    );
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

  it("adds each lease's routes (default: the module's outputs upstream) and removes them on release", async () => {
    const receiver = await acquireLocalHub('dev-r', 'receiver');
    const sender = await acquireLocalHub('dev-r', 'sender', {
      routes: [
        '# a comment line',
        'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")',
      ],
    });
    assert.deepEqual(Object.values(receiver.routes), ['FROM /messages/modules/receiver/* INTO $upstream']);
    assert.deepEqual(Object.values(sender.routes), [
      'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")',
    ]);
    const hub = (await ownLocalHub())!;
    const routed: string[] = [];
    hub.events.on('routed', (e) => routed.push(`${e.target}:${e.inputName}`));
    const client = IoTHubModuleClient.createFromConnectionString(sender.connectionString, {
      serverVerificationCert: sender.ca,
      connectionRetry: false,
    });
    try {
      await client.connect();
      await client.sendMessageToOutput('hello', 'out');
      await until(() => routed.length === 1, 'routed message', 10_000);
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

  // These fakes hold only what each helper takes of a hub, so this compiles (npm run typecheck) only while the route
  // book asks for no more than setRoutes and the discovery file for no more than what it announces.
  it('the route book and the discovery file take only the part of a hub they use', () => {
    const sets: Array<Record<string, string>> = [];
    const routed: RoutedHub = { setRoutes: (routes) => void sets.push(routes) };
    const base = { all: 'FROM /messages/* INTO $upstream' };
    startRouteBook(routed, base);
    addLeaseRoutes(routed, 7, routesFor('mod', undefined, 7));
    removeLeaseRoutes(routed, 7);
    assert.deepEqual(sets, [{ ...base, lease7_1: 'FROM /messages/modules/mod/* INTO $upstream' }, base]);

    const caCertPath = path.join(discovery.dir, 'ca.pem');
    fs.writeFileSync(caCertPath, 'not a real CA');
    const announced: AnnouncedHub = {
      hostName: 'local-hub.test',
      port: 4242,
      standardPorts: false,
      caCertPath,
      serviceConnectionString: 'HostName=local-hub.test;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5',
    };
    const file = writeDiscoveryFile(announced, discovery.dir);
    const written = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const expected = { ...announced, pid: process.pid, workloadUri: '', startedAt: undefined };
    assert.deepEqual({ ...written, startedAt: undefined }, expected);
    removeDiscoveryFile(file);
  });

  const announcedHubs: Array<[string, () => Promise<LocalHubApi>]> = [
    ['on one port', () => LocalHub.start({})],
    [
      'on the standard ports when free (bare GatewayHostName)',
      async () => (await startPreferringStandardPorts({})).hub,
    ],
  ];
  for (const [where, startHub] of announcedHubs)
    it(`joins a hub announced by another live process through its registry REST API (${where})`, async () => {
      const hub = await startHub();
      try {
        const file = writeDiscoveryFile(hub, discovery.dir);
        assert.equal((fs.statSync(file).mode & 0o777).toString(8), '600', 'the file holds the service key');
        // Announce it as another live process's hub (this process's own announcements are skipped).
        const announced = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
        fs.writeFileSync(file, JSON.stringify({ ...announced, pid: process.ppid }));
        assert.equal(discoverHubs(discovery.dir).length, 1);
        const lease = await acquireLocalHub('dev-remote', 'mod-remote');
        assert.equal(lease.source, 'remote');
        assert.equal(lease.ca, hub.caCert);
        assert.ok(hub.getModule('dev-remote', 'mod-remote'), 'module provisioned through PUT /devices/{d}/modules/{m}');
        // The same gateway naming and the module's own workload socket, as the hub itself gives them.
        assert.equal(lease.connectionString, hub.getModule('dev-remote', 'mod-remote')!.connectionString);
        assert.deepEqual(lease.edgeEnvironment, hub.edgeEnvironment('dev-remote', 'mod-remote'));
        await connectOnce(lease.connectionString, lease.ca);
        const again = await acquireLocalHub('dev-remote', 'mod-remote');
        assert.equal(again.connectionString, lease.connectionString, 'an existing module is reused');
        await lease.release();
        await again.release();
        assert.equal(await ownLocalHub(), undefined);
        removeDiscoveryFile(file);
        assert.equal(discoverHubs(discovery.dir).length, 0);
      } finally {
        await hub.close();
      }
    });

  it('the CLI with --announce (`npm run hub`) prints its JSON line first, announces the hub, and withdraws it on Ctrl-C', async function () {
    const cli = path.resolve(__dirname, '..', '..', 'dist', 'src', 'hub', 'cli.js');
    const child = spawn(process.execPath, [cli, '--announce', '--ephemeral'], {
      env: { ...process.env, AZURE_IOT_LOCAL_HUB_DIR: discovery.dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = once(child, 'exit');
    try {
      // The announcement is written before the JSON line: once the line is out, the hub can be joined.
      await until(() => out.includes('\n'), 'the JSON line', 20_000);
      assert.equal(discoverHubs(discovery.dir).length, 1, 'announced');
      const first = JSON.parse(out.split('\n')[0]!) as { httpsPort: number };
      const announced = discoverHubs(discovery.dir)[0]!;
      assert.equal(announced.port, first.httpsPort);
      assert.equal(announced.pid, child.pid, 'the CLI announces its own process');
      const lease = await acquireLocalHub('dev-cli', 'mod-cli');
      assert.equal(lease.source, 'remote');
      assert.match(lease.edgeEnvironment.IOTEDGE_WORKLOADURI, /^unix:\/\//);
      await connectOnce(lease.connectionString, lease.ca);
      await lease.release();
    } finally {
      child.kill('SIGINT');
      await exited;
    }
    assert.deepEqual(fs.readdirSync(discovery.dir), [], 'the announcement is removed');
  });

  it('ignores announcements of processes that are gone', async () => {
    fs.writeFileSync(
      path.join(discovery.dir, '1.json'),
      JSON.stringify({
        pid: 2 ** 22 + 12345,
        port: 1,
        hostName: 'x',
        caCertPath: __filename,
        serviceConnectionString: '',
        startedAt: '',
      }),
    );
    fs.writeFileSync(path.join(discovery.dir, '2.json'), '{ not json');
    assert.deepEqual(discoverHubs(discovery.dir), []);
  });
});

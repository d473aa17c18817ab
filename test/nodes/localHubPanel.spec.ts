// The editor plugin's admin endpoints (the "Local hub" sidebar tab): permissions, state of a hub in this process or
// in another one, desired-property edits and method calls, and the errors a user can cause.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IoTHubModuleClient, LocalHub, MethodResponse } from '../../src/index';
import type { LocalHubApi } from '../../src/index';
import { localHubsClosed, localHubSettings, shareLocalHub, unshareLocalHub, writeDiscoveryFile } from '../../src/hub';
import register from '../../nodes/iothub-local-hub-panel';
import { until } from '../helpers/until';

type Handler = (req: { params: Record<string, string>; body?: unknown }, res: FakeResponse) => void;
interface Route {
  permission: string;
  handler: Handler;
}
interface FakeResponse {
  status(code: number): FakeResponse;
  json(body: unknown): void;
}

/** Registers the plugin against a stand-in RED and returns its routes, keyed `METHOD path`. */
function plugin(): { routes: Map<string, Route>; registered: string[] } {
  const routes = new Map<string, Route>();
  const registered: string[] = [];
  const add =
    (method: string) =>
    (p: string, auth: unknown, handler: Handler): void =>
      void routes.set(`${method} ${p}`, { permission: (auth as { permission: string }).permission, handler });
  register({
    plugins: { registerPlugin: (id: string) => void registered.push(id) },
    httpAdmin: { get: add('GET'), put: add('PUT'), post: add('POST') },
    auth: { needsPermission: (permission: string) => Object.assign(() => undefined, { permission }) },
  });
  return { routes, registered };
}

/** Calls a route and resolves with the status and JSON body it answered. */
function call(
  routes: Map<string, Route>,
  key: string,
  params: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const route = routes.get(key);
  assert.ok(route, `no route ${key}`);
  return new Promise((resolve) => {
    let status = 200;
    const res: FakeResponse = {
      status(code) {
        status = code;
        return res;
      },
      json(b) {
        resolve({ status, body: b as Record<string, unknown> });
      },
    };
    route.handler({ params, body }, res);
  });
}

describe('iothub-local-hub-panel (admin endpoints of the Local hub sidebar tab)', function () {
  this.timeout(30_000);
  const saved = { ...localHubSettings };
  let dir: string;
  let routes: Map<string, Route>;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'panel-discovery-'));
    localHubSettings.discoveryDir = dir;
    localHubSettings.graceMs = 0;
    routes = plugin().routes;
  });
  afterEach(async () => {
    unshareLocalHub();
    await localHubsClosed();
    Object.assign(localHubSettings, saved);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('registers the plugin and its endpoints behind read / write permissions', () => {
    const { routes: r, registered } = plugin();
    assert.deepEqual(registered, ['iothub-local-hub-panel']);
    assert.deepEqual([...r.entries()].map(([k, v]) => `${k} ${v.permission}`).sort(), [
      'GET /iothub-local-hub/connection-default iothub-local-hub.read',
      'GET /iothub-local-hub/state iothub-local-hub.read',
      'POST /iothub-local-hub/convert-edge-module flows.write',
      'POST /iothub-local-hub/modules/:deviceId/:moduleId/methods iothub-local-hub.write',
      'PUT /iothub-local-hub/modules/:deviceId/:moduleId/desired iothub-local-hub.write',
    ]);
  });

  it('suggests the connection kind of a new config node from where Node-RED runs', async () => {
    const saved = Object.fromEntries(
      Object.keys(process.env)
        .filter((k) => k.startsWith('IOTEDGE_'))
        .map((k) => [k, process.env[k]]),
    );
    for (const k of Object.keys(saved)) delete process.env[k];
    const hub = await LocalHub.start({ devices: [{ deviceId: 'dev', modules: [{ moduleId: 'nodered' }] }] });
    try {
      const kind = async (): Promise<unknown> =>
        (await call(routes, 'GET /iothub-local-hub/connection-default')).body.connectionType;
      assert.equal(await kind(), 'connectionString');
      Object.assign(process.env, hub.edgeEnvironment('dev', 'nodered'));
      assert.equal(await kind(), 'edge');
      // npm start: its hub is shared in this process and the IOTEDGE_* variables are its demo module's.
      shareLocalHub(hub, {});
      assert.equal(await kind(), 'localHub');
      unshareLocalHub();
      for (const k of Object.keys(process.env).filter((k) => k.startsWith('IOTEDGE_'))) delete process.env[k];
      // A hub announced by another live process (this test's parent stands in for `npm run hub`).
      const announcement = {
        pid: process.ppid,
        port: hub.port,
        hostName: hub.hostName,
        caCertPath: hub.caCertPath,
        serviceConnectionString: '',
        workloadUri: '',
        startedAt: new Date().toISOString(),
      };
      fs.writeFileSync(path.join(dir, `${hub.port}.json`), JSON.stringify(announcement));
      assert.equal(await kind(), 'localHub');
    } finally {
      for (const k of Object.keys(process.env).filter((k) => k.startsWith('IOTEDGE_'))) delete process.env[k];
      Object.assign(process.env, saved);
      await hub.close();
    }
  });

  it('converts posted nodes of the archived edge-module pack; anything but a flow is a 400', async () => {
    const answer = await call(
      routes,
      'POST /iothub-local-hub/convert-edge-module',
      {},
      {
        nodes: [
          { id: 'c', type: 'edgeclient' },
          { id: 'i', type: 'moduleinput', client: 'c', input: 'in1', x: 10, y: 20, wires: [[]] },
        ],
      },
    );
    assert.equal(answer.status, 200);
    assert.deepEqual(
      (answer.body.nodes as Array<{ type: string }>).map((n) => n.type),
      ['iothub-module-client', 'iothub-module-input'],
    );
    assert.deepEqual(answer.body.unmapped, []);
    for (const body of [undefined, {}, { nodes: {} }, { nodes: [{ id: 1, type: 'x' }] }]) {
      const bad = await call(routes, 'POST /iothub-local-hub/convert-edge-module', {}, body);
      assert.equal(bad.status, 400, JSON.stringify(body));
    }
  });

  it('says when no local hub runs', async () => {
    assert.deepEqual((await call(routes, 'GET /iothub-local-hub/state')).body, {
      source: 'none',
      modules: [],
      messages: [],
    });
    assert.equal(
      (
        await call(
          routes,
          'PUT /iothub-local-hub/modules/:deviceId/:moduleId/desired',
          { deviceId: 'd', moduleId: 'm' },
          { a: 1 },
        )
      ).status,
      404,
    );
  });

  describe('with the hub npm start shares', () => {
    let hub: LocalHubApi;
    let client: IoTHubModuleClient;
    before(async () => {
      hub = await LocalHub.start({});
    });
    after(() => hub.close());
    beforeEach(async () => {
      shareLocalHub(hub, {});
      const mod = hub.addModule('dev', 'mod');
      client = IoTHubModuleClient.createFromConnectionString(mod.connectionString, {
        serverVerificationCert: hub.caCert,
        connectionRetry: false,
      });
      client.onMethodRequestReceived = (r) =>
        client.sendMethodResponse(MethodResponse.createFromMethodRequest(r, 201, { echo: r.payload }));
      await client.connect();
    });
    afterEach(() => client.shutdown());

    it('lists modules with their twins and the last upstream messages, newest first', async () => {
      await client.sendMessage('first');
      await client.sendMessageToOutput('second', 'out');
      await until(() => hub.observed.upstream.length >= 2, 'two upstream messages', 10_000);
      const { body } = await call(routes, 'GET /iothub-local-hub/state');
      assert.equal(body.source, 'shared');
      assert.equal(body.port, hub.port);
      const modules = body.modules as Array<{ deviceId: string; moduleId: string; connected: boolean }>;
      assert.ok(modules.some((m) => m.deviceId === 'dev' && m.moduleId === 'mod' && m.connected));
      const messages = body.messages as Array<{ body: string; outputName?: string; moduleId?: string }>;
      assert.deepEqual(
        messages.slice(0, 2).map((m) => [m.body, m.outputName ?? '']),
        [
          ['second', 'out'],
          ['first', ''],
        ],
      );
    });

    it("updates desired properties and invokes methods; bad input is a 400, an offline module the hub's 404", async () => {
      const desired = await call(
        routes,
        'PUT /iothub-local-hub/modules/:deviceId/:moduleId/desired',
        { deviceId: 'dev', moduleId: 'mod' },
        { interval: 5 },
      );
      assert.equal(desired.status, 200);
      assert.equal(hub.getTwin('dev', 'mod').properties.desired.interval, 5);
      const answer = await call(
        routes,
        'POST /iothub-local-hub/modules/:deviceId/:moduleId/methods',
        { deviceId: 'dev', moduleId: 'mod' },
        { methodName: 'ping', payload: { n: 1 } },
      );
      assert.deepEqual(answer.body, { status: 201, payload: { echo: { n: 1 } } });
      assert.equal(
        (
          await call(
            routes,
            'PUT /iothub-local-hub/modules/:deviceId/:moduleId/desired',
            { deviceId: 'dev', moduleId: 'mod' },
            [1],
          )
        ).status,
        400,
      );
      assert.equal(
        (
          await call(
            routes,
            'POST /iothub-local-hub/modules/:deviceId/:moduleId/methods',
            { deviceId: 'dev', moduleId: 'mod' },
            { payload: 1 },
          )
        ).status,
        400,
      );
      assert.equal(
        (
          await call(
            routes,
            'PUT /iothub-local-hub/modules/:deviceId/:moduleId/desired',
            { deviceId: 'dev', moduleId: 'nobody' },
            { a: 1 },
          )
        ).status,
        404,
      );
      hub.addModule('dev', 'offline');
      const offline = await call(
        routes,
        'POST /iothub-local-hub/modules/:deviceId/:moduleId/methods',
        { deviceId: 'dev', moduleId: 'offline' },
        { methodName: 'ping', responseTimeoutInSeconds: 5 },
      );
      assert.equal(offline.status, 404);
      assert.equal(offline.body.errorCode, 404103);
    });
  });

  it('shows a hub of another process through its REST API (modules, desired, methods; no messages)', async () => {
    const hub = await LocalHub.start({});
    try {
      const mod = hub.addModule('dev-r', 'mod-r');
      const file = writeDiscoveryFile(hub, dir);
      fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), pid: process.ppid }));
      const client = IoTHubModuleClient.createFromConnectionString(mod.connectionString, {
        serverVerificationCert: hub.caCert,
        connectionRetry: false,
      });
      client.onMethodRequestReceived = (r) =>
        client.sendMethodResponse(MethodResponse.createFromMethodRequest(r, 200, 'pong'));
      try {
        await client.connect();
        const { body } = await call(routes, 'GET /iothub-local-hub/state');
        assert.equal(body.source, 'remote');
        assert.deepEqual(body.messages, []);
        const modules = body.modules as Array<{ moduleId: string; connected: boolean }>;
        assert.ok(modules.some((m) => m.moduleId === 'mod-r' && m.connected));
        const desired = await call(
          routes,
          'PUT /iothub-local-hub/modules/:deviceId/:moduleId/desired',
          { deviceId: 'dev-r', moduleId: 'mod-r' },
          { mode: 'eco' },
        );
        assert.equal(desired.status, 200);
        assert.equal(hub.getTwin('dev-r', 'mod-r').properties.desired.mode, 'eco');
        const answer = await call(
          routes,
          'POST /iothub-local-hub/modules/:deviceId/:moduleId/methods',
          { deviceId: 'dev-r', moduleId: 'mod-r' },
          { methodName: 'ping' },
        );
        assert.deepEqual(answer.body, { status: 200, payload: 'pong' });
      } finally {
        await client.shutdown();
      }
    } finally {
      await hub.close();
    }
  });
});

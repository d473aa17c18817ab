// IoTHubModuleClient.createFromEdgeEnvironment against the local hub: container mode (workload API) and debug
// mode, then module-to-module invokeMethod between two such clients.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IoTHubModuleClient } from '../../src/client/IoTHubModuleClient';
import { MethodResponse } from '../../src/client/models/MethodResponse';
import { ClientError, ConnectionFailedError, ValueError } from '../../src/client/errors';
import { LocalHub, type ModuleIdentity } from '../../src/hub';
import type { HubEvents } from '../../src/hub/types';
import { startProxy } from '../helpers/proxies';

const DEVICE = 'edge-device';

describe('IoTHubModuleClient.createFromEdgeEnvironment with the local hub', function () {
  this.timeout(30000);
  let hub: LocalHub;
  let caller: ModuleIdentity;
  let target: ModuleIdentity;
  const clients: IoTHubModuleClient[] = [];
  const track = (c: IoTHubModuleClient): IoTHubModuleClient => {
    clients.push(c);
    return c;
  };

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-client-'));
  const hubPemlessFile = (): string => {
    const file = path.join(scratch, 'not-a-ca.pem');
    fs.writeFileSync(file, 'just text\n');
    return file;
  };

  before(async () => {
    hub = await LocalHub.start();
    caller = hub.addModule(DEVICE, 'caller');
    target = hub.addModule(DEVICE, 'target');
  });
  after(async () => {
    await hub.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown();
  });

  /** A target module client that answers every method with 200 and the request echoed back. */
  async function answeringTarget(): Promise<IoTHubModuleClient> {
    const client = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, target.moduleId) }),
    );
    client.onMethodRequestReceived = async (request) => {
      await client.sendMethodResponse(
        MethodResponse.createFromMethodRequest(request, 200, { name: request.name, got: request.payload }),
      );
    };
    await client.connect();
    return client;
  }

  it('container mode: trust bundle and token from the workload API, connects to the gateway', async () => {
    const client = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, caller.moduleId) }),
    );
    await client.connect();
    assert.equal(client.connected, true);
    assert.equal(hub.isConnected(`${DEVICE}/caller`), true);
    const record = hub.observed.connects.filter((c) => c.clientId === `${DEVICE}/caller`).at(-1);
    assert.equal(record?.returnCode, 0);
    assert.match(record?.username ?? '', new RegExp(`^${hub.hostName}/${DEVICE}/caller/\\?api-version=`));
    assert.match(
      record?.password ?? '',
      /^SharedAccessSignature sr=local-hub\.azure-devices\.net%2Fdevices%2Fedge-device%2Fmodules%2Fcaller&sig=/,
    );
  });

  it("container mode: invokeMethod module to module returns the target's answer", async () => {
    await answeringTarget();
    const client = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, caller.moduleId) }),
    );
    const result = await client.invokeMethod(
      { methodName: 'ping', payload: { n: 42 }, responseTimeoutInSeconds: 10 },
      DEVICE,
      target.moduleId,
    );
    assert.deepEqual(result, { status: 200, payload: { name: 'ping', got: { n: 42 } } });
  });

  it('container mode: invokeMethod to an offline module → ClientError device-not-online (404103)', async () => {
    const client = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, caller.moduleId) }),
    );
    await assert.rejects(
      client.invokeMethod({ methodName: 'ping', responseTimeoutInSeconds: 5 }, DEVICE, 'target'),
      (err: unknown) => err instanceof ClientError && err.code === 'device-not-online' && err.errorCode === 404103,
    );
  });

  it('container mode: invokeMethod to a module that does not answer → ClientError gateway-timeout (504101)', async () => {
    const silent = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, target.moduleId) }),
    );
    silent.onMethodRequestReceived = () => undefined; // subscribed, never answers
    await silent.connect();
    const client = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, caller.moduleId) }),
    );
    await assert.rejects(
      client.invokeMethod({ methodName: 'ignored', responseTimeoutInSeconds: 5 }, DEVICE, target.moduleId),
      (err: unknown) =>
        err instanceof ClientError &&
        err.code === 'gateway-timeout' &&
        err.errorCode === 504101 &&
        err.statusCode === 504,
    );
  });

  for (const kind of ['HTTP', 'SOCKS5'] as const) {
    it(`container mode with proxyOptions (${kind}, credentials): MQTT and invokeMethod both go through the proxy`, async () => {
      await answeringTarget();
      const proxy = await startProxy(kind, { username: 'edge-user', password: 'secret' });
      try {
        const proxyOptions = proxy.options({ username: 'edge-user', password: 'secret' });
        const client = track(
          await IoTHubModuleClient.createFromEdgeEnvironment({
            env: hub.edgeEnvironment(DEVICE, caller.moduleId),
            proxyOptions,
            websockets: true,
          }),
        );
        await client.connect();
        const result = await client.invokeMethod(
          { methodName: 'via-proxy', payload: 1, responseTimeoutInSeconds: 10 },
          DEVICE,
          target.moduleId,
        );
        assert.deepEqual(result, { status: 200, payload: { name: 'via-proxy', got: 1 } });
        assert.ok(proxy.counters.tunnels >= 2, `tunnels: ${proxy.counters.tunnels}`);
        await client.shutdown();
      } finally {
        await proxy.close();
      }
    });
  }

  it('debug mode: EdgeHubConnectionString + EdgeModuleCACertificateFile, connects and invokes', async () => {
    await answeringTarget();
    const env = { EdgeHubConnectionString: caller.connectionString, EdgeModuleCACertificateFile: hub.caCertPath };
    const client = track(await IoTHubModuleClient.createFromEdgeEnvironment({ env }));
    await client.connect();
    assert.equal(client.connected, true);
    assert.deepEqual(
      await client.invokeMethod({ methodName: 'dbg', payload: null, responseTimeoutInSeconds: 10 }, DEVICE, 'target'),
      { status: 200, payload: { name: 'dbg', got: null } },
    );
  });

  it('debug mode with a CA file that is missing or holds no certificate → ValueError "Invalid CA certificate file"', async () => {
    for (const file of [path.join(scratch, 'missing', 'ca.pem'), hubPemlessFile()]) {
      const env = { EdgeHubConnectionString: caller.connectionString, EdgeModuleCACertificateFile: file };
      await assert.rejects(
        IoTHubModuleClient.createFromEdgeEnvironment({ env }),
        (err: unknown) => err instanceof ValueError && /Invalid CA certificate file/.test(err.message),
      );
    }
  });

  it('an incomplete environment → ClientError "IoT Edge environment not configured correctly"', async () => {
    const { IOTEDGE_APIVERSION: _dropped, ...env } = hub.edgeEnvironment(DEVICE, caller.moduleId);
    await assert.rejects(
      IoTHubModuleClient.createFromEdgeEnvironment({ env }),
      (err: unknown) => err instanceof ClientError && err.message === 'IoT Edge environment not configured correctly',
    );
  });

  it('a workload socket that does not exist → ConnectionFailedError', async () => {
    const env = {
      ...hub.edgeEnvironment(DEVICE, caller.moduleId),
      IOTEDGE_WORKLOADURI: 'unix:///nonexistent/dir/workload.sock',
    };
    await assert.rejects(IoTHubModuleClient.createFromEdgeEnvironment({ env }), ConnectionFailedError);
  });

  it('a stale generation id → ClientError "Unexpected failure in IoTEdge" when the first token is signed', async () => {
    const env = { ...hub.edgeEnvironment(DEVICE, caller.moduleId), IOTEDGE_MODULEGENERATIONID: 'stale' };
    await assert.rejects(
      IoTHubModuleClient.createFromEdgeEnvironment({ env }),
      (err: unknown) => err instanceof ClientError && err.message === 'Unexpected failure in IoTEdge',
    );
  });

  it('a module client from a plain connection string cannot invokeMethod (ClientError not-supported)', async () => {
    const client = track(
      IoTHubModuleClient.createFromConnectionString(caller.connectionString, {
        serverVerificationCert: hub.caCert,
        autoConnect: false,
      }),
    );
    await assert.rejects(
      client.invokeMethod({ methodName: 'x' }, DEVICE, 'target'),
      (err: unknown) => err instanceof ClientError && err.code === 'not-supported',
    );
  });

  it('the target sees the request once per call (the hub counts one method call)', async () => {
    await answeringTarget();
    const client = track(
      await IoTHubModuleClient.createFromEdgeEnvironment({ env: hub.edgeEnvironment(DEVICE, caller.moduleId) }),
    );
    const before = hub.observed.counters.methodCalls;
    const seen = once(hub.events, 'method', { signal: AbortSignal.timeout(10000) });
    await client.invokeMethod({ methodName: 'count', responseTimeoutInSeconds: 10 }, DEVICE, 'target');
    const [event] = (await seen) as HubEvents['method'];
    assert.equal(event.methodName, 'count');
    assert.equal(hub.observed.counters.methodCalls, before + 1);
  });
});

// invokeMethodOverHttp module-to-module through the local hub (edgeHub's direct-method endpoint), directly and through
// proxies, with a raw mqtt.js module answering, and with a token signed through the hub's workload API.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import mqtt from 'mqtt';
import { WorkloadClient } from '../../src/client/auth/WorkloadClient';
import { ClientError, CredentialError, OperationTimeout } from '../../src/client/errors';
import { invokeMethodOverHttp, type InvokeMethodOverHttpArgs } from '../../src/client/transport/http';
import { quote } from '../../src/client/transport/properties';
import { LocalHub, type ModuleIdentity } from '../../src/hub';
import { startProxy, type ProxyKind } from '../helpers/proxies';

const DEVICE = 'edge-device';

/** A module SAS token as IoT Hub expects it (sr, sig, se; no skn), signed by `sign`. */
async function sasToken(
  hostName: string,
  deviceId: string,
  moduleId: string,
  sign: (s: string) => string | Promise<string>,
  ttl = 3600,
): Promise<string> {
  const sr = quote(`${hostName}/devices/${deviceId}/modules/${moduleId}`);
  const se = Math.floor(Date.now() / 1000) + ttl;
  const sig = await sign(`${sr}\n${se}`);
  return `SharedAccessSignature sr=${sr}&sig=${quote(sig)}&se=${se}`;
}

const hmacSigner =
  (key: string) =>
  (s: string): string =>
    createHmac('sha256', Buffer.from(key, 'base64')).update(s, 'utf8').digest('base64');

/** A raw mqtt.js module client subscribed to direct methods; answers with `answer` unless it returns undefined. */
async function startAnsweringModule(
  hub: LocalHub,
  mod: ModuleIdentity,
  answer: (name: string, payload: unknown) => { status: number; payload: unknown } | undefined,
): Promise<mqtt.MqttClient> {
  const clientId = `${mod.deviceId}/${mod.moduleId}`;
  const client = await mqtt.connectAsync(`mqtts://localhost:${hub.port}`, {
    ca: hub.caCert,
    protocolVersion: 4,
    clean: false,
    clientId,
    username: `${hub.hostName}/${clientId}/?api-version=2019-10-01`,
    password: await sasToken(hub.hostName, mod.deviceId, mod.moduleId, hmacSigner(mod.primaryKey)),
    reconnectPeriod: 0,
    connectTimeout: 10000,
  });
  // An mqtt.js client needs an 'error' listener, or a reset kills the process.
  client.on('error', () => undefined);
  await client.subscribeAsync('$iothub/methods/POST/#', { qos: 1 });
  client.on('message', (topic, payload) => {
    const match = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (!match) return;
    const reply = answer(decodeURIComponent(match[1]!), JSON.parse(payload.toString() || 'null'));
    if (reply)
      client.publish(`$iothub/methods/res/${reply.status}/?$rid=${match[2]}`, JSON.stringify(reply.payload), {
        qos: 1,
      });
  });
  return client;
}

describe('invokeMethodOverHttp through the local hub (module to module)', function () {
  this.timeout(30000);
  let hub: LocalHub;
  let caller: ModuleIdentity;
  let target: ModuleIdentity;
  let answering: mqtt.MqttClient | undefined;

  const args = async (extra: Partial<InvokeMethodOverHttpArgs> = {}): Promise<InvokeMethodOverHttpArgs> => ({
    gatewayHostname: `localhost:${hub.port}`,
    ca: hub.caCert,
    deviceId: DEVICE,
    moduleId: 'target',
    ownDeviceId: DEVICE,
    ownModuleId: 'caller',
    userAgent: 'node-red-contrib-azure-iot-module/0.1.0(test)',
    productInfo: '',
    sastoken: await sasToken(hub.hostName, DEVICE, 'caller', hmacSigner(caller.primaryKey)),
    methodParams: {
      methodName: 'echo',
      payload: { n: 1, text: 'ü &#' },
      responseTimeoutInSeconds: 5,
      connectTimeoutInSeconds: 0,
    },
    timeoutMs: 15000,
    ...extra,
  });

  before(async () => {
    hub = await LocalHub.start();
    caller = hub.addModule(DEVICE, 'caller');
    target = hub.addModule(DEVICE, 'target');
  });
  after(async () => {
    await hub.close();
  });
  afterEach(async () => {
    await answering?.endAsync(true);
    answering = undefined;
  });

  it("returns the answering module's status and payload (200)", async () => {
    answering = await startAnsweringModule(hub, target, (name, payload) => ({
      status: 201,
      payload: { name, payload },
    }));
    const result = await invokeMethodOverHttp(await args());
    assert.deepEqual(result, { status: 201, payload: { name: 'echo', payload: { n: 1, text: 'ü &#' } } });
  });

  it('answers 404103 device-not-online when the target is offline', async () => {
    await assert.rejects(invokeMethodOverHttp(await args()), (err: unknown) => {
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'device-not-online');
      assert.equal(err.statusCode, 404);
      assert.equal(err.errorCode, 404103);
      return true;
    });
  });

  it("keeps the service's own explanation of a refusal (400004: response timeout below 5 s)", async () => {
    const refused = await args({
      methodParams: { methodName: 'echo', payload: null, responseTimeoutInSeconds: 4, connectTimeoutInSeconds: 0 },
    });
    await assert.rejects(invokeMethodOverHttp(refused), (err: unknown) => {
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'bad-request');
      assert.equal(err.errorCode, 400004);
      assert.equal(err.serviceMessage, 'responseTimeoutInSeconds must be between 5 and 300');
      return true;
    });
  });

  it('answers 504101 gateway-timeout when the target does not answer', async () => {
    answering = await startAnsweringModule(hub, target, () => undefined);
    await assert.rejects(invokeMethodOverHttp(await args()), (err: unknown) => {
      assert.ok(err instanceof ClientError, String(err));
      assert.equal(err.code, 'gateway-timeout');
      assert.equal(err.statusCode, 504);
      assert.equal(err.errorCode, 504101);
      return true;
    });
  });

  it('times out on our side first when timeoutMs is shorter than the method timeout', async () => {
    answering = await startAnsweringModule(hub, target, () => undefined);
    await assert.rejects(invokeMethodOverHttp(await args({ timeoutMs: 500 })), OperationTimeout);
  });

  it('answers 401 unauthorized to a token signed with the wrong key', async () => {
    const bad = await sasToken(hub.hostName, DEVICE, 'caller', hmacSigner(Buffer.alloc(32, 7).toString('base64')));
    await assert.rejects(
      invokeMethodOverHttp(await args({ sastoken: bad })),
      (err: unknown) =>
        err instanceof ClientError &&
        !(err instanceof CredentialError) &&
        err.code === 'unauthorized' &&
        err.statusCode === 401,
    );
  });

  it('answers 401 when x-ms-edge-moduleId names another module than the token', async () => {
    await assert.rejects(
      invokeMethodOverHttp(await args({ ownModuleId: 'target' })),
      (err: unknown) => err instanceof ClientError && err.code === 'unauthorized' && err.statusCode === 401,
    );
  });

  it("works with a token signed through the hub's workload API (container-mode path)", async () => {
    answering = await startAnsweringModule(hub, target, () => ({ status: 200, payload: 'pong' }));
    const workload = new WorkloadClient({
      workloadUri: hub.edgeEnvironment(DEVICE, 'caller').IOTEDGE_WORKLOADURI,
      apiVersion: '2019-01-30',
      moduleId: 'caller',
      generationId: caller.generationId,
      userAgent: 'ua',
    });
    try {
      const token = await sasToken(hub.hostName, DEVICE, 'caller', (s) => workload.sign(s));
      assert.deepEqual(await invokeMethodOverHttp(await args({ sastoken: token })), { status: 200, payload: 'pong' });
    } finally {
      await workload.close();
    }
  });

  for (const kind of ['HTTP', 'SOCKS4', 'SOCKS5'] as ProxyKind[]) {
    it(`works through a ${kind} proxy with credentials`, async () => {
      answering = await startAnsweringModule(hub, target, () => ({ status: 200, payload: { via: kind } }));
      const credentials = kind === 'SOCKS4' ? { username: 'edge' } : { username: 'edge', password: 'pr0xy pass' };
      const proxy = await startProxy(kind, credentials);
      try {
        assert.deepEqual(await invokeMethodOverHttp(await args({ proxy: proxy.options(credentials) })), {
          status: 200,
          payload: { via: kind },
        });
        assert.equal(proxy.counters.tunnels, 1);
        assert.deepEqual(proxy.targets, [{ host: 'localhost', port: hub.port }]);
      } finally {
        await proxy.close();
      }
    });
  }
});

describe("WorkloadClient against the local hub's workload API", function () {
  this.timeout(30000);
  let hub: LocalHub;
  let mod: ModuleIdentity;

  before(async () => {
    hub = await LocalHub.start();
    mod = hub.addModule(DEVICE, 'signer$(1)#');
  });
  after(() => hub.close());

  it('returns the hub CA as trust bundle and signs with the module key', async () => {
    const env = hub.edgeEnvironment(DEVICE, mod.moduleId);
    const client = new WorkloadClient({
      workloadUri: env.IOTEDGE_WORKLOADURI,
      apiVersion: env.IOTEDGE_APIVERSION,
      moduleId: env.IOTEDGE_MODULEID,
      generationId: env.IOTEDGE_MODULEGENERATIONID,
      userAgent: 'ua (x)',
    });
    try {
      assert.equal(await client.getTrustBundle(), hub.caCert);
      const text = 'local-hub.azure-devices.net%2Fdevices%2Fedge-device%2Fmodules%2Fsigner\n1700003600';
      assert.equal(await client.sign(text), hmacSigner(mod.primaryKey)(text));
    } finally {
      await client.close();
    }
  });

  it("refuses (403) to sign for another module through a module's own workload socket, as IoT Edge does", async () => {
    const other = hub.addModule(DEVICE, 'other');
    const client = new WorkloadClient({
      workloadUri: hub.edgeEnvironment(DEVICE, mod.moduleId).IOTEDGE_WORKLOADURI,
      apiVersion: '2019-01-30',
      moduleId: other.moduleId,
      generationId: other.generationId,
      userAgent: 'ua',
    });
    try {
      await assert.rejects(client.sign('x'), (err: unknown) => err instanceof ClientError && err.statusCode === 403);
    } finally {
      await client.close();
    }
  });

  it('reports an unknown generation id as ClientError "Unexpected failure in IoTEdge" (404)', async () => {
    const client = new WorkloadClient({
      workloadUri: hub.edgeEnvironment(DEVICE, mod.moduleId).IOTEDGE_WORKLOADURI,
      apiVersion: '2019-01-30',
      moduleId: mod.moduleId,
      generationId: 'stale',
      userAgent: 'ua',
    });
    try {
      await assert.rejects(
        client.sign('x'),
        (err: unknown) =>
          err instanceof ClientError && err.message === 'Unexpected failure in IoTEdge' && err.statusCode === 404,
      );
    } finally {
      await client.close();
    }
  });
});

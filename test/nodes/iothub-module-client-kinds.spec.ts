// The config node's connection kinds and options end to end: SAS token (TLS and WebSockets), X.509 through a
// tls-config node (encrypted key + passphrase) and as pasted PEM, and the core http proxy node.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import { issueCertificate } from '../../src/hub/x509';
import type { HubMessage, LocalHubApi } from '../../src/hub/types';
import { shareLocalHub, unshareLocalHub } from '../../src/hub';
import { startProxy, type TestProxy } from '../helpers/proxies';
import {
  clientConfig,
  DEVICE,
  helper,
  nextInput,
  NODES,
  onTab,
  startHub,
  tlsConfig,
  unloadAll,
  untilSubscribed,
  type FlowNode,
} from './support';

function moduleSasToken(hub: LocalHubApi, moduleId: string): string {
  const key = hub.getModule(DEVICE, moduleId)!.primaryKey;
  const sr = encodeURIComponent(`${hub.hostName}/devices/${DEVICE}/modules/${moduleId}`);
  const se = Math.floor(Date.now() / 1000) + 3600;
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

describe('iothub-module-client connection kinds (flow, local hub)', function () {
  this.timeout(60_000);
  let hub: LocalHubApi;
  let device: { cert: string; key: string };
  before(async () => {
    hub = await startHub();
    hub.addModule(DEVICE, 'sas');
    const pems = await issueCertificate(
      { commonName: `${DEVICE}/x509mod` },
      { keyType: 'rsa', passphrase: 'open sesame' },
    );
    device = pems;
    const thumbprint = crypto.createHash('sha256').update(new crypto.X509Certificate(device.cert).raw).digest('hex');
    hub.addModule(DEVICE, 'x509mod', { x509Thumbprints: [thumbprint] });
  });
  after(async () => {
    await hub.close();
  });
  beforeEach(() => helper.startServer());
  afterEach(() => unloadAll());

  /** Loads `cfg` (plus extra config nodes) with an output node, sends one message, returns what the hub got. */
  async function sendThrough(
    cfg: FlowNode,
    credentials: Record<string, Record<string, string>>,
    extra: FlowNode[] = [],
  ): Promise<HubMessage> {
    const tls = tlsConfig(hub);
    await helper.load(
      NODES,
      onTab([
        tls.node,
        ...extra,
        cfg,
        {
          id: 'out',
          type: 'iothub-module-output',
          client: cfg.id,
          outputName: 'kind',
          queueSize: '10',
          queueTimeout: '20',
          wires: [],
        },
      ]),
      { tls: tls.credentials, ...credentials },
    );
    const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(20_000) });
    helper.getNode('out').receive({ payload: { kind: cfg.connectionType } });
    const [message] = (await upstream) as [HubMessage];
    return message;
  }

  for (const transport of ['mqtt', 'mqtt-ws']) {
    it(`SAS token over ${transport}, gateway host from the node`, async () => {
      const cfg: FlowNode = {
        id: 'cfg',
        type: 'iothub-module-client',
        connectionType: 'sasToken',
        gatewayHostname: `localhost:${hub.port}`,
        transport,
        tls: 'tls',
      };
      const message = await sendThrough(cfg, { cfg: { sasToken: moduleSasToken(hub, 'sas') } });
      assert.equal(message.moduleId, 'sas');
      assert.equal(message.outputName, 'kind');
      const connect = hub.observed.connects.filter((c) => c.clientId === `${DEVICE}/sas`).at(-1)!;
      assert.equal(connect.transport, transport === 'mqtt' ? 'mqtts' : 'wss');
    });
  }

  it('X.509 with certificate, encrypted key and passphrase from the tls-config node', async () => {
    const x509Tls: FlowNode = { id: 'tlsX509', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true };
    const cfg: FlowNode = {
      id: 'cfg',
      type: 'iothub-module-client',
      connectionType: 'x509',
      x509Source: 'tls',
      hostname: hub.hostName,
      deviceId: DEVICE,
      moduleId: 'x509mod',
      gatewayHostname: `localhost:${hub.port}`,
      tls: 'tlsX509',
    };
    const message = await sendThrough(
      cfg,
      { tlsX509: { certdata: device.cert, keydata: device.key, cadata: hub.caCert, passphrase: 'open sesame' } },
      [x509Tls],
    );
    assert.equal(message.moduleId, 'x509mod');
    assert.equal(hub.observed.connects.filter((c) => c.clientId === `${DEVICE}/x509mod`).at(-1)!.x509, true);
  });

  it('X.509 with pasted PEM and passphrase in the credentials', async () => {
    const cfg: FlowNode = {
      id: 'cfg',
      type: 'iothub-module-client',
      connectionType: 'x509',
      x509Source: 'pem',
      hostname: hub.hostName,
      deviceId: DEVICE,
      moduleId: 'x509mod',
      gatewayHostname: `localhost:${hub.port}`,
      tls: 'tls',
    };
    const message = await sendThrough(cfg, { cfg: { cert: device.cert, key: device.key, passphrase: 'open sesame' } });
    assert.equal(message.moduleId, 'x509mod');
  });

  describe('local hub (development only), sharing the test hub as `npm start` does', () => {
    before(() => shareLocalHub(hub, {}));
    after(() => unshareLocalHub());

    it('provisions the modules, sends upstream, and invokes one module from another', async () => {
      const since = Date.now();
      const kind = (id: string, moduleId: string): FlowNode => ({
        id,
        type: 'iothub-module-client',
        connectionType: 'localHub',
        deviceId: '',
        moduleId,
        routes: '',
      });
      await helper.load(
        NODES,
        onTab([
          kind('cfgA', 'lh-a'),
          kind('cfgB', 'lh-b'),
          {
            id: 'out',
            type: 'iothub-module-output',
            client: 'cfgA',
            outputName: 'o',
            queueSize: '10',
            queueTimeout: '20',
            wires: [],
          },
          {
            id: 'req',
            type: 'iothub-module-method-request',
            client: 'cfgB',
            methodName: 'ping',
            timeout: '25',
            timeoutStatus: '504',
            wires: [['res']],
          },
          { id: 'res', type: 'iothub-module-method-response', statusCode: '200', wires: [] },
          {
            id: 'invoke',
            type: 'iothub-module-invoke',
            client: 'cfgA',
            deviceId: 'local-device',
            deviceIdType: 'str',
            moduleId: 'lh-b',
            moduleIdType: 'str',
            methodName: 'ping',
            methodNameType: 'str',
            connectTimeout: '0',
            responseTimeout: '10',
            wires: [['result']],
          },
          { id: 'result', type: 'helper' },
        ]),
        {},
      );
      const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(20_000) });
      helper.getNode('out').receive({ payload: { via: 'local hub' } });
      const [message] = (await upstream) as [HubMessage];
      assert.equal(message.deviceId, 'local-device');
      assert.equal(message.moduleId, 'lh-a');
      assert.deepEqual(JSON.parse(message.body.toString()), { via: 'local hub' });

      await untilSubscribed(hub, 'local-device/lh-b', '$iothub/methods/POST', since);
      const result = nextInput(helper.getNode('result'));
      helper.getNode('invoke').receive({ payload: { n: 1 } });
      const msg = await result;
      assert.equal(msg.statusCode, 200);
      assert.deepEqual(msg.payload, { n: 1 });
    });
  });

  describe('through the core http proxy node', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startProxy('HTTP', { username: 'user', password: 'pa ss' });
    });
    after(() => proxy.close());

    it('tunnels the connection with the proxy node URL and credentials', async () => {
      const cfg = clientConfig(hub, 'flow', 'cfg', { proxy: 'proxy' });
      const proxyNode: FlowNode = {
        id: 'proxy',
        type: 'http proxy',
        url: `http://127.0.0.1:${proxy.port}`,
        noproxy: [],
      };
      const message = await sendThrough(
        cfg.node,
        { cfg: cfg.credentials, proxy: { username: 'user', password: 'pa ss' } },
        [proxyNode],
      );
      assert.equal(message.moduleId, 'flow');
      assert.ok(proxy.counters.tunnels >= 1);
      assert.equal(proxy.counters.authFailures, 0);
      assert.ok(proxy.targets.some((t) => t.port === hub.port));
    });
  });
});

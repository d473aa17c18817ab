// IoTHubModuleClient through HTTP CONNECT, SOCKS4 and SOCKS5 proxies to the local hub: MQTT over WebSockets and
// MQTT over TLS, with proxy credentials, and the failures a user sees when the proxy says no.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { IoTHubModuleClient } from '../../src/client/IoTHubModuleClient';
import { ConnectionFailedError, CredentialError } from '../../src/client/errors';
import { LocalHub, type ModuleIdentity } from '../../src/hub';
import type { HubEvents } from '../../src/hub/types';
import { startProxy, type ProxyKind, type TestProxy } from '../helpers/proxies';

const DEVICE = 'proxied-device';

describe('IoTHubModuleClient through proxies to the local hub', function () {
  this.timeout(30000);
  let hub: LocalHub;
  let mod: ModuleIdentity;
  const clients: IoTHubModuleClient[] = [];
  const proxies: TestProxy[] = [];

  before(async () => {
    hub = await LocalHub.start();
    mod = hub.addModule(DEVICE, 'behind-proxy');
  });
  after(() => hub.close());
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown();
    for (const p of proxies.splice(0)) await p.close();
  });

  async function proxy(kind: ProxyKind, credentials?: { username: string; password?: string }): Promise<TestProxy> {
    const p = await startProxy(kind, credentials ?? {});
    proxies.push(p);
    return p;
  }

  for (const kind of ['HTTP', 'SOCKS4', 'SOCKS5'] as ProxyKind[]) {
    const credentials =
      kind === 'SOCKS4' ? { username: 'edge-user' } : { username: 'edge-user', password: 'pässword:1' };

    for (const websockets of [true, false]) {
      const transport = websockets ? 'wss' : 'mqtts';
      it(`${kind}: MQTT over ${websockets ? 'WebSockets' : 'TLS'} connects, sends and round-trips a twin through the proxy`, async () => {
        const p = await proxy(kind, credentials);
        const client = IoTHubModuleClient.createFromConnectionString(mod.connectionString, {
          serverVerificationCert: hub.caCert,
          websockets,
          proxyOptions: p.options(credentials),
        });
        clients.push(client);
        const connected = once(hub.events, 'connect', { signal: AbortSignal.timeout(10000) });
        await client.connect();
        const [event] = (await connected) as HubEvents['connect'];
        assert.equal(event.clientId, `${DEVICE}/behind-proxy`);
        assert.equal(event.transport, transport);
        assert.equal(p.counters.tunnels, 1);
        assert.deepEqual(p.targets, [{ host: 'localhost', port: hub.port }]);
        const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(10000) });
        await client.sendMessage(`through ${kind}`);
        assert.equal(String(((await upstream) as HubEvents['upstream'])[0].body), `through ${kind}`);
        await client.patchTwinReportedProperties({ via: kind });
        assert.equal((await client.getTwin()).reported.via, kind);
      });
    }

    it(`${kind}: refused proxy credentials → connect rejects with CredentialError (code proxy-error), no retry loop`, async () => {
      const p = await proxy(kind, credentials);
      const wrong = kind === 'SOCKS4' ? { username: 'someone-else' } : { username: 'edge-user', password: 'wrong' };
      const client = IoTHubModuleClient.createFromConnectionString(mod.connectionString, {
        serverVerificationCert: hub.caCert,
        websockets: true,
        proxyOptions: p.options(wrong),
        connectionRetry: false,
      });
      clients.push(client);
      const connectsBefore = hub.observed.counters.connects;
      await assert.rejects(
        client.connect(),
        (err: unknown) => err instanceof CredentialError && err.code === 'proxy-error',
      );
      // Exactly one attempt: re-signing the renewable token once is for the hub refusing the SAS, not a proxy
      // refusing its own credentials.
      assert.equal(p.counters.authFailures, 1);
      assert.equal(p.counters.tunnels, 0);
      assert.equal(hub.observed.counters.connects, connectsBefore);
    });
  }

  it('a proxy that is not running → connect rejects with ConnectionFailedError (code proxy-error)', async () => {
    const p = await proxy('SOCKS5');
    const options = p.options();
    await p.close();
    const client = IoTHubModuleClient.createFromConnectionString(mod.connectionString, {
      serverVerificationCert: hub.caCert,
      websockets: true,
      proxyOptions: options,
      connectionRetry: false,
    });
    clients.push(client);
    await assert.rejects(
      client.connect(),
      (err: unknown) => err instanceof ConnectionFailedError && err.code === 'proxy-error',
    );
  });
});

// SAS renewal against the local hub: a renewable token with a 5 s lifetime is renewed (DISCONNECT + CONNECT with a
// new password) under continuous sending with no message lost; a user token asks for a new one and updateSastoken
// re-authenticates.
import assert from 'node:assert/strict';
import type { HubMessage, LocalHub } from '../../src/hub';
import { createSas } from '../../src/hub/sas';
import { IoTHubModuleClient, Message, type ClientOptions, type ConnectionState } from '../../src/index';
import type { InternalClientOptions } from '../../src/client/options';
import { clientFor, track, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

describe('client SAS renewal', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  it('renews a 5 s token (margin 2 s) repeatedly under continuous sending, losing nothing', async function () {
    this.timeout(30_000);
    const client = clientFor(hub, 'sdev', 'renew', { sastokenTtl: 5, sastokenRenewalMargin: 2 });
    const states: ConnectionState[] = [];
    const background: Error[] = [];
    client.onConnectionStateChange = (info) => states.push(info.state);
    client.onBackgroundException = (e) => background.push(e);
    // Counted from the hub's events: its observation log keeps only the newest entries.
    const arrived = new Set<string | undefined>();
    const onUpstream = (m: HubMessage): void => {
      if (m.moduleId === 'renew') arrived.add(m.systemProperties['$.mid']);
    };
    hub.events.on('upstream', onUpstream);
    await client.connect();
    const sends: Array<Promise<void>> = [];
    let i = 0;
    const end = Date.now() + 8000;
    while (Date.now() < end) {
      for (let k = 0; k < 20; k += 1) {
        sends.push(client.sendMessage(new Message(String(i), { messageId: `r${i}` })));
        i += 1;
      }
      await new Promise((resolve) => setImmediate(resolve));
      if (sends.length % 200 === 0) await sends[sends.length - 1];
    }
    await Promise.all(sends);
    const connects = hub.observed.connects.filter((c) => c.clientId === 'sdev/renew' && c.returnCode === 0);
    assert.ok(connects.length >= 3, `renewed ${connects.length - 1} times`);
    assert.equal(new Set(connects.map((c) => c.password)).size, connects.length, 'each CONNECT carries a new token');
    assert.ok(states.includes('reauthorizing'));
    assert.deepEqual(background, []);
    await until(() => arrived.size >= i, `all ${i} messages upstream (${arrived.size} so far)`);
    hub.events.off('upstream', onUpstream);
    assert.equal(arrived.size, i, `${i} sent, ${arrived.size} arrived`);
  });

  it('a user token: onNewSastokenRequired before expiry, updateSastoken re-authenticates with the new token', async () => {
    const m = hub.addModule('sdev', 'user');
    const uri = `${hub.hostName}/devices/sdev/modules/user`;
    const first = createSas(uri, m.primaryKey, 4);
    const options: ClientOptions & InternalClientOptions = {
      serverVerificationCert: hub.caCert,
      gatewayHostname: `localhost:${hub.port}`,
      sastokenRenewalMargin: 59,
    };
    const client = track(IoTHubModuleClient.createFromSastoken(first, options));
    let asked = 0;
    client.onNewSastokenRequired = () => {
      asked += 1;
    };
    await client.connect();
    await until(() => asked === 1, 'onNewSastokenRequired');
    const second = createSas(uri, m.primaryKey, 3600);
    await client.updateSastoken(second);
    assert.equal(client.connected, true);
    const passwords = hub.observed.connects
      .filter((c) => c.clientId === 'sdev/user' && c.returnCode === 0)
      .map((c) => c.password);
    assert.deepEqual(passwords, [first, second]);
    await client.sendMessage('with the new token');
  });

  it('a user token shorter than twice the margin is asked for at half its lifetime, not at once after each update', async () => {
    const m = hub.addModule('sdev', 'short');
    const uri = `${hub.hostName}/devices/sdev/modules/short`;
    const client = track(
      IoTHubModuleClient.createFromSastoken(createSas(uri, m.primaryKey, 4), {
        serverVerificationCert: hub.caCert,
        gatewayHostname: `localhost:${hub.port}`,
      }),
    );
    const asked: number[] = [];
    client.onNewSastokenRequired = () => void asked.push(Date.now());
    const connected = Date.now();
    await client.connect();
    await until(() => asked.length === 1, 'onNewSastokenRequired');
    // se has whole-second resolution: half of a 4 s token is 1 to 2 s after it was made.
    assert.ok(asked[0]! - connected >= 900, `asked ${asked[0]! - connected} ms after connect`);
    const updated = Date.now();
    await client.updateSastoken(createSas(uri, m.primaryKey, 4));
    await until(() => asked.length === 2, 'asked again for the second token');
    assert.ok(asked[1]! - updated >= 900, `asked ${asked[1]! - updated} ms after the update`);
    assert.equal(client.connected, true);
  });

  it('updateSastoken on a disconnected client connects it', async () => {
    const m = hub.addModule('sdev', 'user2');
    const uri = `${hub.hostName}/devices/sdev/modules/user2`;
    const client = track(
      IoTHubModuleClient.createFromSastoken(createSas(uri, m.primaryKey, 600), {
        serverVerificationCert: hub.caCert,
        gatewayHostname: `localhost:${hub.port}`,
      }),
    );
    await client.updateSastoken(createSas(uri, m.primaryKey, 900));
    assert.equal(client.connected, true);
  });
});

// The module client against a hostile MQTT server: refused or missing CONNACKs, stray and missing acknowledgements,
// refused subscriptions, connections dropped mid-packet or mid-operation, packets only a client may send.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  ClientError,
  ConnectionDroppedError,
  ConnectionFailedError,
  CredentialError,
  IoTHubModuleClient,
  Message,
  OperationCancelled,
  OperationTimeout,
  type MethodRequest,
} from '../../src/index';
import { until } from '../helpers/until';
import { track } from './clientSupport';
import { DEFAULT_TWIN, ridOf, type HostileServer, type Peer } from './hostileServer';
import { INPUT_PREFIX, KEY, useHostileServer } from './hostileSuite';

describe('client against a hostile MQTT server: transport', function () {
  this.timeout(15_000);
  let server: HostileServer;
  const { makeClient, subscribed, inputClient } = useHostileServer((s) => (server = s));

  const refusals: Array<{ code: number; check: (e: unknown) => boolean }> = [
    { code: 1, check: (e) => e instanceof ClientError && e.code === 'protocol-error' },
    { code: 3, check: (e) => e instanceof ConnectionFailedError },
    { code: 5, check: (e) => e instanceof CredentialError },
    {
      code: 6,
      check: (e) => e instanceof ClientError && !(e instanceof CredentialError) && e.code === 'protocol-error',
    },
    { code: 0x80, check: (e) => e instanceof ClientError && e.code === 'protocol-error' },
  ];
  for (const r of refusals) {
    it(`CONNACK return code ${r.code} fails connect() at once with the mapped error`, async () => {
      server.behaviour.connack = r.code;
      const { client } = makeClient({ operationTimeout: 5 });
      const started = Date.now();
      await assert.rejects(client.connect(), (e: unknown) => r.check(e));
      assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
      assert.equal(client.connectionState, 'disconnected');
    });
  }

  it('no CONNACK at all: connect() fails with OperationTimeout', async () => {
    server.behaviour.connack = 'none';
    const { client } = makeClient({ operationTimeout: 0.5 });
    await assert.rejects(client.connect(), OperationTimeout);
    assert.equal(client.connectionState, 'disconnected');
  });

  // The CONNECT went out on an open connection: the Python SDK reports a connection lost while a connect is pending
  // as ConnectionDroppedError (a refused or unreachable host stays ConnectionFailedError).
  it('the server closing the connection instead of a CONNACK: connect() fails with ConnectionDroppedError', async () => {
    server.behaviour.connack = 'close';
    const { client, seen } = makeClient({ operationTimeout: 5 });
    const started = Date.now();
    await assert.rejects(
      client.connect(),
      (e: unknown) => e instanceof ConnectionDroppedError && e.code === 'connection-dropped',
    );
    assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
    assert.equal(client.connectionState, 'disconnected');
    assert.deepEqual(seen.background, []);
  });

  // An OpenSSL cipher list only governs TLS 1.2: against a server that also offers TLS 1.3 it did nothing.
  for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', ['ecdhe_ecdsa_aes256_gcm_sha384']]) {
    it(`cipher ${JSON.stringify(cipher)} is what is negotiated with a server offering TLS 1.2 and 1.3`, async () => {
      const { client } = makeClient({ cipher });
      await client.connect();
      const peer = await server.nextPeer(0);
      const expected = (Array.isArray(cipher) ? cipher[0]! : cipher).toUpperCase().replace(/_/g, '-');
      assert.equal(peer.socket.getProtocol(), 'TLSv1.2');
      assert.equal(peer.socket.getCipher().name, expected);
    });
  }

  it('without cipher the client still takes TLS 1.3 when the server offers it', async () => {
    const { client } = makeClient();
    await client.connect();
    const peer = await server.nextPeer(0);
    assert.equal(peer.socket.getProtocol(), 'TLSv1.3');
  });

  it('a server that stops answering PINGREQ (half-open connection) is detected by the keep-alive; the client reconnects', async () => {
    const { client, seen } = makeClient({ keepAlive: 1 });
    await client.connect();
    const first = await server.nextPeer(0);
    server.behaviour.pingresp = false;
    await server.nextPeer(1, 8000);
    server.behaviour.pingresp = true;
    await until(() => client.connectionState === 'connected' && first.closed, 'reconnected');
    assert.ok(
      seen.background.some((e) => e instanceof ConnectionDroppedError),
      seen.background.map(String).join('; '),
    );
  });

  it('a PUBACK for a message id never sent is ignored', async () => {
    const { client, seen } = makeClient();
    await client.connect();
    const peer = await server.nextPeer(0);
    peer.send({ cmd: 'puback', messageId: 4242 });
    server.behaviour.puback = false;
    const sent = client.sendMessage('held');
    const publish = await peer.nextPublish((p) => p.topic.startsWith('devices/d/modules/m/messages/events/'));
    peer.send({ cmd: 'puback', messageId: (publish.messageId! % 65535) + 1 });
    peer.send({ cmd: 'puback', messageId: publish.messageId! });
    await sent;
    server.behaviour.puback = true;
    await client.sendMessage('after');
    assert.equal(client.connectionState, 'connected');
    assert.deepEqual(seen.background, []);
  });

  it('a stray PUBACK does not release a re-authorization early: it still waits for the outstanding PUBACK', async () => {
    const token = (): string => {
      const sr = encodeURIComponent('localhost/devices/d/modules/m');
      const se = Math.floor(Date.now() / 1000) + 3600;
      const sig = createHmac('sha256', Buffer.from(KEY, 'base64')).update(`${sr}\n${se}`).digest('base64');
      return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
    };
    const client = track(
      IoTHubModuleClient.createFromSastoken(token(), {
        serverVerificationCert: server.caCert,
        gatewayHostname: `localhost:${server.port}`,
        operationTimeout: 3,
      }),
    );
    await client.connect();
    const peer = await server.nextPeer(0);
    const events: string[] = [];
    peer.on('packet', (packet) => events.push(packet.cmd));
    server.behaviour.puback = false;
    const sent = client.sendMessage('held');
    const publish = await peer.nextPublish((p) => p.topic.startsWith('devices/d/modules/m/messages/events/'));
    peer.send({ cmd: 'puback', messageId: (publish.messageId! % 65535) + 1 });
    // The real PUBACK goes out a little later; the client must not DISCONNECT before it.
    const timer = setTimeout(() => {
      events.push('server-puback');
      peer.send({ cmd: 'puback', messageId: publish.messageId! });
    }, 150);
    try {
      await client.updateSastoken(token());
    } finally {
      clearTimeout(timer);
    }
    await sent;
    assert.ok(events.includes('disconnect'), events.join(','));
    assert.ok(
      events.indexOf('server-puback') >= 0 && events.indexOf('server-puback') < events.indexOf('disconnect'),
      events.join(','),
    );
    assert.equal(client.connectionState, 'connected');
  });

  it('a SUBACK with failure codes disables those features, reports them, and keeps the rest working', async () => {
    server.behaviour.suback = (topics) => topics.map((t) => (t.startsWith(INPUT_PREFIX) ? 0x80 : 1));
    const { client, seen } = makeClient();
    const requests: MethodRequest[] = [];
    client.onMessageReceived = () => undefined;
    await until(() => seen.background.length > 0, 'the refused subscription report');
    assert.ok(
      seen.background[0] instanceof ClientError && seen.background[0].code === 'service-error',
      String(seen.background[0]),
    );
    assert.equal(client.connectionState, 'connected');
    client.onMethodRequestReceived = (r) => {
      requests.push(r);
    };
    const peer = await server.nextPeer(0);
    await subscribed(peer, '$iothub/methods/POST/#');
    peer.publish('$iothub/methods/POST/ping/?$rid=1', '{}');
    await until(() => requests.length === 1, 'method request');
    // On a reconnect the refused feature is not subscribed again; the granted one is.
    peer.destroy();
    const second = await server.nextPeer(1);
    await until(() => second.subscribes.length > 0, 'resubscribe');
    assert.deepEqual(
      second.subscribes.flatMap((s) => s.subscriptions.map((x) => x.topic)),
      ['$iothub/methods/POST/#'],
    );
  });

  it('a refused subscription restored at connect does not fail connect()', async () => {
    server.behaviour.suback = (topics) => topics.map((t) => (t === '$iothub/methods/POST/#' ? 0x80 : 1));
    const { client, seen } = makeClient({ autoConnect: false });
    client.onMessageReceived = () => undefined;
    client.onMethodRequestReceived = () => undefined;
    await client.connect();
    assert.equal(client.connectionState, 'connected');
    assert.ok(
      seen.background.some((e) => e instanceof ClientError && e.code === 'service-error'),
      seen.background.map(String).join('; '),
    );
  });

  const garbage: Array<{ name: string; bytes: Buffer }> = [
    { name: 'a packet with a malformed remaining length', bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]) },
    { name: 'random bytes', bytes: Buffer.from('c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6', 'hex') },
    { name: 'a PUBLISH with both QoS bits set', bytes: Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]) },
    { name: 'a SUBACK with an invalid return code', bytes: Buffer.from([0x90, 0x03, 0x00, 0x01, 0x07]) },
  ];
  for (const g of garbage) {
    it(`${g.name} after CONNACK drops the connection (reported) and the client reconnects`, async () => {
      const { client, seen, got: received, peer: first } = await inputClient();
      first.raw(g.bytes);
      const second = await server.nextPeer(1);
      await subscribed(second, `${INPUT_PREFIX}#`);
      await until(() => client.connectionState === 'connected', 'reconnected');
      assert.ok(
        seen.background.some((e) => e instanceof ConnectionDroppedError),
        seen.background.map(String).join('; '),
      );
      assert.ok(seen.states.includes('disconnected') && seen.states.at(-1) === 'connected', seen.states.join(','));
      second.publish(`${INPUT_PREFIX}in/`, 'after');
      await until(() => received.length === 1, 'a message on the new connection');
      assert.deepEqual(received[0]!.data, Buffer.from('after'));
    });
  }

  it('the server closing mid-packet: nothing partial is delivered, the client reconnects', async () => {
    const { client, seen, got: received, peer: first } = await inputClient();
    const whole = Buffer.from([0x30, 0x20, 0x00, 0x1e, ...Buffer.from(`${INPUT_PREFIX}in/`)]);
    first.raw(whole.subarray(0, 12));
    await new Promise<void>((resolve) => first.socket.end(resolve));
    first.destroy();
    await server.nextPeer(1);
    await until(() => client.connectionState === 'connected', 'reconnected');
    assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError));
    assert.deepEqual(received, []);
    assert.deepEqual(seen.states.filter((s) => s === 'connected').length, 2);
  });

  it('a publish in flight when the server drops is re-sent after the reconnect and resolves', async () => {
    const { client } = makeClient();
    await client.connect();
    const first = await server.nextPeer(0);
    server.behaviour.puback = false;
    const sent = client.sendMessage(new Message('once', { messageId: 'mid-1' }));
    await first.nextPublish((p) => p.topic.includes('mid-1'));
    server.behaviour.puback = true;
    first.destroy();
    const second = await server.nextPeer(1);
    await sent;
    assert.ok(second.published.some((p) => p.topic.includes('mid-1')));
  });

  it('a SUBSCRIBE never answered: setting a handler reports OperationTimeout, connect() with a feature fails with it', async () => {
    server.behaviour.suback = () => 'none';
    const { client, seen } = makeClient({ autoConnect: false, operationTimeout: 0.5 });
    await client.connect();
    client.onMessageReceived = () => undefined;
    await until(() => seen.background.length > 0, 'the background report', 5000);
    assert.ok(seen.background[0] instanceof OperationTimeout, String(seen.background[0]));
    await client.disconnect();
    await assert.rejects(client.connect(), OperationTimeout);
    assert.equal(client.connectionState, 'disconnected');
  });

  it('a SUBACK with fewer codes than topics fails connect() instead of guessing which topic was granted', async () => {
    server.behaviour.suback = () => [1];
    const { client } = makeClient({ autoConnect: false, connectionRetry: false });
    client.onMessageReceived = () => undefined;
    client.onMethodRequestReceived = () => undefined;
    const peer = server.nextPeer(0);
    await assert.rejects(client.connect(), (e: unknown) => e instanceof ClientError);
    assert.equal(client.connectionState, 'disconnected');
    await until(() => server.peers.every((p) => p.closed), 'the connection closed');
    await peer;
  });

  it('client-only packets from the server (PINGREQ, SUBSCRIBE, UNSUBSCRIBE, CONNECT) are ignored; the connection stays', async () => {
    const { client, seen } = makeClient();
    await client.connect();
    const peer = await server.nextPeer(0);
    peer.send({ cmd: 'pingreq' });
    peer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a', qos: 1 }] });
    peer.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a'] });
    peer.send({
      cmd: 'connect',
      clientId: 'server',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
    });
    await client.sendMessage('still alive');
    assert.equal(peer.closed, false);
    assert.deepEqual(seen.background, []);
    assert.deepEqual(seen.states, ['connecting', 'connected']);
  });

  const violations: Array<{ name: string; provoke: (peer: Peer, client: IoTHubModuleClient) => void }> = [
    { name: 'a second CONNACK', provoke: (p) => p.send({ cmd: 'connack', returnCode: 0, sessionPresent: false }) },
    {
      name: 'a PUBACK answering a pending SUBSCRIBE',
      provoke: (p, client) => {
        server.behaviour.suback = () => 'none';
        p.on('packet', (packet) => {
          if (packet.cmd === 'subscribe') p.send({ cmd: 'puback', messageId: packet.messageId! });
        });
        client.onMethodRequestReceived = () => undefined;
      },
    },
  ];
  for (const v of violations) {
    it(`${v.name} drops the connection (reported) and the client reconnects`, async () => {
      const { client, seen } = makeClient();
      await client.connect();
      const first = await server.nextPeer(0);
      v.provoke(first, client);
      await server.nextPeer(1);
      server.behaviour.suback = (topics) => topics.map(() => 1);
      await until(() => client.connectionState === 'connected' && first.closed, 'reconnected');
      assert.ok(
        seen.background.some((e) => e instanceof ConnectionDroppedError),
        seen.background.map(String).join('; '),
      );
      assert.deepEqual(seen.states.slice(0, 3), ['connecting', 'connected', 'disconnected']);
      await client.sendMessage('on the new connection');
    });
  }

  it('a publish the server never acknowledges fails with OperationTimeout; the client stays usable', async () => {
    server.behaviour.puback = false;
    const { client, seen } = makeClient({ operationTimeout: 0.5 });
    await client.connect();
    await assert.rejects(client.sendMessage('lost'), OperationTimeout);
    server.behaviour.puback = true;
    await client.sendMessage('next');
    assert.deepEqual(seen.background, []);
  });

  it('with connectionRetry off, operations in flight when the server drops fail with OperationCancelled', async () => {
    server.behaviour.onPublish = () => undefined;
    server.behaviour.puback = false;
    const { client, seen } = makeClient({ connectionRetry: false, operationTimeout: 5 });
    await client.connect();
    const peer = await server.nextPeer(0);
    const twin = client.getTwin();
    const sent = client.sendMessage('in flight');
    await peer.nextPublish((p) => p.topic.startsWith('$iothub/twin/GET/'));
    await peer.nextPublish((p) => p.topic.startsWith('devices/d/modules/m/messages/events/'));
    peer.destroy();
    await assert.rejects(twin, OperationCancelled);
    await assert.rejects(sent, OperationCancelled);
    assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError));
    assert.equal(client.connectionState, 'disconnected');
  });

  it('a twin request in flight when the server drops is re-sent once on the new connection', async () => {
    server.behaviour.onPublish = () => undefined;
    const { client } = makeClient({ operationTimeout: 3 });
    const twin = client.getTwin();
    const first = await server.nextPeer(0);
    const get = await first.nextPublish((p) => p.topic.startsWith('$iothub/twin/GET/'));
    first.destroy();
    const second = await server.nextPeer(1);
    const again = await second.nextPublish((p) => p.topic.startsWith('$iothub/twin/GET/'));
    assert.equal(again.topic, get.topic);
    second.publish(`$iothub/twin/res/200/?$rid=${ridOf(again.topic)}`, JSON.stringify(DEFAULT_TWIN));
    assert.deepEqual(await twin, DEFAULT_TWIN);
  });
});

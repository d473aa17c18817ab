// Every public error class from a real situation against the local hub (wrong key, refused CONNECT, hub down,
// untrusted server, withheld response, shutdown…), never from a mocked transport.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { issueCertificate } from '../../src/hub/x509';
import type { LocalHub } from '../../src/hub';
import { createSas } from '../../src/hub/sas';
import {
  ClientError,
  ConnectionDroppedError,
  ConnectionFailedError,
  CredentialError,
  IoTHubModuleClient,
  Message,
  MethodResponse,
  NoConnectionError,
  OperationCancelled,
  OperationTimeout,
  ValueError,
} from '../../src/index';
import { clientFor, track, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

describe('client errors from real situations', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  it('wrong key → CredentialError after one re-signed retry (CONNACK 5 twice)', async () => {
    const m = hub.addModule('edev', 'wrongkey');
    const bad = m.connectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`,
    );
    const client = track(IoTHubModuleClient.createFromConnectionString(bad, { serverVerificationCert: hub.caCert }));
    await assert.rejects(
      client.connect(),
      (e: unknown) => e instanceof CredentialError && e.code === 'credential-error' && !e.retryable,
    );
    assert.deepEqual(
      hub.observed.connects.filter((c) => c.clientId === 'edev/wrongkey').map((c) => c.returnCode),
      [5, 5],
    );
    assert.equal(client.connectionState, 'disconnected');
    await assert.rejects(client.sendMessage('x'), CredentialError);
  });

  it('a renewable token refused once (CONNACK 5) is re-signed and the connect succeeds', async () => {
    const client = clientFor(hub, 'edev', 'resign');
    hub.faults.refuseConnects(1, 5);
    await client.connect();
    assert.equal(client.connected, true);
    assert.deepEqual(
      hub.observed.connects.map((c) => c.returnCode),
      [5, 0],
    );
  });

  const refusals: Array<[number, new (...a: never[]) => Error, string]> = [
    [1, ClientError, 'protocol-error'],
    [2, ClientError, 'protocol-error'],
    [3, ConnectionFailedError, 'connection-failed'],
    [4, CredentialError, 'credential-error'],
  ];
  for (const [rc, cls, code] of refusals) {
    it(`refused CONNECT with return code ${rc} → ${cls.name} (${code})`, async () => {
      const client = clientFor(hub, 'edev', `refuse${rc}`);
      hub.faults.refuseConnects(2, rc);
      await assert.rejects(client.connect(), (e: unknown) => e instanceof cls && (e as ClientError).code === code);
      assert.equal(client.connected, false);
    });
  }

  it('hub stopped → ConnectionFailedError; works again after restart', async () => {
    const client = clientFor(hub, 'edev', 'stopped');
    await hub.stop();
    try {
      await assert.rejects(client.connect(), (e: unknown) => e instanceof ConnectionFailedError && e.retryable);
      await assert.rejects(client.sendMessage('x'), ConnectionFailedError);
    } finally {
      await hub.restart();
    }
    await client.sendMessage('x');
    assert.equal(client.connected, true);
  });

  it('an untrusted server certificate → ClientError tls-error', async () => {
    const other = await issueCertificate(
      { commonName: 'Other CA', ca: true, keyUsage: ['keyCertSign'] },
      { keyType: 'rsa' },
    );
    const client = clientFor(hub, 'edev', 'tls', { serverVerificationCert: other.cert });
    await assert.rejects(client.connect(), (e: unknown) => e instanceof ClientError && e.code === 'tls-error');
  });

  it('a cipher list that matches nothing → ClientError tls-error; a valid TLS 1.2 list connects', async () => {
    const bad = clientFor(hub, 'edev', 'cipher-bad', { cipher: 'no_such_cipher' });
    await assert.rejects(bad.connect(), (e: unknown) => e instanceof ClientError && e.code === 'tls-error');
    const good = clientFor(hub, 'edev', 'cipher-good', {
      cipher: ['ecdhe_rsa_aes128_gcm_sha256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
    });
    await good.sendMessage('x');
    assert.equal(good.connected, true);
  });

  it('no CONNACK (a TLS server that never answers) → OperationTimeout from the connect watchdog', async () => {
    const pems = await issueCertificate(
      { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
      { keyType: 'rsa' },
    );
    const sockets = new Set<tls.TLSSocket>();
    const server = tls.createServer({ key: pems.key, cert: pems.cert }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.resume(); // read (and ignore) the CONNECT, so the client's close is seen
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      const m = hub.addModule('edev', 'silent');
      const cs = m.connectionString.replace(/GatewayHostName=[^;]+/, `GatewayHostName=localhost:${port}`);
      const client = track(
        IoTHubModuleClient.createFromConnectionString(cs, { serverVerificationCert: pems.cert, operationTimeout: 0.5 }),
      );
      await assert.rejects(client.connect(), (e: unknown) => e instanceof OperationTimeout);
      assert.equal(client.connectionState, 'disconnected');
      await until(() => [...sockets].every((s) => s.destroyed), 'client closed its socket');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    }
  });

  it('a withheld twin response → OperationTimeout after operationTimeout', async () => {
    const client = clientFor(hub, 'edev', 'slow', { operationTimeout: 0.5 });
    await client.connect();
    hub.faults.withholdTwinResponses(true);
    const started = Date.now();
    await assert.rejects(
      client.getTwin(),
      (e: unknown) => e instanceof OperationTimeout && e.code === 'operation-timeout',
    );
    assert.ok(Date.now() - started >= 450);
    hub.faults.withholdTwinResponses(false);
    assert.equal(typeof (await client.getTwin()).desired.$version, 'number');
  });

  // The Python SDK fails at once with ConnectionFailedError during an outage; this client waits for the reconnect (it
  // loses nothing) but, when none comes within operationTimeout, fails the same way: a ClientError, never the
  // OperationTimeout that ported `catch (ClientError)` code would miss. The cause is the last connect error.
  it('operations waiting for a reconnect that does not come in time → ConnectionFailedError (cause: the last connect error)', async () => {
    const client = clientFor(hub, 'edev', 'outage', { operationTimeout: 0.5, connectionRetryInterval: 1 });
    const background: Error[] = [];
    client.onBackgroundException = (e) => background.push(e);
    await client.connect();
    await client.getTwin(); // the twin subscription exists: getTwin and the patch only wait for the connection
    await hub.stop();
    try {
      await until(() => !client.connected, 'outage noticed');
      const outage = (e: unknown): boolean =>
        e instanceof ConnectionFailedError &&
        e instanceof ClientError &&
        e.code === 'connection-failed' &&
        e.cause instanceof Error;
      const started = Date.now();
      await Promise.all([
        assert.rejects(client.sendMessage('lost?'), outage),
        assert.rejects(client.getTwin(), outage),
        assert.rejects(client.patchTwinReportedProperties({ during: 'outage' }), outage),
        assert.rejects(client.sendMessageToOutput('lost?', 'o'), outage),
      ]);
      assert.ok(Date.now() - started >= 450, 'they waited for the reconnect first');
      // The cause is what kept the client offline: a failed reconnect (refused) once one was tried, else the drop.
      await until(() => background.some((e) => e instanceof ConnectionFailedError), 'a failed reconnect');
      const err = await client.sendMessage('lost again?').then(
        () => assert.fail('sent during the outage'),
        (e: unknown) => e as ConnectionFailedError,
      );
      assert.ok(err.cause instanceof ConnectionFailedError, String(err.cause));
    } finally {
      await hub.restart();
    }
    await until(() => client.connected, 'reconnected');
    await client.sendMessage('after the outage');
  });

  it('an operation made during an outage waits and succeeds when the reconnect comes within operationTimeout', async () => {
    const client = clientFor(hub, 'edev', 'outage-short', { operationTimeout: 20, connectionRetryInterval: 1 });
    await client.connect();
    await hub.stop();
    let sent: Promise<void>;
    try {
      await until(() => !client.connected, 'outage noticed');
      sent = client.sendMessage('kept');
    } finally {
      await hub.restart();
    }
    await sent;
    await until(() => hub.observed.upstream.some((u) => u.body.toString() === 'kept'), 'the waiting message upstream');
  });

  it('disconnect cancels pending operations with OperationCancelled', async () => {
    const client = clientFor(hub, 'edev', 'cancel');
    await client.connect();
    hub.faults.withholdTwinResponses(true);
    const pending = client.getTwin();
    await until(() => hub.observed.publishes.some((p) => p.topic.startsWith('$iothub/twin/GET')), 'twin GET published');
    const cancelled = assert.rejects(
      pending,
      (e: unknown) => e instanceof OperationCancelled && e.code === 'operation-cancelled',
    );
    await client.disconnect();
    await cancelled;
    assert.equal(client.connectionState, 'disconnected');
  });

  it('autoConnect off → NoConnectionError', async () => {
    const client = clientFor(hub, 'edev', 'noauto', { autoConnect: false });
    await assert.rejects(
      client.sendMessage('x'),
      (e: unknown) => e instanceof NoConnectionError && e.code === 'no-connection',
    );
    await assert.rejects(client.getTwin(), NoConnectionError);
    await client.connect();
    await client.sendMessage('x');
  });

  it('an unexpected drop is reported as ConnectionDroppedError and the client reconnects', async () => {
    const client = clientFor(hub, 'edev', 'drop', { connectionRetryInterval: 1 });
    const background: Error[] = [];
    client.onBackgroundException = (e) => background.push(e);
    await client.connect();
    hub.faults.dropConnection('edev/drop');
    await until(() => background.length > 0, 'background exception');
    assert.ok(background[0] instanceof ConnectionDroppedError);
    await until(() => client.connected, 'reconnected');
    await client.sendMessage('after');
  });

  it('a user token that expires: the hub closes the connection, the reconnect is refused (CredentialError), retry stops', async () => {
    const m = hub.addModule('edev', 'expiring');
    const token = createSas(`${hub.hostName}/devices/edev/modules/expiring`, m.primaryKey, 2);
    const client = track(
      IoTHubModuleClient.createFromSastoken(token, {
        serverVerificationCert: hub.caCert,
        gatewayHostname: `localhost:${hub.port}`,
        connectionRetryInterval: 1,
      }),
    );
    const background: Error[] = [];
    let asked = 0;
    client.onBackgroundException = (e) => background.push(e);
    client.onNewSastokenRequired = () => {
      asked += 1;
    };
    await client.connect();
    await until(
      () => background.some((e) => e instanceof CredentialError),
      'CredentialError in the background',
      15_000,
    );
    assert.ok(background[0] instanceof ConnectionDroppedError);
    assert.ok(asked >= 1, 'onNewSastokenRequired was called');
    assert.equal(client.connectionState, 'disconnected');
    await assert.rejects(
      client.sendMessage('x'),
      (e: unknown) => e instanceof CredentialError || e instanceof ConnectionFailedError,
    );
  });

  it('argument errors: expired or device tokens, bad connection strings, invokeMethod and updateSastoken misuse', async () => {
    const m = hub.addModule('edev', 'args');
    const expired = createSas(`${hub.hostName}/devices/edev/modules/args`, m.primaryKey, -10);
    assert.throws(
      () => IoTHubModuleClient.createFromSastoken(expired),
      (e: unknown) => e instanceof ValueError && /expired/.test(e.message),
    );
    const device = createSas(`${hub.hostName}/devices/edev`, m.primaryKey, 100);
    assert.throws(() => IoTHubModuleClient.createFromSastoken(device), /for a device/);
    assert.throws(() => IoTHubModuleClient.createFromConnectionString('HostName=h;DeviceId=d;x509=true'), ValueError);
    assert.throws(
      () => IoTHubModuleClient.createFromConnectionString(m.connectionString, { gatewayHostname: 'gw' }),
      TypeError,
    );
    assert.throws(
      () => IoTHubModuleClient.createFromConnectionString(`HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=a`),
      /Invalid Symmetric Key/,
    );
    const client = clientFor(hub, 'edev', 'args');
    await assert.rejects(
      client.invokeMethod({ methodName: 'x' }, 'edev', 'other'),
      (e: unknown) => e instanceof ClientError && e.code === 'not-supported',
    );
    await assert.rejects(
      client.updateSastoken(expired),
      (e: unknown) => e instanceof ClientError && e.code === 'not-supported',
    );
    const user = track(
      IoTHubModuleClient.createFromSastoken(createSas(`${hub.hostName}/devices/edev/modules/args`, m.primaryKey, 100)),
    );
    // Every error of a method that returns a promise is a rejection, argument errors included (house style).
    await assert.rejects(
      user.updateSastoken(createSas(`${hub.hostName}/devices/edev/modules/other`, m.primaryKey, 100)),
      ValueError,
    );
    await assert.rejects(user.updateSastoken(expired), ValueError);
    await assert.rejects(user.updateSastoken('SharedAccessSignature nonsense'), ValueError);
    await assert.rejects(client.invokeMethod({} as never, 'edev'), TypeError);
    await assert.rejects(client.invokeMethod({ methodName: 'x' }, ''), TypeError);
    await assert.rejects(client.invokeMethod({ methodName: 'x' }, 'edev', 7 as never), TypeError);
    await assert.rejects(client.sendMethodResponse(null as never), TypeError);
    await assert.rejects(client.sendMethodResponse(new MethodResponse('1', 200.5)), TypeError);
    await assert.rejects(client.sendMethodResponse(new MethodResponse(1 as never, 200)), TypeError);
    await assert.rejects(client.receiveMessageOnInput(3 as never), TypeError);
    assert.equal(user.connected, false);
  });

  it('after shutdown every call → ClientError shut-down', async () => {
    const client = clientFor(hub, 'edev', 'shut');
    await client.connect();
    await client.shutdown();
    const isShutDown = (e: unknown): boolean => e instanceof ClientError && e.code === 'shut-down';
    await assert.rejects(client.connect(), isShutDown);
    await assert.rejects(client.disconnect(), isShutDown);
    await assert.rejects(client.sendMessage('x'), isShutDown);
    await assert.rejects(client.sendMessageToOutput(new Message('x'), 'o'), isShutDown);
    await assert.rejects(client.getTwin(), isShutDown);
    await assert.rejects(client.patchTwinReportedProperties({}), isShutDown);
    await assert.rejects(client.sendMethodResponse(new MethodResponse('1', 200)), isShutDown);
    await assert.rejects(client.invokeMethod({ methodName: 'x' }, 'd'), isShutDown);
    await assert.rejects(client.updateSastoken('x'), isShutDown);
    await assert.rejects(client.receiveMessageOnInput('i'), isShutDown);
    await assert.rejects(client.receiveMethodRequest(), isShutDown);
    await assert.rejects(client.receiveTwinDesiredPropertiesPatch(), isShutDown);
    assert.throws(() => {
      client.onMessageReceived = () => undefined;
    }, isShutDown);
    await client.shutdown();
    assert.equal(client.connected, false);
  });
});

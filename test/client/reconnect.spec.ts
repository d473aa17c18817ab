// Reconnect behaviour against the local hub: hub stop/restart with 1,000 QoS 1 messages in flight (none lost),
// subscriptions restored explicitly, twin requests re-sent once, retry off → OperationCancelled.
import assert from 'node:assert/strict';
import type { LocalHub } from '../../src/hub';
import {
  ConnectionDroppedError,
  ConnectionFailedError,
  Message,
  MethodResponse,
  OperationCancelled,
  type ConnectionState,
  type MethodRequest,
} from '../../src/index';
import { clientFor, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

describe('client reconnect', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  it('loses none of 1,000 QoS 1 messages across a hub stop + restart and restores every subscription', async function () {
    this.timeout(60_000);
    const client = clientFor(hub, 'rdev', 'restart', { connectionRetryInterval: 1 });
    const states: ConnectionState[] = [];
    const background: Error[] = [];
    client.onConnectionStateChange = (info) => states.push(info.state);
    client.onBackgroundException = (e) => background.push(e);
    client.onMethodRequestReceived = async (req) =>
      client.sendMethodResponse(new MethodResponse(req.requestId, 200, 'alive'));
    client.onMessageReceived = () => undefined;
    await until(
      () => hub.observed.subscriptions.filter((s) => s.clientId === 'rdev/restart').length >= 2,
      'initial subscriptions',
    );
    const total = 1000;
    const sends = Array.from({ length: total }, (_, i) =>
      client.sendMessage(new Message(`{"i":${i}}`, { messageId: `m${i}` })),
    );
    await until(() => hub.observed.upstream.length >= 100, 'some messages upstream');
    await hub.stop();
    const stoppedAt = Date.now();
    await until(() => client.connectionState !== 'connected', 'client noticed the outage');
    await hub.restart();
    await Promise.all(sends);
    const ids = new Set(hub.observed.upstream.map((u) => u.systemProperties['$.mid']));
    assert.equal(ids.size, total, `unique messages upstream: ${ids.size}`);
    for (let i = 0; i < total; i += 1) assert.ok(ids.has(`m${i}`), `m${i} lost`);
    assert.ok(background.some((e) => e instanceof ConnectionDroppedError));
    // mqtt.js re-sends the in-flight messages as soon as the CONNACK arrives, so their PUBACKs may all be in before
    // the client has restored its subscriptions and reports `connected` (seen on Node 22 and 24).
    await until(() => states.at(-1) === 'connected', 'connected again after the restart');
    assert.ok(states.includes('disconnected'), states.join(','));
    const resubscribed = hub.observed.subscriptions
      .filter((s) => s.clientId === 'rdev/restart' && s.at >= stoppedAt)
      .map((s) => s.topic);
    // The hub records the session's own restore too; our explicit SUBSCRIBE shows up as well (wire.spec checks it).
    assert.deepEqual([...new Set(resubscribed)].sort(), [
      '$iothub/methods/POST/#',
      'devices/rdev/modules/restart/inputs/#',
    ]);
    assert.deepEqual(await hub.invokeMethod('rdev', 'restart', { methodName: 'ping', responseTimeoutInSeconds: 5 }), {
      status: 200,
      payload: 'alive',
    });
  });

  for (const websockets of [false, true]) {
    it(`notices a drop by the hub at once and reconnects (${websockets ? 'MQTT over WebSockets' : 'MQTT over TLS'})`, async () => {
      const moduleId = websockets ? 'drop-wss' : 'drop-tls';
      const client = clientFor(hub, 'rdev', moduleId, { websockets, connectionRetryInterval: 1, keepAlive: 60 });
      const states: ConnectionState[] = [];
      client.onConnectionStateChange = (info) => states.push(info.state);
      await client.connect();
      const droppedAt = Date.now();
      hub.faults.dropConnection(`rdev/${moduleId}`);
      // Long before the 60 s keep-alive would find out: the transport itself must report the close.
      await until(() => states.includes('disconnected'), 'the drop noticed', 5_000);
      assert.ok(Date.now() - droppedAt < 5_000);
      await until(() => states.at(-1) === 'connected', 'reconnected', 10_000);
      await client.sendMessage('after the drop');
      assert.equal(hub.observed.upstream.at(-1)?.body.toString(), 'after the drop');
    });
  }

  it('re-sends a twin request whose response was lost across a drop (same $rid), once', async () => {
    const client = clientFor(hub, 'rdev', 'twin', { connectionRetryInterval: 1 });
    await client.connect();
    hub.faults.withholdTwinResponses(true);
    const twin = client.getTwin();
    await until(() => hub.observed.publishes.some((p) => p.topic.startsWith('$iothub/twin/GET/')), 'first GET');
    hub.faults.withholdTwinResponses(false);
    hub.faults.dropConnection('rdev/twin');
    const doc = await twin;
    assert.equal(typeof doc.desired.$version, 'number');
    const gets = hub.observed.publishes.filter((p) => p.topic.startsWith('$iothub/twin/GET/')).map((p) => p.topic);
    assert.equal(gets.length, 2);
    assert.equal(gets[0], gets[1]);
  });

  it('with connectionRetry off a drop cancels pending operations and stays disconnected', async () => {
    const client = clientFor(hub, 'rdev', 'noretry', { connectionRetry: false });
    const background: Error[] = [];
    client.onBackgroundException = (e) => background.push(e);
    await client.connect();
    hub.faults.withholdTwinResponses(true);
    const twin = client.getTwin();
    const cancelled = assert.rejects(twin, OperationCancelled);
    await until(() => hub.observed.publishes.some((p) => p.topic.startsWith('$iothub/twin/GET/')), 'GET');
    hub.faults.dropConnection('rdev/noretry');
    await cancelled;
    assert.equal(client.connectionState, 'disconnected');
    assert.ok(background[0] instanceof ConnectionDroppedError);
    // The next operation auto-connects again.
    await client.sendMessage('again');
    assert.equal(client.connected, true);
  });

  it('a handler set while the hub is down reports the failure in the background and subscribes at the next connect', async () => {
    const client = clientFor(hub, 'rdev', 'late-handler');
    const background: Error[] = [];
    client.onBackgroundException = (e) => background.push(e);
    const received: string[] = [];
    await hub.stop();
    try {
      client.onMessageReceived = (m) => {
        received.push(String(m.data));
      };
      await until(() => background.length > 0, 'background failure');
      assert.ok(background[0] instanceof ConnectionFailedError);
    } finally {
      await hub.restart();
    }
    await client.connect();
    await hub.sendToInput('rdev', 'late-handler', 'in', { body: 'hello' });
    await until(() => received.length === 1, 'message delivered');
    assert.deepEqual(received, ['hello']);
  });

  it('a method request can still be answered after a reconnect', async () => {
    const client = clientFor(hub, 'rdev', 'slow-method', { connectionRetryInterval: 1 });
    let request: MethodRequest | undefined;
    client.onMethodRequestReceived = (req) => {
      request = req;
    };
    await until(
      () => hub.observed.subscriptions.some((s) => s.clientId === 'rdev/slow-method'),
      'methods subscription',
    );
    const call = hub.invokeMethod('rdev', 'slow-method', {
      methodName: 'slow',
      payload: 1,
      responseTimeoutInSeconds: 10,
    });
    await until(() => request !== undefined, 'request delivered');
    hub.faults.dropConnection('rdev/slow-method');
    await until(() => !client.connected, 'drop noticed');
    await until(() => client.connected, 'reconnected');
    await client.sendMethodResponse(MethodResponse.createFromMethodRequest(request!, 200, 'late'));
    assert.deepEqual(await call, { status: 200, payload: 'late' });
  });

  it('messages sent while the hub is down wait and go out after the reconnect', async () => {
    const client = clientFor(hub, 'rdev', 'offline', { connectionRetryInterval: 1 });
    await client.connect();
    await hub.stop();
    let sent: Promise<void>;
    try {
      await until(() => !client.connected, 'disconnected');
      sent = client.sendMessage(new Message('late', { messageId: 'late' }));
    } finally {
      await hub.restart();
    }
    await sent;
    assert.ok(hub.observed.upstream.some((u) => u.systemProperties['$.mid'] === 'late'));
  });
});

// Connection lifecycle against the local hub: keep-alive detects a silent hub, the connected / onConnectionStateChange
// sequence over a network cut and reconnect (with the logger), capped back-off with jitter under an injected clock,
// ensureDesiredProperties off, and the handler / deprecated receive mode exclusion per client.
import assert from 'node:assert/strict';
import type { LocalHub } from '../../src/hub';
import {
  ClientError,
  ConnectionDroppedError,
  IoTHubModuleClient,
  OperationCancelled,
  type ClientOptions,
  type ConnectionState,
} from '../../src/index';
import type { InternalClientOptions } from '../../src/client/options';
import { backoffDelayMs } from '../../src/client/backoff';
import { FakeClock } from '../helpers/FakeClock';
import { startForwarder, type TcpForwarder } from '../helpers/proxies';
import { clientFor, nextCall, track, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

type StateInfo = { state: ConnectionState; connected: boolean; reason?: Error; seenConnected: boolean };

describe('client lifecycle', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  /** A client whose connection runs through a TCP forwarder (which the test can freeze or cut). */
  function clientThrough(
    fwd: TcpForwarder,
    moduleId: string,
    options: ClientOptions & InternalClientOptions,
  ): IoTHubModuleClient {
    const m = hub.addModule('ldev', moduleId);
    const cs = m.connectionString.replace(/GatewayHostName=[^;]+/, `GatewayHostName=localhost:${fwd.port}`);
    return track(IoTHubModuleClient.createFromConnectionString(cs, { serverVerificationCert: hub.caCert, ...options }));
  }

  function recordStates(client: IoTHubModuleClient): StateInfo[] {
    const states: StateInfo[] = [];
    client.onConnectionStateChange = (info) => states.push({ ...info, seenConnected: client.connected });
    return states;
  }

  it('keepAlive: a hub that goes silent is detected by keep-alive and the client reconnects', async function () {
    this.timeout(20_000);
    const fwd = await startForwarder('127.0.0.1', hub.port);
    try {
      const client = clientThrough(fwd, 'keepalive', { keepAlive: 1, connectionRetryInterval: 1 });
      const states = recordStates(client);
      await client.connect();
      const frozenAt = Date.now();
      fwd.freezeOpen(); // the TCP connection stays open but nothing comes back: only keep-alive can notice
      await until(() => states.some((s) => s.state === 'disconnected'), 'keep-alive timeout noticed', 10_000);
      const noticedAfter = Date.now() - frozenAt;
      // mqtt.js sends PINGREQ every keepAlive seconds and gives up when the next tick finds no PINGRESP.
      assert.ok(noticedAfter >= 900 && noticedAfter < 4_000, `noticed after ${noticedAfter} ms`);
      const drop = states.find((s) => s.state === 'disconnected');
      assert.ok(drop?.reason instanceof ConnectionDroppedError, String(drop?.reason));
      await until(() => client.connected, 'reconnected', 10_000);
      assert.equal(fwd.connections, 2);
      await client.sendMessage('after the silence');
      assert.ok(
        hub.observed.upstream.some((m) => m.moduleId === 'keepalive' && m.body.toString() === 'after the silence'),
      );
      await client.shutdown();
    } finally {
      await fwd.close();
    }
  });

  it('a subscription waiting for its SUBACK: shutdown cancels it (OperationCancelled); after a drop with retry on the reconnect subscribes it', async () => {
    const fwd = await startForwarder('127.0.0.1', hub.port);
    try {
      const cancelled = clientThrough(fwd, 'suback-shutdown', {});
      await cancelled.connect();
      fwd.freezeOpen(); // the SUBSCRIBE leaves, its SUBACK never comes back
      const enabling = cancelled.receiveTwinDesiredPropertiesPatch();
      await cancelled.shutdown();
      await assert.rejects(enabling, (e: unknown) => e instanceof OperationCancelled);

      const retried = clientThrough(fwd, 'suback-drop', { connectionRetryInterval: 1, ensureDesiredProperties: false });
      await retried.connect();
      fwd.freezeOpen();
      const patch = retried.receiveTwinDesiredPropertiesPatch();
      fwd.cutOpen(); // the connection drops before the SUBACK: the call keeps waiting and the reconnect subscribes
      await until(
        () => hub.observed.subscriptions.some((sub) => sub.clientId === 'ldev/suback-drop'),
        'subscribed after the reconnect',
      );
      await until(() => retried.connected, 'reconnected');
      hub.updateDesired('ldev', 'suback-drop', { after: 'drop' });
      assert.equal((await patch).after, 'drop');
      await retried.shutdown();
    } finally {
      await fwd.close();
    }
  });

  it('connected / onConnectionStateChange over a network cut and the reconnect; the logger hears the drop', async () => {
    const fwd = await startForwarder('127.0.0.1', hub.port);
    try {
      const lines: string[] = [];
      const logger = { warn: (msg: string) => lines.push(msg) };
      const client = clientThrough(fwd, 'states', { connectionRetryInterval: 1, logger });
      const states = recordStates(client);
      assert.equal(client.connected, false);
      await client.connect();
      assert.equal(client.connected, true);
      fwd.cutOpen();
      await until(() => states.filter((s) => s.state === 'connected').length === 2, 'reconnected');
      assert.deepEqual(
        states.map((s) => [s.state, s.connected]),
        [
          ['connecting', false],
          ['connected', true],
          ['disconnected', false],
          ['connecting', false],
          ['connected', true],
        ],
      );
      // The handler sees the state it is told about.
      for (const s of states) assert.equal(s.seenConnected, s.connected);
      assert.ok(states[2]!.reason instanceof ConnectionDroppedError);
      assert.ok(
        lines.some((l) => l.includes('ConnectionDroppedError')),
        lines.join('\n'),
      );
      await client.disconnect();
      assert.deepEqual(
        states.slice(5).map((s) => s.state),
        ['disconnecting', 'disconnected'],
      );
      assert.equal(client.connected, false);
      await client.shutdown();
    } finally {
      await fwd.close();
    }
  });

  it('reconnect back-off under an injected clock: 10 ms first, then doubling with jitter, capped at connectionRetryInterval', async function () {
    this.timeout(20_000);
    const clock = new FakeClock(Date.now());
    const capSeconds = 2;
    const client = clientFor(hub, 'ldev', 'backoff', { clock, connectionRetryInterval: capSeconds });
    const states = recordStates(client);
    await client.connect();
    // The reconnect wait is the one timer that keeps the process alive (operation deadlines and renewal do not).
    const reconnectWait = (): { ms: number; dueIn: number } | undefined => clock.armed().find((t) => t.keepAlive);
    const delays: number[] = [];
    await hub.stop();
    try {
      for (let attempt = 0; attempt < 9; attempt++) {
        await until(() => reconnectWait() !== undefined, `reconnect wait ${attempt} armed`);
        const wait = reconnectWait()!;
        delays.push(wait.ms);
        const attemptsBefore = states.filter((s) => s.state === 'connecting').length;
        clock.advance(wait.dueIn);
        assert.equal(
          states.filter((s) => s.state === 'connecting').length,
          attemptsBefore + 1,
          'the wait started a connect',
        );
      }
    } finally {
      await hub.restart();
    }
    // Attempt k waits about backoffDelayMs(k) with the jitter factor in [0.8, 1.2): exponential, then flat at the cap.
    assert.equal(delays[0], 10);
    const factors = delays.slice(1).map((d, i) => d / backoffDelayMs(i + 1, capSeconds, () => 0.5));
    for (const f of factors) assert.ok(f >= 0.8 && f <= 1.2, `jitter factor ${f} in ${delays.join(', ')}`);
    for (const d of delays) assert.ok(d <= 1.2 * capSeconds * 1000, `capped: ${delays.join(', ')}`);
    assert.ok(
      delays.slice(-4).every((d) => d >= 0.8 * capSeconds * 1000),
      `reaches the cap: ${delays.join(', ')}`,
    );
    assert.ok(new Set(factors.map((f) => f.toFixed(3))).size > 1, `jittered: ${delays.join(', ')}`);
    // The hub is back (the connect started by the last wait may already have found it): the next wait reconnects.
    await until(() => client.connected || reconnectWait() !== undefined, 'connected or next reconnect wait armed');
    if (!client.connected) clock.advance(reconnectWait()!.dueIn);
    await until(() => client.connected, 'reconnected after the restart');
    await client.sendMessage('back');
  });

  describe('refused credentials at the first connect (injected clock)', () => {
    /** A client of module `moduleId` whose key the hub does not know (yet). */
    function wrongKeyClient(
      moduleId: string,
      clock: FakeClock,
      options: ClientOptions & InternalClientOptions,
    ): { client: IoTHubModuleClient; key: string } {
      const m = hub.addModule('ldev', moduleId);
      const key = Buffer.alloc(32, 9).toString('base64');
      const cs = m.connectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${key}`);
      const all: ClientOptions & InternalClientOptions = { serverVerificationCert: hub.caCert, ...options, clock };
      const client = track(IoTHubModuleClient.createFromConnectionString(cs, all));
      return { client, key };
    }
    const reconnectWait = (clock: FakeClock): { ms: number; dueIn: number } | undefined =>
      clock.armed().find((t) => t.keepAlive);

    it('by default (as the Python SDK) connect() rejects with CredentialError and nothing retries', async () => {
      const clock = new FakeClock(Date.now());
      const { client } = wrongKeyClient('pyfirst', clock, { connectionRetryInterval: 2 });
      await assert.rejects(client.connect(), { code: 'credential-error' });
      assert.equal(reconnectWait(clock), undefined);
    });

    it('connectionRetryForever: connect() still rejects, then the client retries with back-off capped at 6 × the interval, and connects once the hub takes the key', async function () {
      this.timeout(20_000);
      const clock = new FakeClock(Date.now());
      const capSeconds = 2;
      const { client, key } = wrongKeyClient('forever', clock, {
        connectionRetryInterval: capSeconds,
        connectionRetryForever: true,
      });
      const states = recordStates(client);
      await assert.rejects(client.connect(), { code: 'credential-error' });
      const delays: number[] = [];
      for (let attempt = 0; attempt < 8; attempt++) {
        await until(() => reconnectWait(clock) !== undefined, `reconnect wait ${attempt} armed`);
        const wait = reconnectWait(clock)!;
        delays.push(wait.ms);
        const last = states.at(-1)!;
        assert.equal(last.state, 'disconnected');
        assert.equal(last.reason?.name, 'CredentialError');
        assert.equal(
          (last as { nextRetryAt?: number }).nextRetryAt,
          clock.now() + wait.dueIn,
          'the state change says when the next try comes',
        );
        clock.advance(wait.dueIn);
        await until(() => states.at(-1)!.state !== 'connecting', `attempt ${attempt} refused`);
      }
      const slowCap = 6 * capSeconds * 1000;
      assert.equal(delays[0], 10);
      for (const d of delays) assert.ok(d <= 1.2 * slowCap, `capped: ${delays.join(', ')}`);
      assert.ok(
        delays.slice(-2).every((d) => d >= 0.8 * slowCap),
        `reaches the longer cap: ${delays.join(', ')}`,
      );
      // The key is fixed on the hub side: the next attempt connects.
      hub.removeModule('ldev', 'forever');
      hub.addModule('ldev', 'forever', { primaryKey: key });
      await until(() => reconnectWait(clock) !== undefined, 'next wait armed');
      clock.advance(reconnectWait(clock)!.dueIn);
      await until(() => client.connected, 'connected with the fixed key');
      await client.sendMessage('hello');
    });
  });

  it('ensureDesiredProperties off: no twin re-read after a reconnect, live patches still arrive (full: false)', async () => {
    const client = clientFor(hub, 'ldev', 'noensure', { ensureDesiredProperties: false });
    const calls: Array<[Record<string, unknown>, { full: boolean }]> = [];
    client.onTwinDesiredPropertiesPatchReceived = (patch, info) => {
      calls.push([patch, info]);
    };
    await until(
      () => client.connected && hub.observed.subscriptions.some((s) => s.clientId === 'ldev/noensure'),
      'desired subscription',
    );
    await client.disconnect();
    hub.updateDesired('ldev', 'noensure', { missed: 1 });
    hub.observed.clear();
    await client.connect();
    await client.getTwin(); // our own GET: a round trip after which a re-read would have been delivered
    const gets = hub.observed.publishes.filter(
      (p) => p.clientId === 'ldev/noensure' && p.topic.startsWith('$iothub/twin/GET'),
    );
    assert.equal(gets.length, 1, 'only our own GET');
    assert.equal(calls.length, 0);
    const live = nextCall<Record<string, unknown>>(
      (cb) =>
        (client.onTwinDesiredPropertiesPatchReceived = (patch, info) => {
          calls.push([patch, info]);
          cb(patch);
        }),
      'live patch',
    );
    await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'ldev/noensure'), 'resubscribed');
    hub.updateDesired('ldev', 'noensure', { live: 2 });
    assert.equal((await live).live, 2);
    assert.deepEqual(
      calls.map(([, info]) => info.full),
      [false],
    );
  });

  it('handler mode and the deprecated receive APIs exclude each other across features (per client)', async () => {
    // ensureDesiredProperties off: otherwise the first connect delivers the whole desired document to the receiver.
    const apiMode = clientFor(hub, 'ldev', 'apimode', { ensureDesiredProperties: false });
    const waiting = apiMode.receiveTwinDesiredPropertiesPatch();
    const settled = waiting.then(
      () => 'patch',
      (e: unknown) => (e as Error).name,
    );
    await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'ldev/apimode'), 'desired subscription');
    assert.throws(
      () => {
        apiMode.onMethodRequestReceived = () => undefined;
      },
      (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
    );
    const handlerMode = clientFor(hub, 'ldev', 'handlermode');
    handlerMode.onTwinDesiredPropertiesPatchReceived = () => undefined;
    await assert.rejects(
      handlerMode.receiveMessageOnInput('in'),
      (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
    );
    await assert.rejects(
      handlerMode.receiveMethodRequest('m'),
      (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
    );
    // The receiver that waits is cancelled by shutdown, not left hanging.
    await apiMode.shutdown();
    assert.equal(await settled, 'OperationCancelled');
  });
});

// Input messages, twin, desired patches and direct methods through the client against the local hub, incl. the
// deprecated receive APIs and the handler / receive mode exclusion.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { LocalHub } from '../../src/hub';
import { ClientError, Message, MethodResponse, ValueError, type MethodRequest } from '../../src/index';
import { clientFor, nextCall, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

const NASTY = "a b/$+%&#!*'()é~";

describe('client features', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  describe('input messages', () => {
    it('delivers a routed output of another module with every property, edgeHub stamps as custom properties', async () => {
      hub.setRoutes({
        r1: 'FROM /messages/modules/sender/outputs/out1 INTO BrokeredEndpoint("/modules/receiver/inputs/in 1")',
      });
      const receiver = clientFor(hub, 'fdev', 'receiver');
      const sender = clientFor(hub, 'fdev', 'sender');
      const got = nextCall<Message>((cb) => (receiver.onMessageReceived = cb), 'input message');
      await until(
        () => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/receiver' && s.granted !== 128),
        'input subscription',
      );
      const m = new Message(Buffer.from('{"x":1}'), {
        messageId: NASTY,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
      });
      m.correlationId = 'c1';
      m.customProperties = { [NASTY]: 'ü', k: 'v' };
      await sender.sendMessageToOutput(m, 'out1');
      const received = await got;
      assert.equal(received.inputName, 'in 1');
      assert.ok(Buffer.isBuffer(received.data));
      assert.equal(received.data.toString(), '{"x":1}');
      assert.equal(received.messageId, NASTY);
      assert.equal(received.correlationId, 'c1');
      assert.equal(received.contentType, 'application/json');
      assert.equal(received.contentEncoding, 'utf-8');
      assert.equal(received.customProperties[NASTY], 'ü');
      assert.equal(received.customProperties.k, 'v');
      assert.equal(received.customProperties['$.cdid'], 'fdev');
      assert.equal(received.customProperties['$.cmid'], 'sender');
      assert.equal(received.customProperties['$.on'], 'out1');
    });

    it('a throwing or rejecting handler does not break delivery', async () => {
      const client = clientFor(hub, 'fdev', 'rx2');
      const seen: string[] = [];
      let n = 0;
      client.onMessageReceived = (msg) => {
        seen.push(String(msg.data));
        n += 1;
        if (n === 1) throw new Error('boom');
        return Promise.reject(new Error('async boom'));
      };
      await until(() => client.connected, 'connected');
      await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/rx2'), 'subscription');
      await hub.sendToInput('fdev', 'rx2', 'a', { body: 'one' });
      await hub.sendToInput('fdev', 'rx2', 'a', { body: 'two' });
      await until(() => seen.length === 2, 'two messages');
      assert.deepEqual(seen, ['one', 'two']);
    });

    it('receiveMessageOnInput (deprecated) filters by input name; modes are exclusive', async () => {
      const client = clientFor(hub, 'fdev', 'rx3');
      const pending = client.receiveMessageOnInput('wanted');
      await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/rx3'), 'subscription');
      await hub.sendToInput('fdev', 'rx3', 'other', { body: 'nope' });
      await hub.sendToInput('fdev', 'rx3', 'wanted', { body: 'yes', properties: { p: '1' } });
      const m = await pending;
      assert.equal(String(m.data), 'yes');
      assert.equal(m.inputName, 'wanted');
      assert.deepEqual(m.customProperties, { p: '1' });
      assert.throws(
        () => {
          client.onMessageReceived = () => undefined;
        },
        (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
      );
      const other = clientFor(hub, 'fdev', 'rx4');
      other.onMethodRequestReceived = () => undefined;
      await assert.rejects(
        other.receiveMethodRequest(),
        (e: unknown) => e instanceof ClientError && e.code === 'receive-mode-conflict',
      );
    });

    it('setting a handler to null unsubscribes (the hub then reports the module as not online for methods)', async () => {
      const client = clientFor(hub, 'fdev', 'rx5');
      client.onMethodRequestReceived = async (req) =>
        client.sendMethodResponse(new MethodResponse(req.requestId, 200, 'ok'));
      await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/rx5'), 'subscription');
      assert.deepEqual(await hub.invokeMethod('fdev', 'rx5', { methodName: 'm', responseTimeoutInSeconds: 5 }), {
        status: 200,
        payload: 'ok',
      });
      // The hub says when it has processed the UNSUBSCRIBE (aedes handles it asynchronously).
      const unsubscribed = once(hub.events, 'unsubscribe', { signal: AbortSignal.timeout(10_000) });
      client.onMethodRequestReceived = null;
      assert.equal(client.onMethodRequestReceived, null);
      const [seen] = (await unsubscribed) as [{ clientId: string; topics: string[] }];
      assert.deepEqual(seen, { clientId: 'fdev/rx5', topics: ['$iothub/methods/POST/#'] });
      await assert.rejects(
        hub.invokeMethod('fdev', 'rx5', { methodName: 'm', responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0 }),
        (e: { errorCode?: number }) => e.errorCode === 404103,
      );
      assert.equal(client.connected, true);
    });
  });

  describe('twin', () => {
    it('gets the twin, patches reported properties, receives desired patches', async () => {
      const client = clientFor(hub, 'fdev', 'twin1');
      const twin = await client.getTwin();
      assert.equal(typeof twin.desired.$version, 'number');
      assert.equal(typeof twin.reported.$version, 'number');
      await client.patchTwinReportedProperties({ temp: 21, nested: { a: 'é' } });
      const after = await client.getTwin();
      assert.equal(after.reported.temp, 21);
      assert.deepEqual(after.reported.nested, { a: 'é' });
      assert.equal(hub.getTwin('fdev', 'twin1').properties.reported.temp, 21);
      const patch = nextCall<[Record<string, unknown>, { full: boolean }]>(
        (cb) => (client.onTwinDesiredPropertiesPatchReceived = (p, info) => cb([p, info])),
        'desired patch',
      );
      await until(
        () => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/twin1' && s.topic.includes('desired')),
        'desired sub',
      );
      hub.updateDesired('fdev', 'twin1', { setpoint: 5 });
      const [p, info] = await patch;
      assert.equal(p.setpoint, 5);
      assert.equal(typeof p.$version, 'number');
      assert.deepEqual(info, { full: false });
    });

    it('a bad reported patch (key with a space) is a ClientError bad-request with status 400', async () => {
      const client = clientFor(hub, 'fdev', 'twin2');
      await assert.rejects(
        client.patchTwinReportedProperties({ 'bad key': 1 }),
        (e: unknown) => e instanceof ClientError && e.code === 'bad-request' && e.statusCode === 400,
      );
      await assert.rejects(client.patchTwinReportedProperties(null as never), TypeError);
      await assert.rejects(client.patchTwinReportedProperties([] as never), TypeError);
    });

    it('a reported patch over 256 KB is refused before it is sent, and the connection stays up', async () => {
      const client = clientFor(hub, 'fdev', 'twin-big');
      await client.connect();
      await assert.rejects(
        client.patchTwinReportedProperties({ blob: 'x'.repeat(262_144) }),
        (e: unknown) => e instanceof ValueError && e.code === 'message-too-large',
      );
      await assert.rejects(client.patchTwinReportedProperties({ n: 1n }), TypeError);
      await client.patchTwinReportedProperties({ small: 'ok' });
      assert.equal((await client.getTwin()).reported.small, 'ok');
      assert.equal(
        hub.observed.connects.filter((c) => c.clientId === 'fdev/twin-big').length,
        1,
        'one connection throughout',
      );
    });

    it('throttling (429) is a retryable ClientError throttled', async () => {
      const client = clientFor(hub, 'fdev', 'twin3');
      await client.connect();
      hub.faults.failTwinRequests(429, 1);
      await assert.rejects(
        client.getTwin(),
        (e: unknown) => e instanceof ClientError && e.code === 'throttled' && e.statusCode === 429 && e.retryable,
      );
      hub.faults.failTwinRequests(500, 1);
      await assert.rejects(
        client.getTwin(),
        (e: unknown) => e instanceof ClientError && e.code === 'service-error' && e.statusCode === 500,
      );
      assert.equal((await client.getTwin()).desired.$version > 0, true);
    });

    it('ensureDesiredProperties delivers the full desired document after a change made while disconnected', async () => {
      const client = clientFor(hub, 'fdev', 'twin4');
      const calls: Array<[Record<string, unknown>, boolean]> = [];
      client.onTwinDesiredPropertiesPatchReceived = (p, info) => {
        calls.push([p, info.full]);
      };
      // Set while disconnected: the auto-connect brings the whole document first (as the Python SDK's
      // ensure_desired_properties).
      await until(() => calls.length === 1, 'initial full document');
      assert.equal(calls[0]![1], true);
      await client.disconnect();
      hub.updateDesired('fdev', 'twin4', { mode: 'eco', level: 3 });
      await client.connect();
      await until(() => calls.length === 2, 'full document after reconnect');
      const [doc, full] = calls[1]!;
      assert.equal(full, true);
      assert.equal(doc.mode, 'eco');
      assert.equal(doc.level, 3);
      assert.equal(doc.$version, hub.getTwin('fdev', 'twin4').properties.desired.$version);
      // Unchanged version after another reconnect: nothing is delivered.
      await client.disconnect();
      await client.connect();
      await client.getTwin();
      assert.equal(calls.length, 2);
    });

    it('receiveTwinDesiredPropertiesPatch (deprecated)', async () => {
      const client = clientFor(hub, 'fdev', 'twin5', { ensureDesiredProperties: false });
      const pending = client.receiveTwinDesiredPropertiesPatch();
      await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/twin5'), 'subscription');
      hub.updateDesired('fdev', 'twin5', { a: NASTY });
      assert.equal((await pending).a, NASTY);
    });
  });

  describe('direct methods', () => {
    it('answers a method call once; unknown and repeated responses are errors', async () => {
      const client = clientFor(hub, 'fdev', 'meth1');
      let request: MethodRequest | undefined;
      client.onMethodRequestReceived = async (req) => {
        request = req;
        await client.sendMethodResponse(
          MethodResponse.createFromMethodRequest(req, 201, { echo: req.payload, name: req.name }),
        );
      };
      await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/meth1'), 'methods subscription');
      const result = await hub.invokeMethod('fdev', 'meth1', {
        methodName: NASTY,
        payload: { n: 1 },
        responseTimeoutInSeconds: 5,
      });
      assert.deepEqual(result, { status: 201, payload: { echo: { n: 1 }, name: NASTY } });
      await assert.rejects(
        client.sendMethodResponse(new MethodResponse(request!.requestId, 200)),
        (e: unknown) => e instanceof ClientError && e.code === 'already-responded',
      );
      await assert.rejects(
        client.sendMethodResponse(new MethodResponse('no-such-id', 200)),
        (e: unknown) => e instanceof ClientError && e.code === 'unknown-request-id',
      );
    });

    it('null and absent payloads; receiveMethodRequest by name (deprecated)', async () => {
      const client = clientFor(hub, 'fdev', 'meth2');
      const pending = client.receiveMethodRequest('reboot');
      await until(() => hub.observed.subscriptions.some((s) => s.clientId === 'fdev/meth2'), 'methods subscription');
      const call = hub.invokeMethod('fdev', 'meth2', { methodName: 'reboot', responseTimeoutInSeconds: 5 });
      const req = await pending;
      assert.equal(req.name, 'reboot');
      assert.equal(req.payload, null);
      await client.sendMethodResponse(new MethodResponse(req.requestId, 200));
      assert.deepEqual(await call, { status: 200, payload: null });
    });
  });
});

// Direct method calls through the local hub: 200, 404103, 504101, timeouts, QoS and request ids.
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { LocalHub } from '../../src/hub/LocalHub';
import { HubError } from '../../src/hub/hubErrors';
import { normaliseInvocation, parseMethodResponsePayload, ridCounter } from '../../src/hub/methodInvocation';
import type { ModuleIdentity } from '../../src/hub/types';
import { connect, connectModule, endAll, nextMessage, startHub, subscribe, tokenFor } from './support';

/** Answers every method request with `status` and an echo of the request. */
function answerAll(c: MqttClient, status = 200): void {
  c.on('message', (topic, payload) => {
    const m = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
    if (!m) return;
    const body = JSON.stringify({ method: decodeURIComponent(m[1]!), got: JSON.parse(payload.toString()) as unknown });
    c.publish(`$iothub/methods/res/${status}/?$rid=${m[2]}`, body, { qos: 1 });
  });
}

describe('local hub: direct methods', () => {
  describe('helpers', () => {
    it('applies defaults and limits', () => {
      assert.deepEqual(normaliseInvocation({ methodName: 'm' }), {
        methodName: 'm',
        payload: null,
        responseTimeoutInSeconds: 30,
        connectTimeoutInSeconds: 0,
      });
      for (const bad of [
        { methodName: '' },
        { methodName: 'm', responseTimeoutInSeconds: 4 },
        { methodName: 'm', responseTimeoutInSeconds: 301 },
        { methodName: 'm', connectTimeoutInSeconds: -1 },
      ]) {
        assert.throws(
          () => normaliseInvocation(bad),
          (e: HubError) => e.httpStatus === 400 && e.errorCode === 400004,
        );
      }
    });
    it('counts request ids in hex', () => {
      const nextRid = ridCounter();
      const ids = Array.from({ length: 11 }, () => nextRid());
      assert.deepEqual(ids.slice(0, 2), ['1', '2']);
      assert.equal(ids[9], 'a');
      assert.equal(ids[10], 'b');
    });
    it('parses response payloads: JSON, or null when empty or not JSON', () => {
      assert.deepEqual(parseMethodResponsePayload(Buffer.from('{"a":1}')), { a: 1 });
      assert.equal(parseMethodResponsePayload(Buffer.from('')), null);
      assert.equal(parseMethodResponsePayload(Buffer.from('null')), null);
      assert.equal(parseMethodResponsePayload(Buffer.from('nope')), null);
      assert.equal(parseMethodResponsePayload(Buffer.from('"s"')), 's');
    });
  });

  describe('over MQTT', function () {
    let hub: LocalHub;
    let mod: ModuleIdentity;

    before(async () => {
      hub = await startHub();
    });
    beforeEach(() => {
      mod = hub.addModule('dev1', `m${Math.random().toString(16).slice(2, 8)}`);
    });
    afterEach(() => endAll());
    after(() => hub.close());

    it('publishes the request and resolves with the module answer (200)', async () => {
      const c = await connectModule(hub, mod);
      await subscribe(c, '$iothub/methods/POST/#');
      const req = nextMessage(c, (t) => t.startsWith('$iothub/methods/POST/'));
      const result = hub.invokeMethod('dev1', mod.moduleId, { methodName: 'do it', payload: { n: 1 } });
      const r = await req;
      assert.match(r.topic, /^\$iothub\/methods\/POST\/do%20it\/\?\$rid=[0-9a-f]+$/);
      assert.equal(r.packet.qos, 1);
      assert.deepEqual(JSON.parse(r.payload.toString()), { n: 1 });
      const rid = r.topic.split('$rid=')[1];
      await c.publishAsync(`$iothub/methods/res/201/?$rid=${rid}`, JSON.stringify({ done: true }), { qos: 1 });
      assert.deepEqual(await result, { status: 201, payload: { done: true } });
    });

    it('sends the request at the QoS the module subscribed with', async () => {
      const c = await connectModule(hub, mod);
      await subscribe(c, '$iothub/methods/POST/#', 0);
      const req = nextMessage(c, (t) => t.startsWith('$iothub/methods/POST/'));
      const result = hub.invokeMethod('dev1', mod.moduleId, { methodName: 'q0' });
      const r = await req;
      assert.equal(r.packet.qos, 0);
      assert.equal(r.payload.toString(), 'null');
      await c.publishAsync(`$iothub/methods/res/200/?$rid=${r.topic.split('$rid=')[1]}`, '', { qos: 0 });
      assert.deepEqual(await result, { status: 200, payload: null });
    });

    it('emits a method event and counts the call', async () => {
      const c = await connectModule(hub, mod);
      await subscribe(c, '$iothub/methods/POST/#');
      answerAll(c, 200);
      const calls = hub.observed.counters.methodCalls;
      const events: unknown[] = [];
      const listener = (e: unknown): number => events.push(e);
      hub.events.on('method', listener);
      try {
        assert.deepEqual(await hub.invokeMethod('dev1', mod.moduleId, { methodName: 'ev', payload: 5 }), {
          status: 200,
          payload: { method: 'ev', got: 5 },
        });
      } finally {
        hub.events.off('method', listener);
      }
      assert.equal(hub.observed.counters.methodCalls, calls + 1);
      assert.deepEqual(events, [{ deviceId: 'dev1', moduleId: mod.moduleId, methodName: 'ev', status: 200 }]);
    });

    it('rejects with 404103 when the module is not connected', async () => {
      await assert.rejects(
        hub.invokeMethod('dev1', mod.moduleId, { methodName: 'm' }),
        (e: HubError) => e.httpStatus === 404 && e.errorCode === 404103,
      );
    });

    it('rejects with 404103 when the module is connected but not subscribed to methods', async () => {
      const c = await connectModule(hub, mod);
      await subscribe(c, '$iothub/twin/res/#');
      await assert.rejects(
        hub.invokeMethod('dev1', mod.moduleId, { methodName: 'm', connectTimeoutInSeconds: 0 }),
        (e: HubError) => e.errorCode === 404103,
      );
    });

    it('waits up to connectTimeoutInSeconds for the module to come online', async () => {
      const result = hub.invokeMethod('dev1', mod.moduleId, {
        methodName: 'late',
        payload: 'x',
        connectTimeoutInSeconds: 10,
      });
      const c = await connectModule(hub, mod);
      answerAll(c, 200);
      await subscribe(c, '$iothub/methods/POST/#');
      assert.deepEqual(await result, { status: 200, payload: { method: 'late', got: 'x' } });
    });

    it('rejects with 504101 when the module does not answer in time', async () => {
      const c = await connectModule(hub, mod);
      await subscribe(c, '$iothub/methods/POST/#');
      const started = Date.now();
      await assert.rejects(
        hub.invokeMethod('dev1', mod.moduleId, { methodName: 'silent', responseTimeoutInSeconds: 5 }),
        (e: HubError) => e.httpStatus === 504 && e.errorCode === 504101,
      );
      assert.ok(Date.now() - started >= 4900);
    });

    it('rejects unknown identities with 404 and bad arguments with 400', async () => {
      await assert.rejects(
        hub.invokeMethod('dev1', 'nobody', { methodName: 'm' }),
        (e: HubError) => e.errorCode === 404010,
      );
      await assert.rejects(
        hub.invokeMethod('nodev', 'nobody', { methodName: 'm' }),
        (e: HubError) => e.errorCode === 404010,
      );
      await assert.rejects(
        hub.invokeMethod('dev1', mod.moduleId, { methodName: 'm', responseTimeoutInSeconds: 1 }),
        (e: HubError) => e.httpStatus === 400,
      );
    });

    it('ignores answers from another client or with an unknown rid', async () => {
      const c = await connectModule(hub, mod);
      await subscribe(c, '$iothub/methods/POST/#');
      const other = hub.addModule('dev1', `${mod.moduleId}x`);
      const o = await connectModule(hub, other);
      const req = nextMessage(c, (t) => t.startsWith('$iothub/methods/POST/'));
      const result = hub.invokeMethod('dev1', mod.moduleId, { methodName: 'm' });
      const rid = (await req).topic.split('$rid=')[1];
      await o.publishAsync(`$iothub/methods/res/500/?$rid=${rid}`, '{}', { qos: 1 });
      await c.publishAsync('$iothub/methods/res/500/?$rid=ffff', '{}', { qos: 1 });
      await c.publishAsync(`$iothub/methods/res/200/?$rid=${rid}`, '"mine"', { qos: 1 });
      assert.deepEqual(await result, { status: 200, payload: 'mine' });
    });

    it('calls a device identity too', async () => {
      const dev = hub.addDevice(`d${mod.moduleId}`);
      const c = await connect(`mqtts://127.0.0.1:${hub.port}`, {
        clientId: dev.deviceId,
        username: `${hub.hostName}/${dev.deviceId}/?api-version=2019-10-01`,
        password: tokenFor(hub, dev.deviceId, undefined, dev.primaryKey),
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        ca: hub.caCert,
        servername: 'localhost',
      });
      await subscribe(c, '$iothub/methods/POST/#');
      answerAll(c, 200);
      assert.deepEqual(await hub.invokeMethod(dev.deviceId, undefined, { methodName: 'dm' }), {
        status: 200,
        payload: { method: 'dm', got: null },
      });
    });
  });
});

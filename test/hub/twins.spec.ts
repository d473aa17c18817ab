// Twins on the local hub: merge rules and validation (TwinStore), and the MQTT GET / PATCH / desired push flows.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { MqttClient } from 'mqtt';
import type { Aedes } from 'aedes';
import { sessionStoreOf } from '../../src/hub/aedesInternals';
import type { LocalHub } from '../../src/hub/LocalHub';
import { HubError } from '../../src/hub/hubErrors';
import { TwinStore } from '../../src/hub/TwinStore';
import { mergePatch, validatePatch } from '../../src/hub/twinPatches';
import type { ModuleIdentity } from '../../src/hub/types';
import { publishPacket, subscribePacket, type WirePacket } from '../helpers/mqttWire';
import { RawMqtt } from '../helpers/RawMqtt';
import { connectModule, endAll, nested, nextMessage, openRawModule, startHub, subscribe } from './support';

describe('local hub: twins', () => {
  describe('validatePatch / mergePatch', () => {
    const invalid: Array<[string, unknown]> = [
      ['an array', [1]],
      ['a string', 'x'],
      ['null', null],
      ['a number', 3],
      ['a key with .', { 'a.b': 1 }],
      ['a key with $', { a$: 1 }],
      ['a key with a space', { 'a b': 1 }],
      ['a nested key with .', { a: { 'b.c': 1 } }],
      ['an empty key', { '': 1 }],
      ['11 levels', nested(11)],
    ];
    for (const [name, patch] of invalid) it(`rejects ${name}`, () => assert.ok(validatePatch(patch)));
    it('accepts 10 levels, arrays as values and non-ASCII keys', () => {
      assert.equal(validatePatch(nested(10)), undefined);
      assert.equal(validatePatch({ a: [1, 2], 'ç-é_ü': 'x' }), undefined);
    });
    it('merges: null deletes, objects merge, others replace', () => {
      const t: Record<string, unknown> = { a: 1, b: { c: 1, d: 2 }, e: 'x', f: { g: 1 } };
      mergePatch(t, { a: null, b: { c: null, x: 3 }, e: { now: 'object' }, f: 5, n: null });
      assert.deepEqual(t, { b: { d: 2, x: 3 }, e: { now: 'object' }, f: 5 });
    });
  });

  describe('TwinStore', () => {
    it('bumps reported.$version, version and etag on each reported patch', () => {
      const s = new TwinStore();
      s.ensure('d', 'm');
      const t0 = s.get('d', 'm');
      assert.equal(t0.properties.reported.$version, 1);
      assert.equal(s.patchReported('d', 'm', { a: 1 }), 2);
      assert.equal(s.patchReported('d', 'm', { b: { c: 1 } }), 3);
      const t = s.get('d', 'm');
      assert.equal(t.version, t0.version + 2);
      assert.notEqual(t.etag, t0.etag);
      assert.deepEqual(s.deviceView('d', 'm').reported, { a: 1, b: { c: 1 }, $version: 3 });
    });
    it('refuses an invalid patch with 400 and no change', () => {
      const s = new TwinStore();
      s.ensure('d', 'm');
      assert.throws(
        () => s.patchReported('d', 'm', { 'a.b': 1 }),
        (e: HubError) => e.httpStatus === 400,
      );
      assert.throws(
        () => s.patchReported('d', 'm', { big: 'x'.repeat(33 * 1024) }),
        (e: HubError) => e.httpStatus === 400,
      );
      assert.equal(s.get('d', 'm').properties.reported.$version, 1);
    });
    it('updates desired and tags, honours If-Match, answers 404 for unknown identities', () => {
      const s = new TwinStore();
      s.ensure('d', 'm');
      const etag = s.get('d', 'm').etag;
      const { twin, desiredPatch } = s.update(
        'd',
        'm',
        { tags: { site: 'a' }, properties: { desired: { x: 1 } } },
        etag,
      );
      assert.deepEqual(desiredPatch, { x: 1, $version: 2 });
      assert.deepEqual(twin.tags, { site: 'a' });
      assert.throws(
        () => s.update('d', 'm', { tags: { y: 1 } }, etag),
        (e: HubError) => e.httpStatus === 412,
      );
      assert.throws(
        () => s.get('d', 'nope'),
        (e: HubError) => e.httpStatus === 404 && e.errorCode === 404010,
      );
      assert.throws(
        () => s.get('nope'),
        (e: HubError) => e.errorCode === 404001,
      );
      const replaced = s.replace('d', 'm', { tags: {}, properties: { desired: { z: 2 } } }, '*');
      assert.deepEqual(replaced.twin.tags, {});
      assert.deepEqual(replaced.desiredPatch, { z: 2, $version: 3 });
      assert.equal(s.update('d', 'm', { tags: { only: 'tags' } }).desiredPatch, undefined);
    });
  });

  describe('over MQTT', () => {
    let hub: LocalHub;
    let mod: ModuleIdentity;
    let c: MqttClient;

    before(async () => {
      hub = await startHub();
    });
    beforeEach(async () => {
      mod = hub.addModule('dev1', `m${Math.random().toString(16).slice(2, 8)}`);
      c = await connectModule(hub, mod);
      await subscribe(c, ['$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#']);
    });
    afterEach(() => endAll());
    after(() => hub.close());

    async function request(
      topic: string,
      body: string | Buffer,
    ): Promise<{ status: number; topic: string; body: string }> {
      const rid = /\$rid=([^&]+)/.exec(topic)![1]!;
      const res = nextMessage(c, (t) => t.startsWith('$iothub/twin/res/') && t.includes(`$rid=${rid}`));
      await c.publishAsync(topic, body, { qos: 1 });
      const r = await res;
      return { status: Number(r.topic.split('/')[3]), topic: r.topic, body: r.payload.toString() };
    }

    it('GET answers 200 with desired and reported', async () => {
      const r = await request('$iothub/twin/GET/?$rid=g1', ' ');
      assert.equal(r.status, 200);
      assert.equal(r.topic, '$iothub/twin/res/200/?$rid=g1');
      assert.deepEqual(JSON.parse(r.body), { desired: { $version: 1 }, reported: { $version: 1 } });
    });

    it('reported PATCH merges, deletes with null, bumps $version and answers 204 with it', async () => {
      const twinEvent = once(hub.events, 'twin', { signal: AbortSignal.timeout(5000) });
      let r = await request(
        '$iothub/twin/PATCH/properties/reported/?$rid=p1',
        JSON.stringify({ a: 1, b: { c: 2, d: 3 } }),
      );
      assert.equal(r.topic, '$iothub/twin/res/204/?$rid=p1&$version=2');
      assert.equal(r.body, '');
      assert.deepEqual((await twinEvent)[0], {
        deviceId: 'dev1',
        moduleId: mod.moduleId,
        kind: 'reported',
        status: 204,
      });
      r = await request(
        '$iothub/twin/PATCH/properties/reported/?$rid=p2',
        JSON.stringify({ a: null, b: { c: null, e: 'x' } }),
      );
      assert.equal(r.topic, '$iothub/twin/res/204/?$rid=p2&$version=3');
      const twin = hub.getTwin('dev1', mod.moduleId);
      assert.deepEqual(
        { ...twin.properties.reported, $metadata: undefined },
        { b: { d: 3, e: 'x' }, $version: 3, $metadata: undefined },
      );
      const g = await request('$iothub/twin/GET/?$rid=g2', ' ');
      assert.deepEqual((JSON.parse(g.body) as { reported: unknown }).reported, { b: { d: 3, e: 'x' }, $version: 3 });
    });

    const bad: Array<[string, string]> = [
      ['invalid JSON', '{"a":'],
      ['a JSON array', '[1,2]'],
      ['a JSON string', '"x"'],
      ['an empty body', ''],
      ['more than 10 levels', JSON.stringify(nested(11))],
      ['a key with .', '{"a.b":1}'],
      ['a key with $', '{"$a":1}'],
      ['a key with a space', '{"a b":1}'],
      ['a reported section over 32 KB', JSON.stringify({ big: 'x'.repeat(32 * 1024) })],
    ];
    for (const [name, body] of bad) {
      it(`reported PATCH with ${name} → 400, no change`, async () => {
        const r = await request('$iothub/twin/PATCH/properties/reported/?$rid=bad', body);
        assert.equal(r.status, 400);
        assert.equal(hub.getTwin('dev1', mod.moduleId).properties.reported.$version, 1);
        assert.ok(c.connected);
      });
    }

    it('pushes a desired update to the subscribed module with $version', async () => {
      const push = nextMessage(c, (t) => t.startsWith('$iothub/twin/PATCH/properties/desired/'));
      const twin = hub.updateDesired('dev1', mod.moduleId, { color: 'red', nested: { a: 1 } });
      assert.equal(twin.properties.desired.$version, 2);
      const m = await push;
      assert.equal(m.topic, '$iothub/twin/PATCH/properties/desired/?$version=2');
      assert.deepEqual(JSON.parse(m.payload.toString()), { color: 'red', nested: { a: 1 }, $version: 2 });
      const push2 = nextMessage(c, (t) => t.startsWith('$iothub/twin/PATCH/properties/desired/'));
      hub.updateDesired('dev1', mod.moduleId, { color: null, nested: { b: 2 } });
      assert.deepEqual(JSON.parse((await push2).payload.toString()), { color: null, nested: { b: 2 }, $version: 3 });
      const g = await request('$iothub/twin/GET/?$rid=g3', ' ');
      assert.deepEqual((JSON.parse(g.body) as { desired: unknown }).desired, { nested: { a: 1, b: 2 }, $version: 3 });
    });

    it('rejects an invalid desired update with a 400 HubError', () => {
      assert.throws(
        () => hub.updateDesired('dev1', mod.moduleId, { 'a.b': 1 }),
        (e: HubError) => e.httpStatus === 400 && e.errorCode === 400004,
      );
      assert.throws(
        () => hub.updateDesired('dev1', 'nobody', { a: 1 }),
        (e: HubError) => e.httpStatus === 404,
      );
    });

    /** A raw MQTT connection of `m`, CONNACK received. */
    async function rawModule(m: ModuleIdentity): Promise<RawMqtt> {
      const raw = await openRawModule(hub, m);
      raws.push(raw);
      return raw;
    }
    const raws: RawMqtt[] = [];
    afterEach(async () => {
      await Promise.all(raws.splice(0).map((r) => r.close()));
    });
    const responseTo =
      (rid: string) =>
      (p: WirePacket): boolean =>
        p.type === 3 && p.topic!.startsWith('$iothub/twin/res/') && p.topic!.includes(`$rid=${rid}`);

    // The Python SDK, with a desired-patch handler, GETs the twin right after connecting without subscribing to
    // $iothub/twin/res/#; IoT Hub answers a connection's own request anyway.
    it('answers a twin GET on the connection that asked, without a subscription to $iothub/twin/res/#', async () => {
      const other = hub.addModule('dev1', `${mod.moduleId}n`);
      const raw = await rawModule(other);
      const seenByOthers: string[] = [];
      c.on('message', (t) => seenByOthers.push(t));
      raw.write(publishPacket('$iothub/twin/GET/?$rid=first', Buffer.alloc(0), 0));
      const answer = await raw.next(responseTo('first'), 'the twin GET response');
      assert.deepEqual([answer.topic, answer.qos], ['$iothub/twin/res/200/?$rid=first', 0]);
      assert.deepEqual(JSON.parse(answer.payload!.toString()), { desired: { $version: 1 }, reported: { $version: 1 } });
      // The subscribed connection of another module (same rid space) sees none of it.
      await request('$iothub/twin/GET/?$rid=mine', ' ');
      assert.deepEqual(
        seenByOthers.filter((t) => t.includes('first')),
        [],
      );
    });

    /**
     * Makes the broker's session store take a turn of the event loop to save subscriptions, as a store on disk does
     * (the in-memory one answers within the same tick, which hides an ordering bug).
     */
    function slowSubscriptionStore(): () => void {
      const store = sessionStoreOf((hub as unknown as { broker: Aedes }).broker) as unknown as {
        addSubscriptions: (...args: unknown[]) => Promise<unknown>;
      };
      const original = store.addSubscriptions;
      store.addSubscriptions = async function (this: unknown, ...args: unknown[]) {
        await new Promise((resolve) => setImmediate(resolve));
        return original.apply(this, args);
      };
      return () => {
        store.addSubscriptions = original;
      };
    }

    for (const slowStore of [false, true]) {
      it(`handles SUBSCRIBE then PUBLISH sent in one write in order${slowStore ? ', with a slow session store' : ''}: SUBACK first, one answer at the subscribed QoS`, async () => {
        const other = hub.addModule('dev1', `${mod.moduleId}o`);
        const raw = await rawModule(other);
        const restore = slowStore ? slowSubscriptionStore() : () => undefined;
        try {
          raw.write(
            Buffer.concat([
              subscribePacket('$iothub/twin/res/#', 1, 7),
              publishPacket('$iothub/twin/GET/?$rid=pipelined', Buffer.alloc(0), 0),
            ]),
          );
          const answer = await raw.next(responseTo('pipelined'), 'the twin GET response');
          const suback = raw.packets.findIndex((p) => p.type === 9);
          assert.ok(suback >= 0 && suback < raw.packets.indexOf(answer), 'SUBACK comes before the answer');
          assert.equal(answer.qos, 1);
        } finally {
          restore();
        }
        // A later round trip proves nothing else was on its way for the first request.
        raw.write(publishPacket('$iothub/twin/GET/?$rid=later', Buffer.alloc(0), 0));
        await raw.next(responseTo('later'), 'the second twin GET response');
        assert.equal(raw.packets.filter(responseTo('pipelined')).length, 1);
      });
    }

    it('rid values with special characters come back percent-encoded', async () => {
      const r = await request('$iothub/twin/GET/?$rid=a%20b%2Bc', ' ');
      assert.equal(r.topic, '$iothub/twin/res/200/?$rid=a%20b%2Bc');
    });
  });
});

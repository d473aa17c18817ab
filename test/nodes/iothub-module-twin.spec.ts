// iothub-module-twin against a real LocalHub: the full twin at connect, get, reported patch, desired patches,
// done(err) on a 400 from the hub, and the full desired document after a reconnect when the version moved.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import { collect, DEVICE, helper, loadWithClient, nextInput, untilSubscribed, useLocalHub } from './support';
import { until } from '../helpers/until';

describe('iothub-module-twin (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  useLocalHub((h) => (hub = h));

  async function load(): Promise<Array<Record<string, unknown>>> {
    await loadWithClient(hub, [
      { id: 'twin', type: 'iothub-module-twin', client: 'cfg', wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'complete', type: 'complete', scope: ['twin'], wires: [['completed']] },
      { id: 'completed', type: 'helper' },
      { id: 'catch', type: 'catch', scope: ['twin'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]);
    return collect(helper.getNode('out'));
  }

  it('emits the full twin once at connect, answers get, patches reported properties', async () => {
    hub.updateDesired(DEVICE, 'flow', { setpoint: 20 });
    const out = await load();
    await until(() => out.length >= 1, 'twin at connect', 10_000);
    assert.equal(out[0]!.topic, 'twin');
    const first = out[0]!.payload as { desired: Record<string, unknown>; reported: Record<string, unknown> };
    assert.equal(first.desired.setpoint, 20);
    assert.equal(typeof first.reported.$version, 'number');

    const twin = helper.getNode('twin');
    const completed = collect(helper.getNode('completed'));
    const got = nextInput(helper.getNode('out'));
    twin.receive({ action: 'get' });
    const read = await got;
    await until(() => completed.length === 1, 'get completed', 10_000);
    assert.equal(read.topic, 'twin');
    assert.equal((read.payload as { desired: Record<string, unknown> }).desired.setpoint, 20);

    twin.receive({ payload: { firmware: '1.2.3', nested: { a: 'é /$+%&#' } } });
    await until(() => completed.length === 2, 'patch completed', 10_000);
    const reported = hub.getTwin(DEVICE, 'flow').properties.reported;
    assert.equal(reported.firmware, '1.2.3');
    assert.deepEqual(reported.nested, { a: 'é /$+%&#' });
    assert.equal(out.filter((m) => m.topic === 'twin').length, 2);
    assert.equal(out.filter((m) => m.topic === 'desired').length, 0, 'no duplicate desired document at connect');
  });

  it('a reported patch the hub refuses (key with a space) is a catchable error; bad input too', async () => {
    await load();
    await untilSubscribed(hub, `${DEVICE}/flow`, '$iothub/twin/res', 0);
    const caught = collect(helper.getNode('caught'));
    const twin = helper.getNode('twin');
    twin.receive({ payload: { 'bad key': 1 } });
    twin.receive({ payload: 'not an object' });
    twin.receive({ action: 'report', payload: [1, 2] });
    twin.receive({ action: 'delete' });
    await until(() => caught.length === 4, 'four errors', 15_000);
    const codes = caught.map((m) => (m.error as { code?: string }).code);
    assert.deepEqual([...codes].sort(), ['bad-request', 'invalid-action', 'invalid-twin-patch', 'invalid-twin-patch']);
    const refused = caught.find((m) => (m.error as { code?: string }).code === 'bad-request')!;
    assert.deepEqual(refused.payload, { 'bad key': 1 });
    // The hub's own explanation reaches the flow after the catalog text.
    assert.equal(
      (refused.error as { message: string }).message,
      'The hub rejected the request as invalid (bad-request, 400004): invalid property name "bad key"',
    );
    assert.equal(hub.getTwin(DEVICE, 'flow').properties.reported['bad key'], undefined);
  });

  it('hub failures (429, 500) on get and report are catchable errors with their code', async () => {
    const out = await load();
    await until(() => out.some((m) => m.topic === 'twin'), 'twin at connect', 10_000);
    const caught = collect(helper.getNode('caught'));
    const twin = helper.getNode('twin');
    hub.faults.failTwinRequests(429, 1);
    twin.receive({ action: 'get' });
    await until(() => caught.length === 1, 'throttled get', 15_000);
    hub.faults.failTwinRequests(500, 1);
    twin.receive({ payload: { ok: true } });
    await until(() => caught.length === 2, 'failed report', 15_000);
    hub.faults.clear();
    assert.deepEqual(
      caught.map((m) => [
        (m.error as { code?: string }).code,
        (m.error as { message: string }).message.includes('429') ||
          (m.error as { message: string }).message.includes('500'),
      ]),
      [
        ['throttled', true],
        ['service-error', true],
      ],
    );
    const completed = nextInput(helper.getNode('completed'));
    twin.receive({ payload: { ok: true } });
    await completed;
    assert.equal(hub.getTwin(DEVICE, 'flow').properties.reported.ok, true);
  });

  it('emits desired patches with their version, and the full desired document after a reconnect when it moved', async () => {
    const out = await load();
    await until(() => out.some((m) => m.topic === 'twin'), 'twin at connect', 10_000);
    await untilSubscribed(hub, `${DEVICE}/flow`, '$iothub/twin/PATCH/properties/desired', 0);
    const patch = nextInput(helper.getNode('out'));
    const updated = hub.updateDesired(DEVICE, 'flow', { mode: 'eco', modé: 'é /$+%&#' });
    const msg = await patch;
    assert.equal(msg.topic, 'desired');
    assert.equal(msg.version, updated.properties.desired.$version);
    assert.equal((msg.payload as Record<string, unknown>).mode, 'eco');
    assert.equal(msg.full, undefined);

    await hub.stop();
    hub.updateDesired(DEVICE, 'flow', { mode: 'boost' });
    const full = nextInput(helper.getNode('out'), 20_000);
    await hub.restart();
    const doc = await full;
    assert.equal(doc.topic, 'desired');
    assert.equal(doc.full, true);
    assert.equal((doc.payload as Record<string, unknown>).mode, 'boost');
    assert.equal(doc.version, hub.getTwin(DEVICE, 'flow').properties.desired.$version);
    // Exactly one message per version: the patch (even if re-delivered after the reconnect), then the document.
    assert.deepEqual(
      out.filter((m) => m.topic === 'desired').map((m) => [m.version, m.full === true]),
      [
        [updated.properties.desired.$version, false],
        [doc.version, true],
      ],
    );
  });

  it('desired patches of any shape (arrays, nulls, deep objects, non-ASCII keys) reach the flow and the node keeps working', async () => {
    hub.updateDesired(DEVICE, 'flow', { gone: 1 });
    const out = await load();
    await until(() => out.some((m) => m.topic === 'twin'), 'twin at connect', 10_000);
    await untilSubscribed(hub, `${DEVICE}/flow`, '$iothub/twin/PATCH/properties/desired', 0);
    const deep = { a: { b: { c: { d: { e: 'é /$+%&#' } } } } };
    const patch = nextInput(helper.getNode('out'));
    hub.updateDesired(DEVICE, 'flow', { list: [1, 'two', null, { three: 3 }], gone: null, deep, 'modé-ß': true });
    const msg = await patch;
    const payload = msg.payload as Record<string, unknown>;
    assert.equal(msg.topic, 'desired');
    assert.deepEqual(payload.list, [1, 'two', null, { three: 3 }]);
    assert.equal(payload.gone, null);
    assert.deepEqual(payload.deep, deep);
    assert.equal(payload['modé-ß'], true);
    const completed = nextInput(helper.getNode('completed'));
    helper.getNode('twin').receive({ payload: { seen: msg.version } });
    await completed;
    assert.equal(hub.getTwin(DEVICE, 'flow').properties.reported.seen, msg.version);
  });
});

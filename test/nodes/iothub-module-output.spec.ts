// iothub-module-output against a real LocalHub: upstream and output messages with their properties, done()
// after PUBACK, pass-through, the bounded queue while disconnected, msg.action connect/disconnect, bad input.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { LocalHubApi, HubMessage } from '../../src/hub/types';
import { collect, DEVICE, helper, loadWithClient, nextInput, statusesOf, until, useLocalHub } from './support';

describe('iothub-module-output (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  useLocalHub((h) => (hub = h));

  async function load(outExtra: Record<string, unknown> = {}, cfgExtra: Record<string, unknown> = {}): Promise<void> {
    await loadWithClient(
      hub,
      [
        { id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: '', queueSize: '100', queueTimeout: '60', wires: [['passed']], ...outExtra },
        { id: 'passed', type: 'helper' },
        { id: 'complete', type: 'complete', scope: ['out'], wires: [['completed']] },
        { id: 'completed', type: 'helper' },
        { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
      { cfg: cfgExtra },
    );
  }

  it('sends an object upstream as JSON with properties and system properties; done() after the PUBACK', async () => {
    await load();
    const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(10_000) });
    const completed = nextInput(helper.getNode('completed'));
    helper.getNode('out').receive({ payload: { temp: 21.5, note: 'é /$+%&#' }, properties: { alert: 'high', 'a b': 'c/d' }, messageId: 'm-1', correlationId: 'c-1' });
    const [message] = (await upstream) as [HubMessage];
    await completed;
    assert.deepEqual(JSON.parse(message.body.toString('utf8')), { temp: 21.5, note: 'é /$+%&#' });
    assert.deepEqual(message.properties, { alert: 'high', 'a b': 'c/d' });
    assert.equal(message.systemProperties['$.mid'], 'm-1');
    assert.equal(message.systemProperties['$.cid'], 'c-1');
    assert.equal(message.systemProperties['$.ct'], 'application/json');
    assert.equal(message.systemProperties['$.ce'], 'utf-8');
    assert.equal(message.deviceId, DEVICE);
    assert.equal(message.moduleId, 'flow');
    assert.equal(message.outputName, undefined);
  });

  it('sends to the node output, msg.outputName overrides it, Buffers go raw; the pass-through output follows the ack', async () => {
    await load({ outputName: 'telemetry', passThrough: true, outputs: 1 });
    const seen: HubMessage[] = [];
    const listener = (m: HubMessage) => void seen.push(m);
    hub.events.on('upstream', listener);
    try {
      const passed = nextInput(helper.getNode('passed'));
      helper.getNode('out').receive({ payload: Buffer.from([0, 1, 255]) });
      const forwarded = await passed;
      assert.deepEqual(forwarded.payload, Buffer.from([0, 1, 255]));
      await until(() => seen.length === 1, 10_000, 'first message');
      const passed2 = nextInput(helper.getNode('passed'));
      helper.getNode('out').receive({ payload: 'plain text', outputName: 'alerts' });
      await passed2;
      await until(() => seen.length === 2, 10_000, 'second message');
      assert.equal(seen[0]!.outputName, 'telemetry');
      assert.deepEqual(seen[0]!.body, Buffer.from([0, 1, 255]));
      assert.equal(seen[0]!.systemProperties['$.ct'], undefined);
      assert.equal(seen[1]!.outputName, 'alerts');
      assert.equal(seen[1]!.body.toString('utf8'), 'plain text');
      assert.equal(seen[1]!.systemProperties['$.ct'], 'text/plain');
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  it('an unsendable msg.payload says which problem it has, in catalog text without an "Error: " prefix', async () => {
    await load();
    const caught = collect(helper.getNode('caught'));
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const cases: Array<[unknown, string]> = [
      [undefined, 'msg.payload is undefined'],
      [() => 1, 'msg.payload is a function'],
      [circular, 'msg.payload refers to itself (a circular structure)'],
      [{ n: 10n }, 'msg.payload holds a BigInt, which JSON cannot encode'],
    ];
    for (const [payload] of cases) helper.getNode('out').receive({ payload });
    await until(() => caught.length === cases.length, 10_000, 'caught errors');
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message),
      cases.map(([, problem]) => `msg.payload cannot be sent (invalid-payload): ${problem}`),
    );
  });

  it('bad input becomes a catchable error and the node keeps working', async () => {
    await load();
    const caught = collect(helper.getNode('caught'));
    const out = helper.getNode('out');
    out.receive({});
    out.receive({ payload: 'x', properties: 'not an object' });
    out.receive({ payload: 'x', outputName: 42 });
    out.receive({ payload: Buffer.alloc(300 * 1024, 1) });
    out.receive({ payload: 'x', action: 'explode' });
    await until(() => caught.length === 5, 15_000, 'five caught errors');
    const codes = caught.map((m) => (m.error as { code?: string } | undefined)?.code ?? (m.error as { message: string }).message);
    assert.deepEqual([...codes].sort(), ['invalid-action', 'invalid-output-name', 'invalid-payload', 'invalid-properties', 'message-too-large'].sort());
    for (const m of caught) assert.doesNotMatch(String((m.error as { message: string }).message), /iothub-module-client\.errors\./);
    const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(10_000) });
    out.receive({ payload: { ok: true } });
    const [message] = (await upstream) as [HubMessage];
    assert.deepEqual(JSON.parse(message.body.toString()), { ok: true });
  });

  it('queues while disconnected, sends after msg.action "connect", refuses when the queue is full, and disconnects on request', async () => {
    await load({ queueSize: '2', queueTimeout: '20' }, { autoConnect: false });
    const out = helper.getNode('out');
    const completed = collect(helper.getNode('completed'));
    const caught = collect(helper.getNode('caught'));
    const seen: HubMessage[] = [];
    const listener = (m: HubMessage) => void seen.push(m);
    hub.events.on('upstream', listener);
    try {
      out.receive({ payload: 'one' });
      out.receive({ payload: 'two' });
      out.receive({ payload: 'three' });
      await until(() => caught.length === 1, 10_000, 'queue-full error');
      assert.equal((caught[0]!.error as { code?: string }).code, 'queue-full');
      assert.equal(caught[0]!.payload, 'three');
      assert.equal(hub.isConnected(`${DEVICE}/flow`), false);
      assert.equal(seen.length, 0);
      out.receive({ action: 'connect' });
      await until(() => seen.length === 2 && completed.length === 3, 10_000, 'queued messages sent');
      assert.deepEqual(seen.map((m) => m.body.toString()), ['one', 'two']);
      out.receive({ action: 'disconnect' });
      await until(() => !hub.isConnected(`${DEVICE}/flow`) && completed.length === 4, 10_000, 'disconnected');
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  it('a queued message that waits too long fails with operation-timeout', async () => {
    await load({ queueSize: '5', queueTimeout: '1' }, { autoConnect: false });
    const caught = nextInput(helper.getNode('caught'));
    helper.getNode('out').receive({ payload: 'late' });
    const msg = await caught;
    assert.equal((msg.error as { code?: string }).code, 'operation-timeout');
  });

  it('a message sent while the hub is down waits and goes out once after the reconnect, then completes', async () => {
    await load();
    await until(() => hub.isConnected(`${DEVICE}/flow`), 10_000, 'connected');
    const completed = collect(helper.getNode('completed'));
    const seen: HubMessage[] = [];
    const listener = (m: HubMessage) => void seen.push(m);
    hub.events.on('upstream', listener);
    try {
      const before = statusesOf('out').length;
      await hub.stop();
      try {
        await until(() => statusesOf('out').slice(before).some((st) => st.fill === 'red'), 10_000, 'the node shows the outage');
        helper.getNode('out').receive({ payload: 'during the outage' });
        await until(() => statusesOf('out').some((st) => st.fill === 'blue' && st.shape === 'ring'), 10_000, 'queued status');
        assert.equal(completed.length, 0, 'not completed before the hub acknowledged it');
      } finally {
        await hub.restart();
      }
      await until(() => completed.length === 1, 20_000, 'completed after the reconnect');
      assert.deepEqual(seen.map((m) => m.body.toString()), ['during the outage']);
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  it('every property round-trips: output → edgeHub route → input node, Buffers untouched', async () => {
    hub.setRoutes({ loop: 'FROM /messages/modules/flow/outputs/loop INTO BrokeredEndpoint("/modules/flow/inputs/back")' });
    try {
      await loadWithClient(
        hub,
        [
          { id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: 'loop', queueSize: '10', queueTimeout: '10', wires: [] },
          { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: 'back', wires: [['back']] },
          { id: 'back', type: 'helper' },
        ],
        { subscribedTo: '/inputs/' },
      );
      const back = collect(helper.getNode('back'));
      const out = helper.getNode('out');
      const properties = { alert: 'high', 'a b/$+%&#': 'é /$+%&#', n: '42' };
      out.receive({ payload: { temp: 21.5 }, properties, messageId: 'm-1', correlationId: 'c-1' });
      out.receive({ payload: 'ação', contentType: 'text/plain; charset=utf-8', contentEncoding: 'utf-8', messageId: 'm-2' });
      out.receive({ payload: Buffer.from([0, 1, 255]), contentType: 'application/octet-stream', messageId: 'm-3' });
      await until(() => back.length === 3, 10_000, 'three messages back');
      const [json, text, bytes] = ['m-1', 'm-2', 'm-3'].map((id) => back.find((m) => m.messageId === id)!);
      assert.deepEqual(json!.payload, { temp: 21.5 });
      assert.deepEqual(json!.properties, properties);
      assert.equal(json!.correlationId, 'c-1');
      assert.equal(json!.contentType, 'application/json');
      assert.equal(json!.contentEncoding, 'utf-8');
      assert.equal(json!.connectionDeviceId, DEVICE);
      assert.equal(json!.connectionModuleId, 'flow');
      assert.equal(json!.inputName, 'back');
      assert.equal(text!.payload, 'ação');
      assert.equal(text!.contentType, 'text/plain; charset=utf-8');
      assert.deepEqual(bytes!.payload, Buffer.from([0, 1, 255]));
      assert.equal(bytes!.contentType, 'application/octet-stream');
    } finally {
      hub.setRoutes({});
    }
  });
});

// iothub-module-output against a real LocalHub: upstream and output messages with their properties, done()
// after PUBACK, pass-through, the bounded queue while disconnected, msg.action connect/disconnect, bad input.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createSas } from '../../src/hub/sas';
import type { LocalHubApi, HubMessage } from '../../src/hub/types';
import {
  collect,
  DEVICE,
  helper,
  loadWithClient,
  NODES,
  nextInput,
  onTab,
  statusesOf,
  tlsConfig,
  useLocalHub,
} from './support';
import { until } from '../helpers/until';

describe('iothub-module-output (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  useLocalHub((h) => (hub = h));

  async function load(outExtra: Record<string, unknown> = {}, cfgExtra: Record<string, unknown> = {}): Promise<void> {
    await loadWithClient(
      hub,
      [
        {
          id: 'out',
          type: 'iothub-module-output',
          client: 'cfg',
          outputName: '',
          queueSize: '100',
          queueTimeout: '60',
          wires: [['passed']],
          ...outExtra,
        },
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
    helper.getNode('out').receive({
      payload: { temp: 21.5, note: 'é /$+%&#' },
      properties: { alert: 'high', 'a b': 'c/d' },
      messageId: 'm-1',
      correlationId: 'c-1',
    });
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
      await until(() => seen.length === 1, 'first message', 10_000);
      const passed2 = nextInput(helper.getNode('passed'));
      helper.getNode('out').receive({ payload: 'plain text', outputName: 'alerts' });
      await passed2;
      await until(() => seen.length === 2, 'second message', 10_000);
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
    await until(() => caught.length === cases.length, 'caught errors', 10_000);
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
    await until(() => caught.length === 5, 'five caught errors', 15_000);
    const codes = caught.map(
      (m) => (m.error as { code?: string } | undefined)?.code ?? (m.error as { message: string }).message,
    );
    assert.deepEqual(
      [...codes].sort(),
      ['invalid-action', 'invalid-output-name', 'invalid-payload', 'invalid-properties', 'message-too-large'].sort(),
    );
    for (const m of caught)
      assert.doesNotMatch(String((m.error as { message: string }).message), /iothub-module-client\.errors\./);
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
      await until(() => caught.length === 1, 'queue-full error', 10_000);
      assert.equal((caught[0]!.error as { code?: string }).code, 'queue-full');
      assert.equal(caught[0]!.payload, 'three');
      assert.equal(hub.isConnected(`${DEVICE}/flow`), false);
      assert.equal(seen.length, 0);
      out.receive({ action: 'connect' });
      await until(() => seen.length === 2 && completed.length === 3, 'queued messages sent', 10_000);
      assert.deepEqual(
        seen.map((m) => m.body.toString()),
        ['one', 'two'],
      );
      out.receive({ action: 'disconnect' });
      await until(() => !hub.isConnected(`${DEVICE}/flow`) && completed.length === 4, 'disconnected', 10_000);
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  it('the queue is bounded in bytes too: a message that would pass the limit fails at once with queue-full (catchable)', async () => {
    // 0.001 MB = 1,048 bytes of payload and properties.
    await load({ queueSize: '100', queueMegabytes: '0.001', queueTimeout: '20' }, { autoConnect: false });
    const out = helper.getNode('out');
    const caught = collect(helper.getNode('caught'));
    const completed = collect(helper.getNode('completed'));
    const seen: HubMessage[] = [];
    const listener = (m: HubMessage) => void seen.push(m);
    hub.events.on('upstream', listener);
    try {
      out.receive({ payload: 'a'.repeat(600) });
      out.receive({ payload: 'b'.repeat(600) });
      out.receive({ payload: 'c'.repeat(400), properties: { k: 'v' } });
      await until(() => caught.length === 1, 'queue-full error', 10_000);
      const error = caught[0]!.error as { code?: string; message: string };
      assert.equal(error.code, 'queue-full');
      assert.match(error.message, /1048 bytes/);
      assert.equal((caught[0]!.payload as string)[0], 'b');
      out.receive({ action: 'connect' });
      await until(() => seen.length === 2 && completed.length === 3, 'the queued messages sent', 10_000);
      assert.deepEqual(
        seen.map((m) => m.body.toString()[0]),
        ['a', 'c'],
      );
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  it('with the default queue, 100 msg/s through a 2-second hub restart: every message is sent, none fails', async () => {
    await loadWithClient(hub, [
      { id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: '', wires: [] },
      { id: 'complete', type: 'complete', scope: ['out'], wires: [['completed']] },
      { id: 'completed', type: 'helper' },
      { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]);
    await until(() => hub.isConnected(`${DEVICE}/flow`), 'connected', 10_000);
    const completed = collect(helper.getNode('completed'));
    const caught = collect(helper.getNode('caught'));
    const seqs = new Set<number>();
    const listener = (m: HubMessage) => void seqs.add((JSON.parse(m.body.toString()) as { seq: number }).seq);
    hub.events.on('upstream', listener);
    const TOTAL = 500;
    let sent = 0;
    const stream = setInterval(() => {
      if (sent < TOTAL) helper.getNode('out').receive({ payload: { seq: ++sent } });
    }, 10);
    try {
      await until(() => sent >= 100, 'one second of stream', 10_000);
      await hub.stop();
      try {
        // Two seconds of stream at 100 msg/s while the hub is down: more than the old default queue of 100.
        await until(() => sent >= 300, 'two seconds of outage', 10_000);
      } finally {
        await hub.restart();
      }
      await until(
        () => completed.length + caught.length === TOTAL,
        `all ${TOTAL} completed (${completed.length} + ${caught.length} failed)`,
        25_000,
      );
      assert.deepEqual(
        caught.map((m) => (m.error as { message: string }).message),
        [],
      );
      await until(() => seqs.size === TOTAL, 'every message upstream', 10_000);
    } finally {
      clearInterval(stream);
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
    await until(() => hub.isConnected(`${DEVICE}/flow`), 'connected', 10_000);
    const completed = collect(helper.getNode('completed'));
    const seen: HubMessage[] = [];
    const listener = (m: HubMessage) => void seen.push(m);
    hub.events.on('upstream', listener);
    try {
      const before = statusesOf('out').length;
      await hub.stop();
      try {
        await until(
          () =>
            statusesOf('out')
              .slice(before)
              .some((st) => st.fill === 'red'),
          'the node shows the outage',
          10_000,
        );
        helper.getNode('out').receive({ payload: 'during the outage' });
        await until(
          () => statusesOf('out').some((st) => st.fill === 'blue' && st.shape === 'ring'),
          'queued status',
          10_000,
        );
        assert.equal(completed.length, 0, 'not completed before the hub acknowledged it');
      } finally {
        await hub.restart();
      }
      await until(() => completed.length === 1, 'completed after the reconnect', 20_000);
      assert.deepEqual(
        seen.map((m) => m.body.toString()),
        ['during the outage'],
      );
    } finally {
      hub.events.off('upstream', listener);
    }
  });

  describe('a SAS token connection renewed from the flow', () => {
    const TTL = 4;
    const token = (ttl = TTL): string =>
      createSas(`${hub.hostName}/devices/${DEVICE}/modules/flow`, hub.getModule(DEVICE, 'flow')!.primaryKey, ttl);

    /** A *SAS token* config node with `first`, an output node, a Status node on it, Complete and Catch. */
    async function loadSas(first: string): Promise<void> {
      const tls = tlsConfig(hub);
      await helper.load(
        NODES,
        onTab([
          tls.node,
          {
            id: 'cfg',
            type: 'iothub-module-client',
            connectionType: 'sasToken',
            gatewayHostname: `localhost:${hub.port}`,
            tls: 'tls',
            connectionRetryInterval: '1',
          },
          { id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: '', wires: [] },
          { id: 'status', type: 'status', scope: ['out'], wires: [['statuses']] },
          { id: 'statuses', type: 'helper' },
          { id: 'complete', type: 'complete', scope: ['out'], wires: [['completed']] },
          { id: 'completed', type: 'helper' },
          { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['caught']] },
          { id: 'caught', type: 'helper' },
        ]),
        { tls: tls.credentials, cfg: { sasToken: first } },
      );
    }

    /** Everything the runtime logged or showed for these nodes, as text (a token must never appear in it). */
    function everythingShown(): string {
      const spies = (
        helper as unknown as { _NodePrototype: Record<string, { getCalls(): Array<{ args: unknown[] }> }> }
      )._NodePrototype;
      return ['log', 'warn', 'error', 'status', 'debug', 'trace']
        .flatMap((name) => spies[name]?.getCalls() ?? [])
        .map((call) =>
          call.args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : JSON.stringify(a))).join(' '),
        )
        .join('\n');
    }

    it('a Status node sees "sastoken-needed", msg.action "update-sastoken" supplies the next token: the connection outlives three token lifetimes with no failed send', async () => {
      const first = token();
      const since = Date.now();
      await loadSas(first);
      await until(() => hub.isConnected(`${DEVICE}/flow`), 'connected', 10_000);
      const supplied: string[] = [first];
      const completed = collect(helper.getNode('completed'));
      const caught = collect(helper.getNode('caught'));
      const out = helper.getNode('out');
      // The flow's part: a Status node on the output node; on "sastoken-needed", the next token goes to the output
      // node.
      helper.getNode('statuses').on('input', (msg: { status: { text?: string } }) => {
        if (!String(msg.status.text).includes('sastoken-needed')) return;
        const next = token();
        supplied.push(next);
        out.receive({ action: 'update-sastoken', sastoken: next });
      });
      let seq = 0;
      const stream = setInterval(() => out.receive({ payload: { seq: ++seq } }), 100);
      try {
        // Three lifetimes: the first token and the two after it would each have expired by then.
        await until(
          () => Date.now() - since > 3 * TTL * 1000 && supplied.length >= 4,
          'three token lifetimes and three renewals',
          30_000,
        );
      } finally {
        clearInterval(stream);
      }
      const sent = seq;
      await until(
        () => completed.filter((m) => m.action === undefined).length + caught.length >= sent,
        'every message completed',
        15_000,
      );
      assert.deepEqual(
        caught.map((m) => (m.error as { message: string }).message),
        [],
        'no failed send or update',
      );
      const passwords = hub.observed.connects
        .filter((c) => c.at >= since && c.clientId === `${DEVICE}/flow` && c.returnCode === 0)
        .map((c) => c.password);
      for (const t of supplied.slice(0, -1))
        assert.ok(passwords.includes(t), 'each supplied token was used to connect');
      assert.ok(!statusesOf('out').some((st) => st.fill === 'red'), 'never disconnected or in error');
      const updates = completed.filter((m) => m.action === 'update-sastoken');
      assert.ok(updates.length >= 3, `${updates.length} updates completed`);
      assert.ok(
        updates.every((m) => !('sastoken' in m)),
        'msg.sastoken is removed before the msg goes on',
      );
      const shown = everythingShown();
      for (const t of supplied)
        assert.ok(!shown.includes(t.split('sig=')[1]!.split('&')[0]!), 'no token in logs or statuses');
    });

    for (const [name, stored] of [
      ['no stored token', ''],
      ['an expired stored token', 'expired'],
    ] as const) {
      it(`with ${name}, a Status node sees "sastoken-needed" once the flow is deployed, and the flow's first token connects`, async () => {
        const first = stored === 'expired' ? token(1) : '';
        if (first)
          await until(
            () => Date.now() / 1000 > Number(/se=(\d+)/.exec(first)![1]) + 0.1,
            'the stored token expired',
            5_000,
          );
        const since = Date.now();
        await loadSas(first);
        // Shown once the deploy's Status nodes were wired (Node-RED wires them after creating every node), so the
        // Status node passed it on.
        const sentByStatusNode = (): string[] => {
          const spy = (
            helper as unknown as {
              _NodePrototype: {
                send: { getCalls(): Array<{ thisValue: { id: string }; args: Array<{ status?: { text?: string } }> }> };
              };
            }
          )._NodePrototype.send;
          return spy
            .getCalls()
            .filter((c) => c.thisValue?.id === 'status')
            .map((c) => String(c.args[0]?.status?.text));
        };
        await until(
          () => sentByStatusNode().some((text) => text.includes('sastoken-needed')),
          'the Status node passes the need on',
          10_000,
        );
        const caught = collect(helper.getNode('caught'));
        helper.getNode('out').receive({ payload: 'too early' });
        await until(() => caught.length === 1, 'a send before the first token fails', 10_000);
        assert.equal((caught[0]!.error as { code?: string }).code, 'sastoken-needed');
        const supplied = token(3600);
        const completed = nextInput(helper.getNode('completed'));
        helper.getNode('out').receive({ action: 'update-sastoken', sastoken: supplied });
        assert.equal((await completed).action, 'update-sastoken');
        assert.equal(hub.isConnected(`${DEVICE}/flow`), true);
        assert.ok(
          hub.observed.connects.some((c) => c.at >= since && c.password === supplied && c.returnCode === 0),
          "connected with the flow's token",
        );
        const upstream = once(hub.events, 'upstream', { signal: AbortSignal.timeout(10_000) });
        helper.getNode('out').receive({ payload: 'after the token' });
        assert.equal(((await upstream) as [HubMessage])[0].body.toString(), 'after the token');
        assert.ok(statusesOf('out').at(-1)?.fill === 'green', 'connected status');
      });
    }

    it('a bad msg.sastoken fails with invalid-sastoken (catchable), without the token in the error or the msg; a connection-string node refuses with not-supported', async () => {
      await loadSas(token(3600));
      await until(() => hub.isConnected(`${DEVICE}/flow`), 'connected', 10_000);
      const caught = collect(helper.getNode('caught'));
      const out = helper.getNode('out');
      const expired = createSas(
        `${hub.hostName}/devices/${DEVICE}/modules/flow`,
        hub.getModule(DEVICE, 'flow')!.primaryKey,
        -10,
      );
      const other = createSas(
        `${hub.hostName}/devices/${DEVICE}/modules/peer`,
        hub.getModule(DEVICE, 'peer')!.primaryKey,
        600,
      );
      for (const sastoken of [expired, other, 'SharedAccessSignature nonsense', 42, undefined])
        out.receive({ action: 'update-sastoken', sastoken });
      await until(() => caught.length === 5, 'five errors', 10_000);
      for (const m of caught) {
        assert.equal((m.error as { code?: string }).code, 'invalid-sastoken');
        assert.ok(!('sastoken' in m), 'the token is not passed on');
        assert.doesNotMatch(JSON.stringify(m), /SharedAccessSignature/);
      }
      assert.equal(hub.isConnected(`${DEVICE}/flow`), true, 'the connection is untouched');
      await helper.unload();
      await loadWithClient(hub, [
        { id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: '', wires: [] },
        { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]);
      const refused = nextInput(helper.getNode('caught'));
      helper.getNode('out').receive({ action: 'update-sastoken', sastoken: token(600) });
      assert.equal(((await refused).error as { code?: string }).code, 'not-supported');
    });
  });

  it('every property round-trips: output → edgeHub route → input node, Buffers untouched', async () => {
    hub.setRoutes({
      loop: 'FROM /messages/modules/flow/outputs/loop INTO BrokeredEndpoint("/modules/flow/inputs/back")',
    });
    try {
      await loadWithClient(
        hub,
        [
          {
            id: 'out',
            type: 'iothub-module-output',
            client: 'cfg',
            outputName: 'loop',
            queueSize: '10',
            queueTimeout: '10',
            wires: [],
          },
          { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: 'back', wires: [['back']] },
          { id: 'back', type: 'helper' },
        ],
        { subscribedTo: '/inputs/' },
      );
      const back = collect(helper.getNode('back'));
      const out = helper.getNode('out');
      const properties = { alert: 'high', 'a b/$+%&#': 'é /$+%&#', n: '42' };
      out.receive({ payload: { temp: 21.5 }, properties, messageId: 'm-1', correlationId: 'c-1' });
      out.receive({
        payload: 'ação',
        contentType: 'text/plain; charset=utf-8',
        contentEncoding: 'utf-8',
        messageId: 'm-2',
      });
      out.receive({ payload: Buffer.from([0, 1, 255]), contentType: 'application/octet-stream', messageId: 'm-3' });
      await until(() => back.length === 3, 'three messages back', 10_000);
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

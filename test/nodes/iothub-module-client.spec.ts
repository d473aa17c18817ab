// The iothub-module-client config node in flows: connection status pushed to its users, one client per config
// node, redeploys that never duplicate messages, listeners or sockets, a missing secret, and secrets kept out of
// logs, flows and messages.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { LocalHubApi } from '../../src/hub/types';
import {
  clientConfig,
  collect,
  DEVICE,
  type FlowNode,
  helper,
  NODES,
  onTab,
  statusesOf,
  tlsConfig,
  untilSubscribed,
  useLocalHub,
  warningsOf,
} from './support';
import { until } from '../helpers/until';
import { identityClaims } from '../../nodes/shared/IdentityClaims';

const identityWaiters = (): number => identityClaims.waiters;

describe('iothub-module-client (flow, local hub)', function () {
  this.timeout(60_000);
  let hub: LocalHubApi;
  const open = new Map<string, number>();
  const onConnect = ({ clientId }: { clientId: string }) => void open.set(clientId, (open.get(clientId) ?? 0) + 1);
  const onDisconnect = ({ clientId }: { clientId: string }) => void open.set(clientId, (open.get(clientId) ?? 0) - 1);
  useLocalHub((h) => {
    hub = h;
    hub.events.on('connect', onConnect);
    hub.events.on('disconnect', onDisconnect);
  });

  function flow(): { nodes: FlowNode[]; credentials: Record<string, Record<string, string>> } {
    const tls = tlsConfig(hub);
    const cfg = clientConfig(hub, 'flow');
    const peer = clientConfig(hub, 'peer', 'cfgPeer');
    return {
      nodes: [
        tls.node,
        cfg.node,
        peer.node,
        { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: 'in', wires: [['got']] },
        { id: 'in2', type: 'iothub-module-input', client: 'cfg', inputName: 'other', wires: [['got']] },
        { id: 'twin', type: 'iothub-module-twin', client: 'cfg', wires: [[]] },
        { id: 'peerIn', type: 'iothub-module-input', client: 'cfgPeer', inputName: 'in', wires: [['gotPeer']] },
        { id: 'got', type: 'helper' },
        { id: 'gotPeer', type: 'helper' },
      ],
      credentials: { tls: tls.credentials, cfg: cfg.credentials, cfgPeer: peer.credentials },
    };
  }

  function registrationsOf(id: string): { users: number; listeners: number } {
    return (helper.getNode(id) as unknown as { host: { registrations: { users: number; listeners: number } } }).host
      .registrations;
  }

  it('pushes the connection status to every user and keeps config nodes isolated', async () => {
    const { nodes, credentials } = flow();
    await helper.load(NODES, onTab(nodes), credentials);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    await untilSubscribed(hub, `${DEVICE}/peer`, '/inputs/');
    await until(
      () => statusesOf('in').some((st) => st.text === 'node-red:common.status.connected'),
      'connected status',
      10_000,
    );
    assert.ok(
      statusesOf('twin').some((st) => st.text === 'node-red:common.status.connected'),
      'every user gets the status',
    );
    const got = collect(helper.getNode('got'));
    const gotPeer = collect(helper.getNode('gotPeer'));
    await hub.sendToInput(DEVICE, 'peer', 'in', { body: 'for peer' });
    await hub.sendToInput(DEVICE, 'flow', 'in', { body: 'for flow' });
    await until(() => got.length === 1 && gotPeer.length === 1, 'both messages', 10_000);
    assert.deepEqual(got[0]!.payload, Buffer.from('for flow'));
    assert.deepEqual(gotPeer[0]!.payload, Buffer.from('for peer'));

    const before = statusesOf('in').length;
    hub.faults.dropConnection(`${DEVICE}/flow`);
    await until(
      () =>
        statusesOf('in')
          .slice(before)
          .some((st) => st.fill === 'red' && st.shape === 'ring'),
      'disconnected status',
      10_000,
    );
    const dropped = statusesOf('in')
      .slice(before)
      .find((st) => st.fill === 'red' && st.shape === 'ring')!;
    assert.equal(dropped.text, 'disconnected: The connection to the hub was lost', 'the reason is shown');
    await until(() => hub.isConnected(`${DEVICE}/flow`), 'reconnected', 15_000);
    await until(
      () =>
        statusesOf('twin')
          .slice(before)
          .some((st) => st.text === 'node-red:common.status.connected'),
      'connected again',
      10_000,
    );
    assert.ok(
      statusesOf('twin').some((st) => st.text === 'node-red:common.status.connecting'),
      'connecting is shown',
    );
  });

  it('redeploys several times (full and modified-nodes): each message comes out exactly once, no socket is left', async () => {
    const { nodes, credentials } = flow();
    await helper.load(NODES, onTab(nodes), credentials);
    for (let round = 1; round <= 6; round++) {
      const since = Date.now();
      // Odd rounds redeploy everything (new client); even rounds only the modified input node (same client,
      // its listener must be replaced, not added).
      const full = round % 2 === 1;
      const inNode = nodes.find((n) => n.id === 'in')!;
      inNode.name = `round ${round}`;
      if (round > 1) await helper.setFlows(onTab(nodes), full ? 'full' : 'nodes', credentials);
      if (full) await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/', since);
      else await until(() => hub.isConnected(`${DEVICE}/flow`), 'connected', 10_000);
      const got = collect(helper.getNode('got'));
      await hub.sendToInput(DEVICE, 'flow', 'in', { body: `round ${round}` });
      await hub.sendToInput(DEVICE, 'flow', 'other', { body: `sentinel ${round}` });
      await until(() => got.some((m) => String(m.payload) === `sentinel ${round}`), `sentinel ${round}`, 10_000);
      // Only this test's messages: a QoS 1 message of an earlier test may legitimately be re-delivered once.
      const ours = got.map((m) => String(m.payload)).filter((p) => /^(round|sentinel) /.test(p));
      assert.deepEqual(ours, [`round ${round}`, `sentinel ${round}`], `round ${round}`);
      await until(
        () => open.get(`${DEVICE}/flow`) === 1 && open.get(`${DEVICE}/peer`) === 1,
        `one socket per client (round ${round})`,
        10_000,
      );
      // in + in2 (message each) and twin (desired + state) on cfg; peerIn (message) on cfgPeer.
      assert.deepEqual(registrationsOf('cfg'), { users: 3, listeners: 4 }, `cfg registrations (round ${round})`);
      assert.deepEqual(
        registrationsOf('cfgPeer'),
        { users: 1, listeners: 1 },
        `cfgPeer registrations (round ${round})`,
      );
    }
    await helper.unload();
    await until(
      () => open.get(`${DEVICE}/flow`) === 0 && open.get(`${DEVICE}/peer`) === 0,
      'all sockets closed',
      10_000,
    );
    assert.equal(hub.isConnected(`${DEVICE}/flow`), false);
    assert.equal(hub.isConnected(`${DEVICE}/peer`), false);
  });

  it('disconnects when its last flow node leaves (the config node stays) and connects again for a new one', async () => {
    const tls = tlsConfig(hub);
    const cfg = clientConfig(hub, 'flow');
    const credentials = { tls: tls.credentials, cfg: cfg.credentials };
    const user = { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: '', wires: [[]] };
    await helper.load(NODES, onTab([tls.node, cfg.node, user]), credentials);
    await until(() => open.get(`${DEVICE}/flow`) === 1, 'connected at the first user', 10_000);
    await helper.setFlows(onTab([tls.node, cfg.node]), 'nodes', credentials);
    await until(() => open.get(`${DEVICE}/flow`) === 0, 'disconnected after the last user', 10_000);
    assert.deepEqual(registrationsOf('cfg'), { users: 0, listeners: 0 });
    await helper.setFlows(onTab([tls.node, cfg.node, user]), 'nodes', credentials);
    await until(() => open.get(`${DEVICE}/flow`) === 1, 'connected again', 10_000);
  });

  it('a flow node whose config node is missing shows "not configured" and fails each message with a catchable error', async () => {
    await helper.load(
      NODES,
      onTab([
        { id: 'twin', type: 'iothub-module-twin', client: 'nowhere', wires: [[]] },
        { id: 'catch', type: 'catch', scope: ['twin'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]),
      {},
    );
    const caught = collect(helper.getNode('caught'));
    helper.getNode('twin').receive({ action: 'get' });
    await until(() => caught.length === 1, 'error', 10_000);
    assert.equal((caught[0]!.error as { code?: string }).code, 'not-configured');
    assert.ok(
      statusesOf('twin').every((st) => st.fill === 'red'),
      'only the not-configured status',
    );
  });

  it("closes well within Node-RED's 15 s while the hub is unreachable and messages wait in the queue", async () => {
    const { nodes, credentials } = flow();
    nodes.push({
      id: 'out',
      type: 'iothub-module-output',
      client: 'cfg',
      outputName: '',
      queueSize: '10',
      queueTimeout: '60',
      wires: [],
    });
    await helper.load(NODES, onTab(nodes), credentials);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    await hub.stop();
    try {
      await until(() => !hub.isConnected(`${DEVICE}/flow`), 'disconnected', 10_000);
      helper.getNode('out').receive({ payload: 'waiting' });
      const started = Date.now();
      await helper.unload();
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 12_000, `close took ${elapsed} ms`);
    } finally {
      await hub.restart();
    }
  });

  it('closes at once while connecting to a gateway that accepts TCP and never answers; a waiting send ends with an error', async () => {
    const accepted: net.Socket[] = [];
    let closedByClient = 0;
    const blackHole = net.createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.resume(); // read (and ignore) the ClientHello, so that the client's FIN is seen
      socket.once('close', () => closedByClient++);
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blackHole.address() as net.AddressInfo;
      const tls = tlsConfig(hub);
      const module = hub.getModule(DEVICE, 'flow')!;
      const connectionString = module.connectionString.replace(
        /GatewayHostName=[^;]+/,
        `GatewayHostName=127.0.0.1:${port}`,
      );
      await helper.load(
        NODES,
        onTab([
          tls.node,
          {
            id: 'cfg',
            type: 'iothub-module-client',
            connectionType: 'connectionString',
            tls: 'tls',
            operationTimeout: '60',
            connectionRetryInterval: '1',
          },
          {
            id: 'out',
            type: 'iothub-module-output',
            client: 'cfg',
            outputName: '',
            queueSize: '10',
            queueTimeout: '60',
            wires: [],
          },
        ]),
        { tls: tls.credentials, cfg: { connectionString } },
      );
      await until(() => accepted.length > 0, 'the connection attempt', 10_000);
      const out = helper.getNode('out');
      const completed: unknown[] = [];
      const hooks = (
        helper as unknown as {
          _RED: {
            hooks: {
              add(n: string, f: (e: { node: { id: string }; error?: unknown }) => void): void;
              remove(n: string): void;
            };
          };
        }
      )._RED.hooks;
      hooks.add('onComplete.blackhole', (event) => {
        if (event.node.id === 'out') completed.push(event.error);
      });
      try {
        out.receive({ payload: 'waiting' });
        const started = Date.now();
        await helper.unload();
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 3_000, `close took ${elapsed} ms`);
        await until(() => completed.length === 1, 'the waiting send to end', 5_000);
        assert.match(
          String((completed[0] as Error | undefined)?.message),
          /clos/i,
          'it ends with an error, not as sent',
        );
      } finally {
        hooks.remove('onComplete.blackhole');
      }
      await until(() => closedByClient === accepted.length, 'the attempt closed by the client', 5_000);
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    }
  });

  it('refused credentials: an error status saying when the next try comes, retried with back-off until the hub accepts the key', async () => {
    const tls = tlsConfig(hub);
    const good = hub.getModule(DEVICE, 'flow')!.connectionString;
    const wrongKey = Buffer.alloc(32, 7).toString('base64');
    await helper.load(
      NODES,
      onTab([
        tls.node,
        {
          id: 'cfg',
          type: 'iothub-module-client',
          connectionType: 'connectionString',
          tls: 'tls',
          connectionRetryInterval: '1',
        },
        { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: '', wires: [[]] },
      ]),
      {
        tls: tls.credentials,
        cfg: { connectionString: good.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${wrongKey}`) },
      },
    );
    // Once, the node warned four times in 0.1 s and never tried again until a redeploy.
    const retrying = /^error: The hub refused the credentials; next try at \d\d:\d\d:\d\d$/;
    const said = (): boolean =>
      statusesOf('in').some((st) => st.fill === 'red' && st.shape === 'dot' && retrying.test(st.text ?? ''));
    await until(
      () => hub.observed.counters.refused >= 4 && said(),
      'four refused connects, then a status with the next try',
      15_000,
    );
    assert.equal(warningsOf('cfg').length, 1, 'one warning for a failure repeated by the retry loop');
    // The key is fixed on the hub side while the flow runs: the next retry connects.
    hub.removeModule(DEVICE, 'flow');
    hub.addModule(DEVICE, 'flow', { primaryKey: wrongKey });
    await until(() => statusesOf('in').at(-1)?.fill === 'green', 'connected after the key was fixed', 15_000);
    assert.ok(hub.isConnected(`${DEVICE}/flow`));
  });

  it('a missing CA: an error status naming the TLS failure and the next try, and the retries go on', async () => {
    const cfg = clientConfig(hub, 'flow', 'cfg', { tls: '' });
    await helper.load(
      NODES,
      onTab([cfg.node, { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: '', wires: [[]] }]),
      { cfg: cfg.credentials },
    );
    const retrying =
      /^error: The TLS handshake with the hub failed \(check the server CA\); next try at \d\d:\d\d:\d\d$/;
    const attempts = (): number =>
      statusesOf('in').filter((st) => st.text === 'node-red:common.status.connecting').length;
    // Once, the node gave up after the first refusal; now the library keeps trying (with the longer cap).
    await until(
      () => attempts() >= 4 && statusesOf('in').some((st) => retrying.test(st.text ?? '')),
      'four attempts and a status with the next try',
      15_000,
    );
    assert.equal(warningsOf('cfg').length, 1, 'one warning for a failure repeated by the retry loop');
  });

  it('a config node without its secret shows "not configured" and its users fail with a catchable error', async () => {
    await helper.load(
      NODES,
      onTab([
        { id: 'cfg', type: 'iothub-module-client', connectionType: 'connectionString' },
        {
          id: 'out',
          type: 'iothub-module-output',
          client: 'cfg',
          outputName: '',
          queueSize: '0',
          queueTimeout: '1',
          wires: [],
        },
        { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]),
      {},
    );
    const caught = collect(helper.getNode('caught'));
    helper.getNode('out').receive({ payload: 'x' });
    await until(() => caught.length === 1, 'error', 10_000);
    const error = caught[0]!.error as { code?: string; message: string };
    assert.equal(error.code, 'not-configured');
    assert.match(error.message, /The module client is not configured/);
    // The status carries the catalog key, which the editor translates into its own language.
    const key = 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.errors.not-configured';
    assert.ok(
      statusesOf('out').some((st) => st.fill === 'red' && st.text === key),
      'status shows the catalog key',
    );
  });

  it('two config nodes of one module identity: one connects, the other says which node holds it and takes over when it goes', async () => {
    const tls = tlsConfig(hub);
    const first = clientConfig(hub, 'flow', 'cfgA', { name: 'first' });
    const second = clientConfig(hub, 'flow', 'cfgB', { name: 'second' });
    const output = (id: string, client: string): FlowNode => ({
      id,
      type: 'iothub-module-output',
      client,
      outputName: 'out',
      queueSize: '0',
      queueTimeout: '1',
      wires: [[]],
    });
    const nodes = [
      tls.node,
      first.node,
      second.node,
      output('outA', 'cfgA'),
      output('outB', 'cfgB'),
      { id: 'catch', type: 'catch', scope: ['outA', 'outB'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ];
    const credentials = { tls: tls.credentials, cfgA: first.credentials, cfgB: second.credentials };
    const connects: string[] = [];
    const onConnectOf = ({ clientId }: { clientId: string }): void => void connects.push(clientId);
    hub.events.on('connect', onConnectOf);
    try {
      await helper.load(NODES, onTab(nodes), credentials);
      const connected = (id: string): boolean =>
        statusesOf(id).some((st) => st.text === 'node-red:common.status.connected');
      await until(() => connected('outA') || connected('outB'), 'one connects', 10_000);
      const [holder, waiter] = connected('outA') ? ['first', 'B'] : ['second', 'A'];
      await until(
        () => statusesOf(`out${waiter}`).some((st) => st.text === `identity in use by ${holder}`),
        'the other names the holder',
        10_000,
      );
      // No ping-pong: IoT Hub would close one connection of an identity each time the other connects (400027).
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.deepEqual(connects, [`${DEVICE}/flow`]);
      const caught = collect(helper.getNode('caught'));
      helper.getNode(`out${waiter}`).receive({ payload: 'refused' });
      await until(() => caught.length === 1, 'a catchable error', 10_000);
      const error = caught[0]!.error as { code?: string; message: string };
      assert.equal(error.code, 'identity-in-use');
      assert.match(error.message, new RegExp(`already used by another config node.*: ${holder}$`));
      // The holder and its flow node go (a modified-nodes deploy): the waiting node takes the identity.
      const holderId = holder === 'first' ? 'cfgA' : 'cfgB';
      const rest = nodes.filter((n) => n.id !== holderId && n.id !== `out${waiter === 'A' ? 'B' : 'A'}`);
      await helper.setFlows(onTab(rest), 'nodes', credentials);
      await until(() => connected(`out${waiter}`), 'the waiting node connects', 10_000);
      const sent = hub.observed.upstream.length;
      helper.getNode(`out${waiter}`).receive({ payload: 'now' });
      await until(() => hub.observed.upstream.length === sent + 1, 'its message reaches the hub', 10_000);
      assert.equal(identityWaiters(), 0);
    } finally {
      hub.events.off('connect', onConnectOf);
    }
  });

  it('never writes the connection string to the log, the flow nodes or a msg', async () => {
    const { nodes, credentials } = flow();
    await helper.load(NODES, onTab(nodes), credentials);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    hub.faults.dropConnection(`${DEVICE}/flow`);
    await until(() => hub.isConnected(`${DEVICE}/flow`), 'reconnected', 15_000);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    const got = collect(helper.getNode('got'));
    await hub.sendToInput(DEVICE, 'flow', 'in', { body: '{"x":1}', systemProperties: { '$.ct': 'application/json' } });
    await until(() => got.length === 1, 'a message', 10_000);
    const key = hub.getModule(DEVICE, 'flow')!.primaryKey;
    assert.ok(!JSON.stringify(got).includes(key), 'the key appears in a msg');
    // Deploy as the editor does (credentials inline on the node): the flow Node-RED keeps and saves has them
    // extracted into its separate, encrypted credentials store.
    const deployed = nodes.map((n) => (n.id === 'cfg' ? { ...n, credentials: credentials.cfg } : n));
    await helper.setFlows(onTab(deployed), 'full');
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    const flows = (helper as unknown as { _redNodes: { getFlows(): { flows: unknown[] } } })._redNodes.getFlows();
    assert.ok(
      flows.flows.some((n) => (n as { id?: string }).id === 'cfg'),
      'the deployed flow is readable',
    );
    assert.ok(!JSON.stringify(flows.flows).includes(key), 'the key appears in the flow');
    const log = (helper as unknown as { log(): { args: unknown[][] } }).log();
    const text = JSON.stringify(log.args);
    assert.ok(!text.includes(key), 'the key appears in the log');
    assert.ok(!text.includes('SharedAccessKey='), 'a connection string appears in the log');
  });
});

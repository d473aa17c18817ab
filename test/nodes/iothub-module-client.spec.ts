// The iothub-module-client config node in flows: connection status pushed to its users, one client per config
// node, redeploys that never duplicate messages or leave sockets, a missing secret, and secrets kept out of logs.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import { clientConfig, collect, DEVICE, helper, NODES, onTab, startHub, statusesOf, tlsConfig, until, untilSubscribed, unloadAll, type FlowNode } from './support';

describe('iothub-module-client (flow, local hub)', function () {
  this.timeout(60_000);
  let hub: LocalHubApi;
  const open = new Map<string, number>();
  const onConnect = ({ clientId }: { clientId: string }) => void open.set(clientId, (open.get(clientId) ?? 0) + 1);
  const onDisconnect = ({ clientId }: { clientId: string }) => void open.set(clientId, (open.get(clientId) ?? 0) - 1);
  before(async () => {
    hub = await startHub();
    hub.events.on('connect', onConnect);
    hub.events.on('disconnect', onDisconnect);
  });
  after(async () => {
    hub.events.off('connect', onConnect);
    hub.events.off('disconnect', onDisconnect);
    await hub.close();
  });
  beforeEach(() => helper.startServer());
  afterEach(() => unloadAll());

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

  it('pushes the connection status to every user and keeps config nodes isolated', async () => {
    const { nodes, credentials } = flow();
    await helper.load(NODES, onTab(nodes), credentials);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    await untilSubscribed(hub, `${DEVICE}/peer`, '/inputs/');
    await until(() => statusesOf('in').some((st) => st.text === 'node-red:common.status.connected'), 10_000, 'connected status');
    assert.ok(statusesOf('twin').some((st) => st.text === 'node-red:common.status.connected'), 'every user gets the status');
    const got = collect(helper.getNode('got'));
    const gotPeer = collect(helper.getNode('gotPeer'));
    await hub.sendToInput(DEVICE, 'peer', 'in', { body: 'for peer' });
    await hub.sendToInput(DEVICE, 'flow', 'in', { body: 'for flow' });
    await until(() => got.length === 1 && gotPeer.length === 1, 10_000, 'both messages');
    assert.deepEqual(got[0]!.payload, Buffer.from('for flow'));
    assert.deepEqual(gotPeer[0]!.payload, Buffer.from('for peer'));

    const before = statusesOf('in').length;
    hub.faults.dropConnection(`${DEVICE}/flow`);
    await until(() => statusesOf('in').slice(before).some((st) => st.fill === 'red' && st.shape === 'ring'), 10_000, 'disconnected status');
    await until(() => hub.isConnected(`${DEVICE}/flow`), 15_000, 'reconnected');
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
      else await until(() => hub.isConnected(`${DEVICE}/flow`), 10_000, 'connected');
      const got = collect(helper.getNode('got'));
      await hub.sendToInput(DEVICE, 'flow', 'in', { body: `round ${round}` });
      await hub.sendToInput(DEVICE, 'flow', 'other', { body: `sentinel ${round}` });
      await until(() => got.some((m) => String(m.payload) === `sentinel ${round}`), 10_000, `sentinel ${round}`);
      // Only this test's messages: a QoS 1 message of an earlier test may legitimately be re-delivered once.
      const ours = got.map((m) => String(m.payload)).filter((p) => /^(round|sentinel) /.test(p));
      assert.deepEqual(ours, [`round ${round}`, `sentinel ${round}`], `round ${round}`);
      await until(() => open.get(`${DEVICE}/flow`) === 1 && open.get(`${DEVICE}/peer`) === 1, 10_000, `one socket per client (round ${round})`);
    }
    await helper.unload();
    await until(() => open.get(`${DEVICE}/flow`) === 0 && open.get(`${DEVICE}/peer`) === 0, 10_000, 'all sockets closed');
    assert.equal(hub.isConnected(`${DEVICE}/flow`), false);
    assert.equal(hub.isConnected(`${DEVICE}/peer`), false);
  });

  it('closes well within Node-RED\'s 15 s while the hub is unreachable and messages wait in the queue', async () => {
    const { nodes, credentials } = flow();
    nodes.push({ id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: '', queueSize: '10', queueTimeout: '60', wires: [] });
    await helper.load(NODES, onTab(nodes), credentials);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    await hub.stop();
    try {
      await until(() => !hub.isConnected(`${DEVICE}/flow`), 10_000, 'disconnected');
      helper.getNode('out').receive({ payload: 'waiting' });
      const started = Date.now();
      await helper.unload();
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 12_000, `close took ${elapsed} ms`);
    } finally {
      await hub.restart();
    }
  });

  it('refused credentials show an error status with catalog text on every user', async () => {
    const tls = tlsConfig(hub);
    const good = hub.getModule(DEVICE, 'flow')!.connectionString;
    const wrongKey = good.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
    await helper.load(
      NODES,
      onTab([
        tls.node,
        { id: 'cfg', type: 'iothub-module-client', connectionType: 'connectionString', tls: 'tls', connectionRetryInterval: '1' },
        { id: 'in', type: 'iothub-module-input', client: 'cfg', inputName: '', wires: [[]] },
      ]),
      { tls: tls.credentials, cfg: { connectionString: wrongKey } },
    );
    await until(() => statusesOf('in').some((st) => st.fill === 'red' && st.shape === 'dot'), 15_000, 'error status');
    const error = statusesOf('in').find((st) => st.fill === 'red' && st.shape === 'dot')!;
    assert.equal(error.text, 'error: The hub refused the credentials');
  });

  it('a config node without its secret shows "not configured" and its users fail with a catchable error', async () => {
    await helper.load(
      NODES,
      onTab([
        { id: 'cfg', type: 'iothub-module-client', connectionType: 'connectionString' },
        { id: 'out', type: 'iothub-module-output', client: 'cfg', outputName: '', queueSize: '0', queueTimeout: '1', wires: [] },
        { id: 'catch', type: 'catch', scope: ['out'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]),
      {},
    );
    const caught = collect(helper.getNode('caught'));
    helper.getNode('out').receive({ payload: 'x' });
    await until(() => caught.length === 1, 10_000, 'error');
    const error = caught[0]!.error as { code?: string; message: string };
    assert.equal(error.code, 'not-configured');
    assert.match(error.message, /The module client is not configured/);
    // The status carries the catalog key, which the editor translates into its own language.
    const key = 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.errors.not-configured';
    assert.ok(statusesOf('out').some((st) => st.fill === 'red' && st.text === key), 'status shows the catalog key');
  });

  it('never writes the connection string to the log', async () => {
    const { nodes, credentials } = flow();
    await helper.load(NODES, onTab(nodes), credentials);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    hub.faults.dropConnection(`${DEVICE}/flow`);
    await until(() => hub.isConnected(`${DEVICE}/flow`), 15_000, 'reconnected');
    const key = hub.getModule(DEVICE, 'flow')!.primaryKey;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const log = (helper as unknown as { log(): { args: unknown[][] } }).log();
    const text = JSON.stringify(log.args);
    assert.ok(!text.includes(key), 'the key appears in the log');
    assert.ok(!text.includes('SharedAccessKey='), 'a connection string appears in the log');
  });
});

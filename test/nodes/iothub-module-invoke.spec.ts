// iothub-module-invoke module to module through the local hub: a client from the IoT Edge environment (the
// hub's IOTEDGE_* variables and workload API) calls a method that another module's flow answers.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import {
  clientConfig,
  collect,
  DEVICE,
  helper,
  nextInput,
  NODES,
  onTab,
  tlsConfig,
  untilSubscribed,
  useLocalHub,
} from './support';
import { until } from '../helpers/until';

describe('iothub-module-invoke (flow, local hub)', function () {
  this.timeout(40_000);
  let hub: LocalHubApi;
  const saved: Record<string, string | undefined> = {};
  useLocalHub((h) => {
    hub = h;
    hub.addModule(DEVICE, 'idle');
    // The real approach: the IoT Edge runtime gives a module these variables; the node reads process.env.
    for (const [key, value] of Object.entries(hub.edgeEnvironment(DEVICE, 'flow'))) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
  });
  after(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  async function load(invoke: Record<string, unknown> = {}): Promise<void> {
    const tls = tlsConfig(hub);
    const peer = clientConfig(hub, 'peer', 'cfgPeer');
    const since = Date.now();
    await helper.load(
      NODES,
      onTab([
        tls.node,
        { id: 'cfgEdge', type: 'iothub-module-client', connectionType: 'edge', operationTimeout: '10' },
        peer.node,
        {
          id: 'ping',
          type: 'iothub-module-method-request',
          client: 'cfgPeer',
          methodName: 'ping',
          timeout: '25',
          timeoutStatus: '504',
          wires: [['pong']],
        },
        { id: 'pong', type: 'iothub-module-method-response', statusCode: '200', wires: [] },
        {
          id: 'invoke',
          type: 'iothub-module-invoke',
          client: 'cfgEdge',
          deviceId: DEVICE,
          deviceIdType: 'str',
          moduleId: 'peer',
          moduleIdType: 'str',
          methodName: 'ping',
          methodNameType: 'str',
          connectTimeout: '0',
          responseTimeout: '10',
          wires: [['result']],
          ...invoke,
        },
        { id: 'result', type: 'helper' },
        { id: 'catch', type: 'catch', scope: ['invoke'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]),
      { tls: tls.credentials, cfgPeer: peer.credentials },
    );
    await untilSubscribed(hub, `${DEVICE}/peer`, '$iothub/methods/POST', since);
  }

  it('calls a method on another module and emits its payload and status', async () => {
    await load();
    const result = nextInput(helper.getNode('result'));
    helper.getNode('invoke').receive({ payload: { hello: 'é /$+%&#' }, keep: 'me' });
    const msg = await result;
    assert.deepEqual(msg.payload, { hello: 'é /$+%&#' });
    assert.equal(msg.statusCode, 200);
    assert.equal(msg.keep, 'me');
  });

  it('msg overrides the target; a target that is not connected is a catchable 404103', async () => {
    await load();
    const caught = collect(helper.getNode('caught'));
    helper
      .getNode('invoke')
      .receive({ payload: 1, moduleId: 'idle', methodName: 'ping', connectTimeout: 0, responseTimeout: 5 });
    await until(() => caught.length === 1, 'error', 20_000);
    const error = caught[0]!.error as { code?: string; message: string };
    assert.match(error.message, /404103/);
    assert.equal(error.code, 'device-not-online');
    // The text alone: no "Error: " before a sentence meant for people.
    assert.match(error.message, /^The target device or module is not connected \(device-not-online, 404103\)/);
  });

  it('a method that does not answer in time is a catchable 504101', async () => {
    await load();
    hub.faults.withholdMethodRequests(true);
    try {
      const caught = nextInput(helper.getNode('caught'), 20_000);
      helper.getNode('invoke').receive({ payload: 1, responseTimeout: 5 });
      const error = (await caught).error as { code?: string; message: string };
      assert.match(error.message, /504101/);
      assert.equal(error.code, 'gateway-timeout');
    } finally {
      hub.faults.clear();
    }
  });

  it('typedInput targets come from msg; bad targets and timeouts are catchable errors', async () => {
    await load({ moduleId: 'target', moduleIdType: 'msg' });
    const result = nextInput(helper.getNode('result'));
    helper.getNode('invoke').receive({ payload: 7, target: 'peer' });
    assert.equal((await result).payload, 7);
    const caught = collect(helper.getNode('caught'));
    helper.getNode('invoke').receive({ payload: 1, target: 'peer', deviceId: 42 });
    helper.getNode('invoke').receive({ payload: 1, target: 'peer', responseTimeout: 'soon' });
    await until(() => caught.length === 2, 'two errors', 10_000);
    assert.deepEqual(caught.map((m) => (m.error as { code?: string }).code).sort(), [
      'invalid-target',
      'invalid-timeout',
    ]);
  });

  it('an unknown target module is a catchable 404 with its IoT Hub code', async () => {
    await load();
    const caught = nextInput(helper.getNode('caught'));
    helper.getNode('invoke').receive({ payload: 1, moduleId: 'ghost' });
    const error = (await caught).error as { code?: string; message: string };
    assert.equal(error.code, 'not-found');
    assert.match(error.message, /\(not-found, 4040\d\d\)/);
  });

  it('a client that is not of the IoT Edge environment or local hub kind cannot invoke: a catchable not-supported', async () => {
    await load({ client: 'cfgPeer' });
    const refused = nextInput(helper.getNode('caught'));
    helper.getNode('invoke').receive({ payload: 1 });
    assert.equal(((await refused).error as { code?: string }).code, 'not-supported');
  });

  it('a caller the hub no longer accepts gets a catchable 401 that keeps the msg', async () => {
    await load();
    const first = nextInput(helper.getNode('result'));
    helper.getNode('invoke').receive({ payload: 1 });
    assert.equal((await first).statusCode, 200);
    // The calling module's identity goes away: its token no longer authenticates the HTTP call (IoT Hub's 401002).
    hub.removeModule(DEVICE, 'flow');
    try {
      const caught = nextInput(helper.getNode('caught'), 20_000);
      helper.getNode('invoke').receive({ payload: 2, keep: 'me' });
      const msg = await caught;
      const error = msg.error as { code?: string; message: string };
      assert.equal(error.code, 'unauthorized');
      assert.match(error.message, /\(unauthorized, 401002\)/);
      assert.equal(msg.keep, 'me');
    } finally {
      hub.addModule(DEVICE, 'flow');
    }
  });
});

// Every flow in examples/ is well-formed (comment first, core nodes plus ours, no credentials, local hub kind),
// deploys without error against a local hub, and does its thing once when its inject nodes are clicked.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { LocalHub } from '../../src/index';
import type { HubMessage, LocalHubApi } from '../../src/index';
import os from 'node:os';
import { localHubsClosed, localHubSettings, ownLocalHub, shareLocalHub, unshareLocalHub } from '../../src/hub';
import { QUEUE_DEFAULTS } from '../../nodes/shared/SendQueue';
import { collect, helper, NODES, nextInput, statusesOf, type FlowNode, type TestNode } from './support';
import { until } from '../helpers/until';

/* eslint-disable @typescript-eslint/no-require-imports */
const CORE_NODES: unknown[] = [
  require('@node-red/nodes/core/common/20-inject.js'),
  require('@node-red/nodes/core/common/24-complete.js'),
  require('@node-red/nodes/core/common/25-catch.js'),
  require('@node-red/nodes/core/common/25-status.js'),
  require('@node-red/nodes/core/common/90-comment.js'),
  require('@node-red/nodes/core/function/10-function.js'),
  require('@node-red/nodes/core/function/15-change.js'),
];
/* eslint-enable @typescript-eslint/no-require-imports */

const DIR = path.resolve(__dirname, '..', '..', 'examples');
const DEVICE = 'local-device';
const OURS = /^iothub-module-/;
const CORE = new Set(['tab', 'comment', 'inject', 'debug', 'function', 'change', 'catch', 'status', 'complete']);

/** The text of a flow's first comment node. */
function commentOf(flow: FlowNode[]): string {
  const info = flow.find((n) => n.type === 'comment')?.info;
  return typeof info === 'string' ? info : '';
}

function load(file: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as FlowNode[];
}

const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('examples/', function () {
  this.timeout(60_000);

  it('there is one example per capability', () => {
    assert.ok(files.length >= 7, `only ${files.length} examples`);
  });

  for (const file of files) {
    it(`${file}: a comment node first, core nodes plus ours only, no credentials, the local hub kind`, () => {
      const flow = load(file);
      const firstNode = flow.find((n) => n.type !== 'tab');
      assert.equal(firstNode?.type, 'comment', 'the first node explains the example');
      const info = firstNode?.info;
      assert.ok(typeof info === 'string' && info.length > 100, 'the comment explains it in its info');
      for (const n of flow) {
        assert.ok(CORE.has(n.type) || OURS.test(n.type), `${n.id}: ${n.type} is neither core nor ours`);
        assert.equal(n.credentials, undefined, `${n.id} carries credentials`);
        if (n.type === 'iothub-module-client' && n.connectionType === 'sasToken') {
          // A SAS token connection whose tokens come from the flow: no gateway, so its local-hub tokens reach the local
          // hub.
          assert.ok(!n.gatewayHostname, `${n.id} must leave the gateway to the local hub`);
        } else if (n.type === 'iothub-module-client') {
          assert.equal(n.connectionType, 'localHub', `${n.id} must use the local hub kind`);
          assert.ok(n.deviceId && n.moduleId, `${n.id} names its module`);
        }
      }
      assert.doesNotMatch(
        JSON.stringify(flow),
        /SharedAccessKey=|SharedAccessSignature sr=[^'"\s]+&sig=/,
        'no secret in the example',
      );
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length, 'ids are unique');
      for (const n of flow) {
        for (const wire of (n.wires as string[][] | undefined) ?? [])
          for (const target of wire) assert.ok(ids.has(target), `${n.id} wired to missing ${target}`);
        if (typeof n.client === 'string') assert.ok(ids.has(n.client), `${n.id} uses a missing config node`);
      }
    });
  }

  it('output nodes keep the queue limits the editor gives a new output node; a comment says why one differs', () => {
    const defaults: Record<string, string> = {
      queueSize: String(QUEUE_DEFAULTS.size),
      queueMegabytes: String(QUEUE_DEFAULTS.megabytes),
      queueTimeout: String(QUEUE_DEFAULTS.timeoutSeconds),
    };
    for (const file of files) {
      const flow = load(file);
      const comment = commentOf(flow);
      for (const n of flow.filter((x) => x.type === 'iothub-module-output')) {
        for (const [field, value] of Object.entries(defaults)) {
          if (n[field] === value) continue;
          const why = new RegExp(`\\b${String(n[field])} s here\\b`);
          assert.match(comment, why, `${file} ${n.id}: ${field} ${String(n[field])} instead of ${value}, unexplained`);
        }
      }
    }
  });

  it('07 sends a SAS token connection to example 09, where the flow renews the token', () => {
    const comment = commentOf(load(files.find((f) => f.startsWith('07'))!));
    assert.match(comment, /Example 09/);
    assert.match(comment, /update-sastoken/);
    assert.doesNotMatch(comment, /warns two minutes/);
  });

  describe('deployed against a local hub', () => {
    let hub: LocalHubApi;
    let errors: Array<{ id: string; error: unknown }>;
    const upstream: HubMessage[] = [];
    const onUpstream = (m: HubMessage): void => void upstream.push(m);

    const savedKey = process.env.EX9_MODULE_KEY;
    before(async () => {
      hub = await LocalHub.start({});
      // As `npm start` does: the example config nodes (local hub kind) join this hub, and example 09's module
      // exists with its key in the runtime's environment.
      shareLocalHub(hub, {});
      hub.events.on('upstream', onUpstream);
      process.env.EX9_MODULE_KEY = hub.addModule(DEVICE, 'ex-token').primaryKey;
    });
    after(async () => {
      if (savedKey === undefined) delete process.env.EX9_MODULE_KEY;
      else process.env.EX9_MODULE_KEY = savedKey;
      hub.events.off('upstream', onUpstream);
      unshareLocalHub();
      await hub.close();
      await localHubsClosed();
    });
    beforeEach(() => helper.startServer());
    afterEach(async () => {
      await helper.unload();
      await helper.stopServer();
      upstream.length = 0;
    });

    /** Loads an example with its debug nodes replaced by helper nodes, and records every node error. */
    async function deploy(file: string): Promise<FlowNode[]> {
      const flow = load(file).map((n) => (n.type === 'debug' ? { id: n.id, z: n.z, type: 'helper' } : n));
      await helper.load([...NODES, ...CORE_NODES], flow);
      errors = [];
      for (const n of flow) {
        const node = helper.getNode(n.id) as TestNode | null;
        node?.on('call:error', (call: { args: unknown[] }) => errors.push({ id: n.id, error: call.args[0] }));
      }
      return flow;
    }
    const node = (id: string): TestNode => helper.getNode(id);
    const click = (id: string): void => node(id).receive({});
    const online = (moduleId: string): Promise<void> =>
      until(() => hub.isConnected(`${DEVICE}/${moduleId}`), `${moduleId} connected`, 15_000);
    const subscribed = (moduleId: string, part: string): Promise<void> =>
      until(
        () =>
          hub.observed.subscriptions.some(
            (s) => s.clientId === `${DEVICE}/${moduleId}` && s.topic.includes(part) && s.granted !== 128,
          ),
        `${moduleId} subscribed to ${part}`,
        15_000,
      );
    const noErrors = (): void => assert.deepEqual(errors, []);

    it('01: sends to output "alerts" with application and system properties, upstream by its route', async () => {
      await deploy(files.find((f) => f.startsWith('01'))!);
      await online('ex-output');
      const acked = nextInput(node('ex1-acked'), 15_000);
      click('ex1-go');
      const msg = await acked;
      assert.deepEqual(msg.payload, { temperature: 31.5, limit: 30 });
      await until(() => upstream.length === 1, 'upstream alert', 10_000);
      const m = upstream[0]!;
      assert.equal(m.moduleId, 'ex-output');
      assert.equal(m.outputName, 'alerts');
      assert.equal(m.properties.severity, 'high');
      assert.equal(m.properties.site, 'plant-7');
      assert.equal(m.systemProperties['$.mid'], 'alert-0001');
      assert.equal(m.systemProperties['$.cid'], 'example-1');
      noErrors();
    });

    it('02: one input node without a name receives every input, with its name', async () => {
      await deploy(files.find((f) => f.startsWith('02'))!);
      await subscribed('ex-receiver', 'inputs');
      await online('ex-sender');
      const got: Array<Record<string, unknown>> = [];
      node('ex2-show').on('input', (msg: Record<string, unknown>) => got.push(msg));
      click('ex2-temp');
      click('ex2-hum');
      await until(() => got.length === 2, 'two inputs', 15_000);
      const byInput = Object.fromEntries(got.map((m): [string, unknown] => [String(m.inputName), m.payload]));
      assert.deepEqual(byInput, { temperature: 21.5, humidity: { relative: 48 } });
      assert.ok(
        got.every(
          (m) =>
            m.connectionModuleId === 'ex-sender' ||
            (m.properties as Record<string, string> | undefined)?.['$.cmid'] === 'ex-sender',
        ),
        'edgeHub adds the sender',
      );
      assert.equal(upstream.length, 0, 'routed to the receiver, not upstream');
      noErrors();
    });

    it('03: emits the twin at connect, reports, and acknowledges a desired change', async () => {
      await deploy(files.find((f) => f.startsWith('03'))!);
      const first = await nextInput(node('ex3-show'), 15_000);
      assert.equal(first.topic, 'twin');
      click('ex3-report');
      await until(
        () => hub.getTwin(DEVICE, 'ex-twin').properties.reported.firmware === '1.2.0',
        'reported firmware',
        10_000,
      );
      const desired = nextInput(node('ex3-show'), 15_000);
      hub.updateDesired(DEVICE, 'ex-twin', { interval: 5 });
      assert.equal((await desired).topic, 'desired');
      await until(
        () => {
          const ack = hub.getTwin(DEVICE, 'ex-twin').properties.reported.interval as
            { value?: number; ac?: number } | undefined;
          return ack?.value === 5 && ack.ac === 200;
        },
        'acknowledged interval',
        10_000,
      );
      const got = await (async () => {
        const next = nextInput(node('ex3-show'), 15_000);
        click('ex3-get');
        return next;
      })();
      assert.equal(got.topic, 'twin');
      noErrors();
    });

    it('04: answers the direct method "reboot" (200, and 400 for a bad payload)', async () => {
      await deploy(files.find((f) => f.startsWith('04'))!);
      await subscribed('ex-methods', '$iothub/methods');
      assert.deepEqual(
        await hub.invokeMethod(DEVICE, 'ex-methods', {
          methodName: 'reboot',
          payload: { delay: 5 },
          responseTimeoutInSeconds: 10,
        }),
        { status: 200, payload: { accepted: true, rebootIn: 5 } },
      );
      const bad = await hub.invokeMethod(DEVICE, 'ex-methods', {
        methodName: 'reboot',
        payload: { delay: 'soon' },
        responseTimeoutInSeconds: 10,
      });
      assert.equal(bad.status, 400);
      noErrors();
    });

    it('05: module ex-caller invokes "ping" on module ex-target', async () => {
      await deploy(files.find((f) => f.startsWith('05'))!);
      await subscribed('ex-target', '$iothub/methods');
      await online('ex-caller');
      const answer = nextInput(node('ex5-result'), 20_000);
      click('ex5-go');
      const msg = await answer;
      assert.deepEqual(msg.payload, { pong: true });
      assert.equal(msg.statusCode, 200);
      noErrors();
    });

    it('06: msg.action disconnects and connects the module client', async () => {
      await deploy(files.find((f) => f.startsWith('06'))!);
      await online('ex-control');
      click('ex6-disc');
      await until(() => !hub.isConnected(`${DEVICE}/ex-control`), 'disconnected', 10_000);
      click('ex6-conn');
      await online('ex-control');
      click('ex6-send');
      await until(
        () => upstream.some((m) => m.moduleId === 'ex-control' && m.outputName === 'readings'),
        'reading upstream',
        10_000,
      );
      noErrors();
    });

    // The client refuses tokens shorter than 240 s (renewed 120 s before expiry, a shorter one would loop); renewal
    // itself, with queued messages kept in order, is covered by test/client/renewal.spec.ts with a short margin.
    it('07: the shortest accepted SAS lifetime (240 s) connects with such a token and numbered messages flow without a gap', async () => {
      await deploy(files.find((f) => f.startsWith('07'))!);
      const clientId = `${DEVICE}/ex-sas`;
      const since = Date.now();
      await until(
        () => hub.observed.connects.some((c) => c.at >= since && c.clientId === clientId && c.returnCode === 0),
        'connected',
        10_000,
      );
      const connect = hub.observed.connects.find(
        (c) => c.at >= since && c.clientId === clientId && c.returnCode === 0,
      )!;
      const se = Number(/[?&]se=(\d+)/.exec(connect.password ?? '')?.[1]);
      assert.ok(Math.abs(se - connect.at / 1000 - 240) <= 2, `token lifetime ${se - connect.at / 1000} s`);
      await until(() => upstream.filter((m) => m.moduleId === 'ex-sas').length >= 8, 'eight readings', 15_000);
      const seqs = upstream
        .filter((m) => m.moduleId === 'ex-sas')
        .map((m) => (JSON.parse(m.body.toString('utf8')) as { seq: number }).seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        'in order, none lost',
      );
      noErrors();
    });

    it('08: a burst made while offline waits in the output queue and goes out in order after connect', async () => {
      await deploy(files.find((f) => f.startsWith('08'))!);
      const completed = collect(node('ex8-count'));
      await online('ex-burst');
      click('ex8-disc');
      await until(() => !hub.isConnected(`${DEVICE}/ex-burst`), 'disconnected', 10_000);
      click('ex8-burst');
      await until(
        () =>
          (
            helper as unknown as {
              _NodePrototype: {
                status: { getCalls(): Array<{ thisValue: { id: string }; args: Array<{ text?: string }> }> };
              };
            }
          )._NodePrototype.status
            .getCalls()
            .some((c) => c.thisValue?.id === 'ex8-out' && /20/.test(String(c.args[0]?.text ?? ''))),
        'twenty queued',
        10_000,
      );
      assert.equal(upstream.length, 0, 'nothing leaves while offline');
      click('ex8-conn');
      await until(() => upstream.length === 20, 'twenty upstream', 15_000);
      assert.deepEqual(
        upstream.map((m) => (JSON.parse(m.body.toString('utf8')) as { seq: number }).seq),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      // The Complete node passes on the disconnect and connect msgs too: 22 completions, 20 acknowledged sends.
      await until(() => completed.length === 22, 'twenty-two completions', 10_000);
      const counts = statusesOf('ex8-count').map((s) => s.text);
      assert.equal(counts.at(-1), '20 acknowledged');
      assert.ok(
        !counts.includes('21 acknowledged') && !counts.includes('22 acknowledged'),
        `counted: ${counts.join(', ')}`,
      );
      noErrors();
    });

    it('09: the flow signs each SAS token when the output node asks for one; readings flow in order across the renewals', async () => {
      const since = Date.now();
      await deploy(files.find((f) => f.startsWith('09'))!);
      const clientId = `${DEVICE}/ex-token`;
      // The first token (the node has none stored) and three renewals of 10 s tokens, every one used to connect.
      await until(
        () =>
          new Set(
            hub.observed.connects
              .filter((c) => c.at >= since && c.clientId === clientId && c.returnCode === 0)
              .map((c) => c.password),
          ).size >= 4,
        'four tokens used',
        30_000,
      );
      await until(() => upstream.filter((m) => m.moduleId === 'ex-token').length >= 12, 'twelve readings', 15_000);
      const seqs = upstream
        .filter((m) => m.moduleId === 'ex-token')
        .map((m) => (JSON.parse(m.body.toString('utf8')) as { seq: number }).seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        'in order, none lost',
      );
      assert.equal(
        hub.observed.connects.filter((c) => c.at >= since && c.clientId === clientId && c.returnCode !== 0).length,
        0,
        'no refused connect',
      );
      noErrors();
    });
  });
  describe('in a Node-RED without npm start (the runtime starts its own hub)', () => {
    const saved = { ...localHubSettings };
    let dir: string;
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'examples-discovery-'));
      localHubSettings.discoveryDir = dir;
      localHubSettings.graceMs = 0;
      await helper.startServer();
    });
    afterEach(async () => {
      await helper.unload();
      await helper.stopServer();
      await localHubsClosed();
      Object.assign(localHubSettings, saved);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('05 (invoke) deploys with one click and works; the hub closes when the flow stops', async () => {
      const flow = load(files.find((f) => f.startsWith('05'))!).map((n) =>
        n.type === 'debug' ? { id: n.id, z: n.z, type: 'helper' } : n,
      );
      await helper.load([...NODES, ...CORE_NODES], flow);
      let own: LocalHubApi | undefined;
      await until(async () => (own = await ownLocalHub()) !== undefined, 'an in-process hub', 15_000);
      await until(
        () => own !== undefined && own.isConnected(`${DEVICE}/ex-target`) && own.isConnected(`${DEVICE}/ex-caller`),
        'both modules online',
        15_000,
      );
      await until(
        () =>
          own!.observed.subscriptions.some(
            (x) => x.clientId === `${DEVICE}/ex-target` && x.topic.includes('$iothub/methods'),
          ),
        'target subscribed',
        15_000,
      );
      const answer = nextInput(helper.getNode('ex5-result'), 20_000);
      helper.getNode('ex5-go').receive({});
      assert.deepEqual((await answer).payload, { pong: true });
      await helper.unload();
      await localHubsClosed();
      assert.equal(await ownLocalHub(), undefined, 'closed after the last config node stopped');
    });
  });
});

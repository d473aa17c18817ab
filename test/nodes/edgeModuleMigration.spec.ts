// A flow of the archived edge-module pack, converted, runs against the local hub as an IoT Edge module: the method
// is answered by logic that builds a new msg (as the old pack allowed), and a JSON-text report reaches the twin.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { LocalHubApi } from '../../src/hub/types';
import { convertEdgeModuleFlow, type FlowNode as LegacyNode } from '../../nodes/shared/edgeModuleMigration';
import { DEVICE, helper, NODES, untilSubscribed, useLocalHub } from './support';
import { until } from '../helpers/until';

// Node-RED's core node modules are CommonJS without types, loaded by path as Node-RED loads them.
const CORE = ['function/10-function.js', 'function/15-change.js', 'parsers/70-JSON.js'].map(
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (f) => require(`@node-red/nodes/core/${f}`) as unknown,
);
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'edge-module-flow.json');
/** Node types of the fixture this test runs (the injects, debugs, comments and links are not needed). */
const RUN = new Set([
  'tab',
  'function',
  'change',
  'json',
  'iothub-module-client',
  'iothub-module-input',
  'iothub-module-output',
  'iothub-module-twin',
  'iothub-module-method-request',
  'iothub-module-method-response',
]);

describe('a converted edge-module flow (flow, local hub, IoT Edge environment)', function () {
  this.timeout(40_000);
  let hub: LocalHubApi;
  const saved: Record<string, string | undefined> = {};
  useLocalHub((h) => {
    hub = h;
    // The archived pack's client always came from the IoT Edge environment; give the runtime module `flow`'s.
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

  async function load(): Promise<void> {
    const legacy = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as LegacyNode[];
    const { nodes, unmapped } = convertEdgeModuleFlow(legacy);
    assert.deepEqual(unmapped, []);
    const since = Date.now();
    await helper.load(
      [...NODES, ...CORE],
      nodes.filter((n) => RUN.has(n.type)),
    );
    await untilSubscribed(hub, `${DEVICE}/flow`, '$iothub/methods/POST', since);
  }

  it('answers the method through the converted pair, with msg.status as the status, although the logic built a new msg', async () => {
    await load();
    const result = await hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'setValue',
      payload: { value: 'é /$+%&#' },
      responseTimeoutInSeconds: 10,
    });
    assert.equal(result.status, 200);
    // The fixture's logic answers { received: msg.payload, method: msg.method }: msg.method is set as the old node did.
    assert.deepEqual(result.payload, { received: { value: 'é /$+%&#' }, method: 'setValue' });
  });

  it('reports a JSON-text payload to the twin (parsed by the json node in front of it)', async () => {
    await load();
    helper.getNode('legacy-reported').receive({ payload: 'running' });
    await until(
      () => (hub.getTwin(DEVICE, 'flow').properties.reported as Record<string, unknown>).moduleStatus === 'running',
      'reported moduleStatus',
      10_000,
    );
  });
});

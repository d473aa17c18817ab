// Case 2: output events through Node-RED — inject → iothub-module-output (acknowledgement output → sink) against
// inject → core `mqtt out` (mqtt-broker over TLS with the hub's CA, module credentials) publishing the same topic.
import type { HubHandle } from '../startHubProcess';
import { flows, type NodeRedHarness } from '../nodeRed';
import { interleavedRates, rateRows, type RateRow } from '../results';
import { waitFor } from '../stats';
import { clientIdOf, jsonPayload, outputTopic, PROPS, sasToken, usernameOf } from '../wire';
import { runFlow } from './nodeRedRunner';

export interface NodeRedThroughputCounts {
  inFlight: number;
  sequential: number;
  runs: number;
  warmup: number;
}

const Z = 'bench-tab';

/**
 * What every inject node builds, for both contenders alike: the 200-byte JSON (as an object) and the three
 * application properties (msg.properties; the core node ignores them, its topic carries the same bag), so the work
 * upstream of the node under test is identical.
 */
const INJECT_PROPS = [
  { p: 'payload', v: jsonPayload(0), vt: 'json' },
  { p: 'properties', v: JSON.stringify(PROPS), vt: 'json' },
];

/** Deploys both flows and waits for both connections. */
export async function deployOutputFlows(hub: HubHandle, red: NodeRedHarness): Promise<void> {
  const [ours, core] = await hub.addModules('bench-device', 'nodered-out-', 2);
  const ready = hub.ready;
  await red.deploy([
    flows.tab(Z),
    flows.tls('bench-tls', ready.caCert),
    flows.moduleClient('bench-client', ours!.connectionString, 'bench-tls'),
    flows.inject('inject-out', Z, ['out'], INJECT_PROPS),
    // passThrough = the node's acknowledgement output: the msg leaves only after the hub's PUBACK.
    {
      id: 'out',
      type: 'iothub-module-output',
      z: Z,
      name: '',
      client: 'bench-client',
      outputName: 'telemetry',
      passThrough: true,
      x: 300,
      y: 100,
      wires: [['sink-out']],
    },
    flows.sink('sink-out', Z),
    // The same node without the acknowledgement output, acknowledged by its done() exactly like the core node.
    flows.inject('inject-out2', Z, ['out2'], INJECT_PROPS),
    {
      id: 'out2',
      type: 'iothub-module-output',
      z: Z,
      name: '',
      client: 'bench-client',
      outputName: 'telemetry',
      passThrough: false,
      x: 300,
      y: 150,
      wires: [],
    },
    {
      id: 'catch-out',
      type: 'catch',
      z: Z,
      name: '',
      scope: ['out', 'out2'],
      uncaught: false,
      x: 300,
      y: 200,
      wires: [['sink-err']],
    },
    flows.sink('sink-err', Z),
    {
      id: 'bench-broker',
      type: 'mqtt-broker',
      name: 'bench hub',
      broker: 'localhost',
      port: String(ready.port),
      tls: 'bench-tls',
      clientid: clientIdOf(core!),
      autoConnect: true,
      usetls: true,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: false,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
      credentials: { user: usernameOf(ready.hostName, core!), password: sasToken(ready.hostName, core!) },
    },
    // The core node publishes the JSON payload to the topic with the same property bag (a fixed string).
    flows.inject('inject-mqtt', Z, ['mqtt-out'], INJECT_PROPS),
    {
      id: 'mqtt-out',
      type: 'mqtt out',
      z: Z,
      name: '',
      topic: outputTopic(core!),
      qos: '1',
      retain: 'false',
      respTopic: '',
      contentType: '',
      userProps: '',
      correl: '',
      expiry: '',
      broker: 'bench-broker',
      x: 300,
      y: 300,
      wires: [],
    },
  ]);
  await waitFor(
    () => red.getNode<{ host?: { connected: boolean } }>('bench-client')?.host?.connected === true,
    'iothub-module-client to connect',
  );
  await waitFor(
    () => red.getNode<{ connected?: boolean }>('bench-broker')?.connected === true,
    'mqtt-broker to connect',
  );
}

/** Case 2. */
export async function runNodeRedThroughput(
  hub: HubHandle,
  red: NodeRedHarness,
  counts: NodeRedThroughputCounts,
  log: (line: string) => void,
): Promise<RateRow[]> {
  await deployOutputFlows(hub, red);
  const rows: RateRow[] = [];
  const contenders = (mode: 'all' | 'sequential') => [
    {
      name: 'iothub-module-output',
      run: (n: number) =>
        runFlow(red, { injectId: 'inject-out', ackBy: { sink: 'sink-out' }, errorSink: 'sink-err' }, n, mode),
    },
    {
      name: 'iothub-module-output, done()',
      run: (n: number) =>
        runFlow(red, { injectId: 'inject-out2', ackBy: { complete: 'out2' }, errorSink: 'sink-err' }, n, mode),
    },
    {
      name: 'core mqtt out',
      run: (n: number) => runFlow(red, { injectId: 'inject-mqtt', ackBy: { complete: 'mqtt-out' } }, n, mode),
    },
  ];
  for (const scenario of [
    { name: 'all in flight', n: counts.inFlight, mode: 'all' as const },
    { name: 'one at a time', n: counts.sequential, mode: 'sequential' as const },
  ]) {
    log(`case 2: Node-RED ${scenario.name} (${scenario.n} messages × ${counts.runs} runs)`);
    const result = await interleavedRates(
      contenders(scenario.mode),
      scenario.n,
      counts.runs,
      Math.min(counts.warmup, scenario.n),
      () => hub.clear(),
      log,
      () => hub.cpuMicros(),
    );
    rows.push(...rateRows(result, { case: '2', scenario: scenario.name, messages: scenario.n, bytes: 200 }));
  }
  await red.deploy([]);
  return rows;
}

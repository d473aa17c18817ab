// Case 4: input fan-in — messages per second the hub delivers to a module input (hub.sendToInput in the hub process),
// received by this client alone, by raw mqtt.js, and by an iothub-module-input node feeding a sink.
import type { HubHandle } from '../startHubProcess';
import type { BenchModule } from '../hubProcess';
import { flows, type NodeRedHarness } from '../nodeRed';
import { arrivalCounter, interleavedRates, rateRows, type RateRow } from '../results';
import { waitFor } from '../stats';
import { connectRaw } from '../senders';
import { jsonPayload, PROPS } from '../wire';
import { IoTHubModuleClient } from '../../src/index';

export interface FanInCounts {
  messages: number;
  runs: number;
  warmup: number;
}

const INPUT = 'input1';
const Z = 'bench-fanin';

interface Receiver {
  name: string;
  module: BenchModule;
  /** Resolves when `n` more messages arrived. */
  expect(n: number): Promise<void>;
  close(): Promise<void>;
}

async function ours(hub: HubHandle, m: BenchModule): Promise<Receiver> {
  const c = arrivalCounter();
  const client = IoTHubModuleClient.createFromConnectionString(m.connectionString, {
    serverVerificationCert: hub.ready.caCert,
  });
  client.onMessageReceived = () => c.hit();
  await client.connect();
  return { name: 'this client', module: m, expect: c.expect, close: () => client.shutdown() };
}

async function raw(hub: HubHandle, m: BenchModule): Promise<Receiver> {
  const c = arrivalCounter();
  const client = await connectRaw(hub.ready, m);
  client.on('message', () => c.hit());
  await client.subscribeAsync(`devices/${m.deviceId}/modules/${m.moduleId}/inputs/#`, { qos: 1 });
  return { name: 'raw mqtt.js', module: m, expect: c.expect, close: () => client.endAsync() };
}

async function nodeRed(hub: HubHandle, red: NodeRedHarness, m: BenchModule): Promise<Receiver> {
  const c = arrivalCounter();
  await red.deploy([
    flows.tab(Z),
    flows.tls('fanin-tls', hub.ready.caCert),
    flows.moduleClient('fanin-client', m.connectionString, 'fanin-tls'),
    {
      id: 'fanin-in',
      type: 'iothub-module-input',
      z: Z,
      name: '',
      client: 'fanin-client',
      inputName: INPUT,
      x: 100,
      y: 100,
      wires: [['fanin-sink']],
    },
    flows.sink('fanin-sink', Z),
  ]);
  await waitFor(
    () => red.getNode<{ host?: { connected: boolean } }>('fanin-client')?.host?.connected === true,
    'Node-RED module client to connect',
  );
  return {
    name: 'iothub-module-input',
    module: m,
    expect: (n) => {
      red.onSink((id) => {
        if (id === 'fanin-sink') c.hit();
      });
      return c.expect(n).finally(() => red.onSink(null));
    },
    close: () => red.deploy([]),
  };
}

/** Case 4. */
export async function runFanIn(
  hub: HubHandle,
  red: NodeRedHarness | undefined,
  counts: FanInCounts,
  log: (line: string) => void,
): Promise<RateRow[]> {
  const modules = await hub.addModules('bench-device', 'fanin-', 3);
  const receivers: Receiver[] = [];
  const body = jsonPayload(0);
  try {
    receivers.push(await ours(hub, modules[0]!));
    receivers.push(await raw(hub, modules[1]!));
    if (red) receivers.push(await nodeRed(hub, red, modules[2]!));
    // The subscription must be in place before messages are sent, or the hub stores them for later.
    await new Promise((resolve) => setTimeout(resolve, 200));
    log(`case 4: input fan-in (${counts.messages} messages × ${counts.runs} runs)`);
    const result = await interleavedRates(
      receivers.map((r) => ({
        name: r.name,
        run: async (n: number) => {
          const start = process.hrtime.bigint();
          const arrived = r.expect(n);
          await hub.request({
            kind: 'fanIn',
            deviceId: r.module.deviceId,
            moduleId: r.module.moduleId,
            inputName: INPUT,
            count: n,
            body,
            window: 100,
            properties: { ...PROPS },
          });
          await arrived;
          return Number(process.hrtime.bigint() - start) / 1e9;
        },
      })),
      counts.messages,
      counts.runs,
      counts.warmup,
      () => hub.clear(),
      log,
      () => hub.cpuMicros(),
    );
    return rateRows(result, { case: '4', scenario: 'input fan-in', messages: counts.messages, bytes: 200 });
  } finally {
    for (const r of receivers) await r.close().catch(() => undefined);
  }
}

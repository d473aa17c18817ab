// Benchmark worker forked with --expose-gc for case 5b: resident memory with one client, then with N clients in one
// fresh process (Node-RED config nodes each with an input node, or the library / raw mqtt.js / official SDK alone).
import { connectRaw, connectSdk } from './senders';
import { flows, startNodeRed } from './nodeRed';
import { waitFor } from './stats';
import type { BenchModule, HubReady } from './hubProcess';
import { IoTHubModuleClient } from '../src/index';

export type MemoryMode = 'nodered' | 'client' | 'raw' | 'sdk';

export interface MemoryRequest {
  mode: MemoryMode;
  ready: HubReady;
  modules: BenchModule[];
}

export interface MemoryReply {
  rssOne?: number;
  rssMany?: number;
  heapOne?: number;
  heapMany?: number;
  clients?: number;
  error?: string;
}

interface Usage {
  rss: number;
  heap: number;
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function usage(): Promise<Usage> {
  await pause(300);
  gc();
  await pause(50);
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function withNodeRed(req: MemoryRequest): Promise<[Usage, Usage]> {
  const red = await startNodeRed();
  const deploy = async (k: number): Promise<void> => {
    const list: object[] = [flows.tab('mem'), flows.tls('mem-tls', req.ready.caCert)];
    for (let j = 0; j < k; j += 1) {
      list.push(flows.moduleClient(`mc-${j}`, req.modules[j]!.connectionString, 'mem-tls'));
      list.push({
        id: `in-${j}`,
        type: 'iothub-module-input',
        z: 'mem',
        name: '',
        client: `mc-${j}`,
        inputName: 'input1',
        x: 100,
        y: 100 + j,
        wires: [[]],
      });
    }
    await red.deploy(list);
    await waitFor(
      () =>
        Array.from(
          { length: k },
          (_, j) => red.getNode<{ host?: { connected: boolean } }>(`mc-${j}`)?.host?.connected === true,
        ).every(Boolean),
      `${k} config nodes to connect`,
      120_000,
      50,
    );
  };
  await deploy(0);
  await usage();
  await deploy(1);
  const one = await usage();
  await deploy(req.modules.length);
  const many = await usage();
  await red.stop();
  return [one, many];
}

async function alone(req: MemoryRequest): Promise<[Usage, Usage]> {
  const closers: Array<() => Promise<unknown>> = [];
  const open = async (m: BenchModule): Promise<void> => {
    if (req.mode === 'client') {
      const client = IoTHubModuleClient.createFromConnectionString(m.connectionString, {
        serverVerificationCert: req.ready.caCert,
      });
      client.onMessageReceived = () => undefined;
      await client.connect();
      closers.push(() => client.shutdown());
    } else if (req.mode === 'raw') {
      const client = await connectRaw(req.ready, m);
      await client.subscribeAsync(`devices/${m.deviceId}/modules/${m.moduleId}/inputs/#`, { qos: 1 });
      closers.push(() => client.endAsync());
    } else {
      const client = await connectSdk(req.ready, m);
      closers.push(() => client.close());
    }
  };
  await usage();
  await open(req.modules[0]!);
  const one = await usage();
  await inBatches(req.modules.slice(1), 10, open);
  const many = await usage();
  await inBatches(closers, 20, (c) => c());
  return [one, many];
}

process.once('message', (req: MemoryRequest) => {
  const run = req.mode === 'nodered' ? withNodeRed(req) : alone(req);
  run.then(
    ([one, many]) => {
      const reply: MemoryReply = {
        rssOne: one.rss,
        rssMany: many.rss,
        heapOne: one.heap,
        heapMany: many.heap,
        clients: req.modules.length,
      };
      process.send!(reply, () => process.exit(0));
    },
    (err: unknown) => {
      process.send!({ error: String((err as Error)?.stack ?? err) } satisfies MemoryReply, () => process.exit(1));
    },
  );
});

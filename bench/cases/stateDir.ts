// Case 8: the hub with a state directory (LevelDB) beside the in-memory hub: QoS 1 output events to $upstream, a
// module output routed to another module's input (persistent session, acknowledged once stored), and input fan-in.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { startHubProcess, type HubHandle } from '../startHubProcess';
import type { BenchModule } from '../hubProcess';
import { arrivalCounter, interleavedRates, rateRows, type Contender, type RateRow } from '../results';
import { allInFlight, connectRaw, makeSender, type Sender } from '../senders';
import { jsonPayload, PROPS } from '../wire';

export interface StateDirCounts {
  inFlight: number;
  fanIn: number;
  runs: number;
  warmup: number;
}

export const IN_MEMORY = 'in memory';
export const STATE_DIR = 'state directory';
const INPUT = 'in';

/** One hub's contenders: events upstream, routed output → input, fan-in; and what to close. */
interface Setup {
  events: Sender;
  routed: Sender;
  receiver: MqttClient;
  dst: BenchModule;
  arrivals: ReturnType<typeof arrivalCounter>;
}

async function setUp(hub: HubHandle): Promise<Setup> {
  const [src, dst] = (await hub.addModules('bench-device', 'state-', 2)) as [BenchModule, BenchModule];
  await hub.request({
    kind: 'setRoutes',
    routes: {
      routed: `FROM /messages/modules/${src.moduleId}/outputs/* INTO BrokeredEndpoint("/modules/${dst.moduleId}/inputs/${INPUT}")`,
      upstream: `FROM /messages/* WHERE $connectionModuleId != '${src.moduleId}' INTO $upstream`,
    },
  });
  const arrivals = arrivalCounter();
  // A cleanSession: false receiver, as the Azure SDKs connect: its QoS 1 messages go through the session store.
  const receiver = await connectRaw(hub.ready, dst);
  receiver.on('message', () => arrivals.hit());
  await receiver.subscribeAsync(`devices/${dst.deviceId}/modules/${dst.moduleId}/inputs/#`, { qos: 1 });
  return {
    events: await makeSender('raw', hub.ready, hub.ready.modules.raw!),
    routed: await makeSender('raw', hub.ready, src),
    receiver,
    dst,
    arrivals,
  };
}

/** Case 8: runs every scenario against the given in-memory hub and a second hub process with a state directory. */
export async function runStateDir(
  memory: HubHandle,
  counts: StateDirCounts,
  log: (line: string) => void,
  pin: (pid: number | undefined) => void,
): Promise<RateRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hub-state-'));
  const stateHub = await startHubProcess({ stateDir: dir });
  pin(stateHub.child.pid);
  const hubs: Array<[string, HubHandle]> = [
    [IN_MEMORY, memory],
    [STATE_DIR, stateHub],
  ];
  const setups = new Map<string, Setup>();
  const rows: RateRow[] = [];
  try {
    for (const [name, hub] of hubs) setups.set(name, await setUp(hub));
    const between = async (): Promise<void> => {
      await memory.clear();
      await stateHub.clear();
    };
    const body = jsonPayload(0);
    const scenarios: Array<{
      name: string;
      n: number;
      contender: (name: string, hub: HubHandle, s: Setup) => Contender;
    }> = [
      {
        name: 'events all in flight (to $upstream)',
        n: counts.inFlight,
        contender: (name, _hub, s) => ({ name, run: (n) => allInFlight((i) => s.events.send(i), n) }),
      },
      {
        name: 'routed output → input, all in flight',
        n: counts.inFlight,
        contender: (name, _hub, s) => ({
          name,
          run: async (n) => {
            const start = process.hrtime.bigint();
            const arrived = s.arrivals.expect(n);
            await allInFlight((i) => s.routed.send(i), n);
            await arrived;
            return Number(process.hrtime.bigint() - start) / 1e9;
          },
        }),
      },
      {
        name: 'input fan-in (sendToInput)',
        n: counts.fanIn,
        contender: (name, hub, s) => ({
          name,
          run: async (n) => {
            const start = process.hrtime.bigint();
            const arrived = s.arrivals.expect(n);
            await hub.request({
              kind: 'fanIn',
              deviceId: s.dst.deviceId,
              moduleId: s.dst.moduleId,
              inputName: INPUT,
              count: n,
              body,
              window: 100,
              properties: { ...PROPS },
            });
            await arrived;
            return Number(process.hrtime.bigint() - start) / 1e9;
          },
        }),
      },
    ];
    for (const scenario of scenarios) {
      log(`case 8: ${scenario.name} (${scenario.n} messages × ${counts.runs} runs)`);
      const result = await interleavedRates(
        hubs.map(([name, hub]) => scenario.contender(name, hub, setups.get(name)!)),
        scenario.n,
        counts.runs,
        Math.min(scenario.n, counts.warmup),
        between,
        log,
        // Each contender is a hub of its own: its process's CPU per message is the figure that compares the stores.
        (name) => hubs.find(([hubName]) => hubName === name)![1].cpuMicros(),
      );
      rows.push(...rateRows(result, { case: '8', scenario: scenario.name, messages: scenario.n, bytes: 200 }));
    }
  } finally {
    for (const s of setups.values()) {
      await s.events.close().catch(() => undefined);
      await s.routed.close().catch(() => undefined);
      await s.receiver.endAsync().catch(() => undefined);
    }
    await stateHub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

// Cases 1 and 7: QoS 1 output-event throughput (all in flight / one at a time) for this client, raw mqtt.js and the
// official SDK; and this client vs raw mqtt.js at growing payload sizes.
import type { HubHandle } from '../startHubProcess';
import { interleavedRates, rateRows, type RateRow } from '../results';
import { allInFlight, makeSender, oneAtATime, type Sender, type SenderKind } from '../senders';

export interface ThroughputCounts {
  inFlight: number;
  sequential: number;
  runs: number;
  warmup: number;
}

/** Case 1. */
export async function runThroughput(
  hub: HubHandle,
  counts: ThroughputCounts,
  log: (line: string) => void,
): Promise<RateRow[]> {
  const kinds: SenderKind[] = ['ours', 'raw', 'sdk'];
  const senders: Sender[] = [];
  const rows: RateRow[] = [];
  try {
    for (const kind of kinds) senders.push(await makeSender(kind, hub.ready, hub.ready.modules[kind]!));
    for (const scenario of [
      { name: 'all in flight', n: counts.inFlight, run: allInFlight },
      { name: 'one at a time', n: counts.sequential, run: oneAtATime },
    ]) {
      log(`case 1: ${scenario.name} (${scenario.n} messages × ${counts.runs} runs)`);
      const result = await interleavedRates(
        senders.map((s) => ({ name: s.name, run: (n: number) => scenario.run((i) => s.send(i), n) })),
        scenario.n,
        counts.runs,
        Math.min(scenario.n, counts.warmup),
        () => hub.clear(),
        log,
        () => hub.cpuMicros(),
      );
      rows.push(...rateRows(result, { case: '1', scenario: scenario.name, messages: scenario.n, bytes: 200 }));
    }
  } finally {
    for (const s of senders) await s.close().catch(() => undefined);
  }
  return rows;
}

/** Case 7: payload sizes with their message counts. */
export async function runPayloadScaling(
  hub: HubHandle,
  sizes: Array<{ bytes: number; messages: number }>,
  runs: number,
  log: (line: string) => void,
): Promise<RateRow[]> {
  const rows: RateRow[] = [];
  for (const { bytes, messages } of sizes) {
    const senders: Sender[] = [];
    try {
      for (const kind of ['ours', 'raw'] as const)
        senders.push(await makeSender(kind, hub.ready, hub.ready.modules[kind]!, bytes));
      log(`case 7: ${bytes} bytes (${messages} messages all in flight × ${runs} runs)`);
      const result = await interleavedRates(
        senders.map((s) => ({ name: s.name, run: (n: number) => allInFlight((i) => s.send(i), n) })),
        messages,
        runs,
        Math.max(1, Math.floor(messages / 4)),
        () => hub.clear(),
        log,
        () => hub.cpuMicros(),
      );
      rows.push(...rateRows(result, { case: '7', scenario: `${bytes} B payload`, messages, bytes }));
    } finally {
      for (const s of senders) await s.close().catch(() => undefined);
    }
  }
  return rows;
}

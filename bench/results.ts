// The benchmark's result model (what results.json holds) and the interleaved repeat-runner shared by the cases.
import type { LatencySummary, RateSummary } from './stats';
import { median, summariseRates } from './stats';

export interface RateRow {
  case: string;
  scenario: string;
  impl: string;
  messages: number;
  summary: RateSummary;
  /** Median CPU time (user + system) of the benchmark process per message, microseconds (the hub is not in it). */
  cpuUsPerMsg?: number;
  /** Median CPU time of the hub process per message, microseconds. */
  hubCpuUsPerMsg?: number;
  /** Payload size in bytes, when the row is about one. */
  bytes?: number;
  note?: string;
}

/**
 * The rows of one scenario from what {@link interleavedRates} measured: one per implementation, each with the
 * benchmark's and (when measured) the hub's CPU per message.
 */
export function rateRows(
  result: Awaited<ReturnType<typeof interleavedRates>>,
  row: { case: string; scenario: string; messages: number; bytes: number },
): RateRow[] {
  return [...result].map(([impl, { cpuUsPerMsg, hubCpuUsPerMsg, ...summary }]) => ({
    ...row,
    impl,
    summary,
    cpuUsPerMsg,
    hubCpuUsPerMsg,
  }));
}

/** Counts arrivals at a receiver; `expect(n)` resolves when `n` more have arrived. */
export function arrivalCounter(): { hit: () => void; expect: (n: number) => Promise<void> } {
  let count = 0;
  let target = Infinity;
  let resolve: (() => void) | undefined;
  return {
    hit: () => {
      count += 1;
      if (count >= target && resolve) {
        const r = resolve;
        resolve = undefined;
        r();
      }
    },
    expect: (n) =>
      new Promise<void>((res) => {
        count = 0;
        target = n;
        resolve = res;
      }),
  };
}

export interface LatencyRow {
  case: string;
  scenario: string;
  impl: string;
  summary: LatencySummary;
  /** p50 of each run, for the spread. */
  runP50s: number[];
  note?: string;
}

export interface MemoryRow {
  impl: string;
  clients: number;
  /** RSS / heap+external after GC with 1 client and with `clients` clients, bytes. */
  rssOne: number;
  rssMany: number;
  heapOne: number;
  heapMany: number;
  rssPerExtra: number;
  heapPerExtra: number;
  note?: string;
}

export interface FootprintRow {
  name: string;
  roots: string[];
  packages: number;
  bytes: number;
  files: number;
  /** The biggest packages of the tree. */
  largest: Array<{ name: string; bytes: number }>;
  /** Cross-check: packages listed by `npm ls --omit=dev --all --parseable` (root excluded). */
  npmLsPackages?: number;
}

export interface RatioRow {
  name: string;
  value: number;
  target: string;
  pass: boolean | null;
}

export interface BenchResults {
  meta: {
    date: string;
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    platform: string;
    nodeRed?: string;
    command: string;
    durationSeconds?: number;
    runs: number;
    quick: boolean;
    /** CPU pinning applied with taskset (bench process / hub process), if any. */
    pinning?: string;
  };
  rates: RateRow[];
  latencies: LatencyRow[];
  memory: MemoryRow[];
  footprint: FootprintRow[];
  ratios: RatioRow[];
  errors: Array<{ case: string; error: string }>;
}

/** One implementation in an interleaved measurement: `run(n)` returns elapsed seconds. */
export interface Contender {
  name: string;
  run(n: number): Promise<number>;
}

/**
 * Runs each contender `warmup` messages once, then `runs` rounds in which every contender runs `n` (interleaved, so
 * drift of a shared machine hits all alike); `between` runs after each measured run (e.g. clearing hub records).
 */
export async function interleavedRates(
  contenders: Contender[],
  n: number,
  runs: number,
  warmup: number,
  between: () => Promise<void>,
  log: (line: string) => void,
  /** CPU time (µs) the hub process of a contender has used so far. */
  hubCpu?: (contender: string) => Promise<number>,
): Promise<Map<string, RateSummary & { cpuUsPerMsg: number; hubCpuUsPerMsg?: number }>> {
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const hub = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (const c of contenders) {
    await c.run(warmup);
    await between();
  }
  for (let r = 0; r < runs; r += 1) {
    for (const c of contenders) {
      const hub0 = hubCpu ? await hubCpu(c.name) : 0;
      const cpu0 = process.cpuUsage();
      const seconds = await c.run(n);
      const used = process.cpuUsage(cpu0);
      if (hubCpu) hub.get(c.name)!.push(((await hubCpu(c.name)) - hub0) / n);
      rates.get(c.name)!.push(n / seconds);
      cpu.get(c.name)!.push((used.user + used.system) / n);
      await between();
    }
  }
  const out = new Map<string, RateSummary & { cpuUsPerMsg: number; hubCpuUsPerMsg?: number }>();
  for (const [name, list] of rates) {
    const s: RateSummary & { cpuUsPerMsg: number; hubCpuUsPerMsg?: number } = {
      ...summariseRates(list),
      cpuUsPerMsg: median(cpu.get(name)!),
    };
    if (hubCpu) s.hubCpuUsPerMsg = median(hub.get(name)!);
    out.set(name, s);
    log(
      `  ${name}: median ${s.median.toFixed(0)} msg/s (${s.min.toFixed(0)}–${s.max.toFixed(0)}), ` +
        `${s.cpuUsPerMsg.toFixed(1)} µs CPU/msg` +
        `${s.hubCpuUsPerMsg !== undefined ? `, hub ${s.hubCpuUsPerMsg.toFixed(1)} µs` : ''}`,
    );
  }
  return out;
}

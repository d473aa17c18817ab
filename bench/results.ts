// The benchmark's result model (what results.json holds) and the interleaved repeat-runner shared by the cases.
import type { LatencySummary, RateSummary } from './stats';
import { summariseRates } from './stats';

export interface RateRow {
  case: string;
  scenario: string;
  impl: string;
  messages: number;
  summary: RateSummary;
  /** Payload size in bytes, when the row is about one. */
  bytes?: number;
  note?: string;
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
    hubNoDelay?: boolean;
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
): Promise<Map<string, RateSummary>> {
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (const c of contenders) {
    await c.run(warmup);
    await between();
  }
  for (let r = 0; r < runs; r += 1) {
    for (const c of contenders) {
      const seconds = await c.run(n);
      rates.get(c.name)!.push(n / seconds);
      await between();
    }
  }
  const out = new Map<string, RateSummary>();
  for (const [name, list] of rates) {
    const s = summariseRates(list);
    out.set(name, s);
    log(`  ${name}: median ${s.median.toFixed(0)} msg/s (${s.min.toFixed(0)}–${s.max.toFixed(0)})`);
  }
  return out;
}

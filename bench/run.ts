// `npm run bench`: runs every benchmark case (bench/README.md) against one local hub in a child process, prints
// progress, and writes bench/RESULTS.md and bench/results.json (a CLI: printing is its job).
// Options: --quick (small counts), --only=1,2,3,4,5,6,7,8, --runs=N, --no-write, --no-pin (no CPU pinning);
// --client-throughput [--in-flight=N --sequential=N --runs=N] prints only the first stand-alone client throughput table
// (bench/clientThroughput.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runClientThroughput } from './clientThroughput';
import { startHubProcess, type HubHandle } from './startHubProcess';
import { packageRoot, startNodeRed, type NodeRedHarness } from './nodeRed';
import { computeRatios, renderMarkdown } from './report';
import type { BenchResults } from './results';
import { runConnectTime } from './cases/connect';
import { runFanIn } from './cases/fanIn';
import { runFootprint } from './cases/footprint';
import { runLatency } from './cases/latency';
import { runMemory } from './cases/memory';
import { runNodeRedThroughput } from './cases/nodeRedThroughput';
import { runStateDir } from './cases/stateDir';
import { runPayloadScaling, runThroughput } from './cases/throughput';

function counts(quick: boolean, runsArg: number | undefined) {
  const runs = runsArg ?? (quick ? 2 : 9);
  return quick
    ? {
        runs,
        throughput: { inFlight: 2000, sequential: 500, runs, warmup: 200 },
        nodeRed: { inFlight: 1000, sequential: 300, runs, warmup: 100 },
        latency: { perRun: 30, runs, budgetMs: 500 },
        fanIn: { messages: 1000, runs, warmup: 100 },
        stateDir: { inFlight: 1000, fanIn: 1000, runs, warmup: 100 },
        connect: { perRun: 2, runs },
        memoryClients: 10,
        payload: [
          { bytes: 1024, messages: 500 },
          { bytes: 16 * 1024, messages: 200 },
          { bytes: 128 * 1024, messages: 40 },
          { bytes: 255 * 1024, messages: 20 },
        ],
      }
    : {
        runs,
        throughput: { inFlight: 20_000, sequential: 5_000, runs, warmup: 2_000 },
        nodeRed: { inFlight: 20_000, sequential: 5_000, runs, warmup: 2_000 },
        latency: { perRun: 500, runs, budgetMs: 2_000 },
        fanIn: { messages: 10_000, runs, warmup: 1_000 },
        stateDir: { inFlight: 5_000, fanIn: 5_000, runs, warmup: 500 },
        connect: { perRun: 4, runs },
        memoryClients: 100,
        payload: [
          { bytes: 1024, messages: 5_000 },
          { bytes: 16 * 1024, messages: 2_000 },
          { bytes: 128 * 1024, messages: 400 },
          { bytes: 255 * 1024, messages: 200 },
        ],
      };
}

/**
 * Pins this process to CPU 0 and the hub process to CPU 1 (taskset, all threads) so that client and broker each have
 * a core of their own: without it, a one-at-a-time exchange runs ~1.7× faster whenever the scheduler happens to put
 * both on the same core, and medians swing between the two modes. Returns a description, or undefined when not done.
 */
function pin(hubPid: number | undefined): string | undefined {
  if (hubPid === undefined || os.cpus().length < 2) return undefined;
  try {
    execFileSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-pc', '1', String(hubPid)], { stdio: 'ignore' });
    return 'benchmark process (clients, Node-RED) on CPU 0, hub process on CPU 1 (taskset)';
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const args = new Map(
    process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string | undefined]),
  );
  const log = (line: string): void => console.error(line);
  if (args.has('client-throughput')) {
    const options: Parameters<typeof runClientThroughput>[0] = { log };
    if (args.has('in-flight')) options.inFlight = Number(args.get('in-flight'));
    if (args.has('sequential')) options.sequential = Number(args.get('sequential'));
    if (args.has('runs')) options.runs = Number(args.get('runs'));
    const { markdown } = await runClientThroughput(options);
    console.log(markdown);
    return;
  }
  const quick = args.has('quick');
  const only = args.get('only') ? new Set(args.get('only')!.split(',')) : undefined;
  const want = (c: string): boolean => !only || only.has(c);
  const c = counts(quick, args.get('runs') ? Number(args.get('runs')) : undefined);
  const started = Date.now();
  const cpus = os.cpus();
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      cpu: cpus[0]?.model.trim() ?? 'unknown',
      cores: cpus.length,
      memoryGiB: os.totalmem() / 1024 ** 3,
      node: process.version,
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
      runs: c.runs,
      quick,
    },
    rates: [],
    latencies: [],
    memory: [],
    footprint: [],
    ratios: [],
    errors: [],
  };
  const guard = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t0 = Date.now();
    try {
      await fn();
    } catch (err) {
      log(`case ${name} failed: ${String((err as Error)?.stack ?? err)}`);
      results.errors.push({ case: name, error: String((err as Error)?.message ?? err) });
    }
    log(`  (case ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };

  const root = packageRoot();
  if (want('6')) await guard('6', async () => void (results.footprint = runFootprint(root)));
  const hub: HubHandle = await startHubProcess();
  if (!args.has('no-pin')) {
    const pinning = pin(hub.child.pid);
    if (pinning) results.meta.pinning = pinning;
  }
  let red: NodeRedHarness | undefined;
  try {
    if (want('1'))
      await guard('1', async () => void results.rates.push(...(await runThroughput(hub, c.throughput, log))));
    if (want('7'))
      await guard('7', async () => void results.rates.push(...(await runPayloadScaling(hub, c.payload, c.runs, log))));
    if (want('5')) {
      await guard(
        '5',
        async () => void results.latencies.push(...(await runConnectTime(hub, c.connect.perRun, c.connect.runs, log))),
      );
      await guard(
        '5',
        async () =>
          void results.memory.push(
            ...(await runMemory(hub, ['nodered', 'client', 'raw', 'sdk'], c.memoryClients, log)),
          ),
      );
    }
    if (want('2') || want('3') || want('4')) {
      await guard('node-red', async () => {
        red = await startNodeRed();
        results.meta.nodeRed = red.version;
      });
    }
    if (red && want('2'))
      await guard('2', async () => void results.rates.push(...(await runNodeRedThroughput(hub, red!, c.nodeRed, log))));
    if (want('3'))
      await guard('3', async () => void results.latencies.push(...(await runLatency(hub, red, c.latency, log))));
    if (want('4')) await guard('4', async () => void results.rates.push(...(await runFanIn(hub, red, c.fanIn, log))));
    const pinAlso = (pid: number | undefined): void => {
      if (results.meta.pinning) pin(pid);
    };
    if (want('8'))
      await guard('8', async () => void results.rates.push(...(await runStateDir(hub, c.stateDir, log, pinAlso))));
  } finally {
    if (red) await red.stop().catch((err: unknown) => log(`Node-RED stop: ${String(err)}`));
    await hub.close();
  }
  results.meta.durationSeconds = (Date.now() - started) / 1000;
  results.ratios = computeRatios(results);
  const markdown = renderMarkdown(results);
  console.log(markdown);
  if (!args.has('no-write')) {
    fs.writeFileSync(path.join(root, 'bench', 'RESULTS.md'), markdown + '\n');
    fs.writeFileSync(path.join(root, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
    log(`wrote bench/RESULTS.md and bench/results.json (${results.meta.durationSeconds.toFixed(0)} s)`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

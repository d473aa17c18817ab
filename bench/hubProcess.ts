// Benchmark helper run in a CHILD process: starts a local hub so that broker and clients do not share an event loop,
// reports its coordinates over IPC and serves the benchmark's requests (identities, service-side method calls
// timed here, input fan-in, clearing observations) until 'close'.
import { LocalHub } from '../src/hub';
import type { LocalHubApi } from '../src/hub';

/** A module identity as the benchmark needs it. */
export interface BenchModule {
  connectionString: string;
  primaryKey: string;
  deviceId: string;
  moduleId: string;
}

/** What the child sends once the hub listens. */
export interface HubReady {
  kind: 'ready';
  port: number;
  hostName: string;
  caCert: string;
  caCertPath: string;
  modules: Record<string, BenchModule>;
}

/** Requests the parent may send; those with an `id` are answered with `{ kind: 'reply', id, ... }`. */
export type HubRequest =
  | { kind: 'clear'; id?: number }
  | { kind: 'count'; id: number }
  | { kind: 'close' }
  | { kind: 'addModules'; id: number; deviceId: string; prefix: string; count: number }
  | {
      kind: 'invokeLoop';
      id: number;
      deviceId: string;
      moduleId: string;
      methodName: string;
      count: number;
      payload: unknown;
      budgetMs?: number;
    }
  | {
      kind: 'fanIn';
      id: number;
      deviceId: string;
      moduleId: string;
      inputName: string;
      count: number;
      body: string;
      window: number;
      properties: Record<string, string>;
    }
  | { kind: 'usage'; id: number }
  | { kind: 'setRoutes'; id: number; routes: Record<string, string> };

/** Replies (besides the field `error` on failure). */
export interface HubReply {
  kind: 'reply' | 'count';
  id: number;
  error?: string;
  upstream?: number;
  modules?: BenchModule[];
  latenciesMs?: number[];
  failures?: number;
  sentMs?: number;
  rssBytes?: number;
  /** CPU time (user + system) the hub process has used so far, microseconds. */
  cpuMicros?: number;
}

function toBench(m: { connectionString: string; primaryKey: string; deviceId: string; moduleId: string }): BenchModule {
  return { connectionString: m.connectionString, primaryKey: m.primaryKey, deviceId: m.deviceId, moduleId: m.moduleId };
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function invokeLoop(hub: LocalHubApi, req: Extract<HubRequest, { kind: 'invokeLoop' }>): Promise<HubReply> {
  const latenciesMs: number[] = [];
  let failures = 0;
  const loopStart = process.hrtime.bigint();
  const budgetNs = BigInt(Math.round((req.budgetMs ?? 1e9) * 1e6));
  for (let i = 0; i < req.count; i += 1) {
    if (process.hrtime.bigint() - loopStart > budgetNs) break;
    const start = process.hrtime.bigint();
    try {
      await hub.invokeMethod(req.deviceId, req.moduleId, {
        methodName: req.methodName,
        payload: req.payload,
        responseTimeoutInSeconds: 10,
      });
      latenciesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    } catch {
      failures += 1;
      if (failures > 10) break;
    }
  }
  return { kind: 'reply', id: req.id, latenciesMs, failures };
}

async function fanIn(hub: LocalHubApi, req: Extract<HubRequest, { kind: 'fanIn' }>): Promise<HubReply> {
  const start = process.hrtime.bigint();
  const body = Buffer.from(req.body);
  const message = {
    body,
    properties: req.properties,
    systemProperties: { '$.ct': 'application/json', '$.ce': 'utf-8' },
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < req.count) {
      next += 1;
      await hub.sendToInput(req.deviceId, req.moduleId, req.inputName, message);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, req.window) }, worker));
  return { kind: 'reply', id: req.id, sentMs: Number(process.hrtime.bigint() - start) / 1e6 };
}

async function handle(hub: LocalHubApi, req: HubRequest): Promise<HubReply | undefined> {
  switch (req.kind) {
    case 'clear':
      hub.observed.clear();
      return req.id === undefined ? undefined : { kind: 'reply', id: req.id };
    case 'count':
      return { kind: 'count', id: req.id, upstream: hub.observed.counters.upstream };
    case 'addModules': {
      const modules: BenchModule[] = [];
      for (let i = 0; i < req.count; i += 1) modules.push(toBench(hub.addModule(req.deviceId, `${req.prefix}${i}`)));
      return { kind: 'reply', id: req.id, modules };
    }
    case 'invokeLoop':
      return invokeLoop(hub, req);
    case 'fanIn':
      return fanIn(hub, req);
    case 'setRoutes':
      hub.setRoutes(req.routes);
      return { kind: 'reply', id: req.id };
    case 'usage':
      return { kind: 'reply', id: req.id, rssBytes: process.memoryUsage().rss, cpuMicros: cpuMicros() };
    case 'close':
      await hub.close();
      process.exit(0);
  }
}

async function main(): Promise<void> {
  // BENCH_HUB_STATE_DIR: a hub that keeps its state there (case 8), else everything in memory.
  const stateDir = process.env.BENCH_HUB_STATE_DIR;
  const hub = await LocalHub.start({ workloadSocketPath: false, ...(stateDir ? { stateDir } : {}) });
  const modules: HubReady['modules'] = {};
  for (const name of ['ours', 'raw', 'sdk']) modules[name] = toBench(hub.addModule('bench-device', name));
  const ready: HubReady = {
    kind: 'ready',
    port: hub.port,
    hostName: hub.hostName,
    caCert: hub.caCert,
    caCertPath: hub.caCertPath,
    modules,
  };
  process.on('message', (req: HubRequest) => {
    handle(hub, req).then(
      (reply) => {
        if (reply) process.send!(reply);
      },
      (err: unknown) => {
        if ('id' in req && req.id !== undefined) process.send!({ kind: 'reply', id: req.id, error: String(err) });
      },
    );
  });
  // The parent going away must not leave a hub behind.
  process.on('disconnect', () => {
    void hub.close().finally(() => process.exit(0));
  });
  process.send!(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench hub failed: ${String(err)}\n`);
  process.exit(1);
});

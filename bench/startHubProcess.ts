// Parent side of the benchmark hub: forks hubProcess in its own Node process and talks to it over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { BenchModule, HubReady, HubReply, HubRequest } from './hubProcess';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
/** A request without its id (the handle numbers them). */
export type Request = WithoutId<Exclude<HubRequest, { kind: 'close' }>>;

/** A running hub child process. */
export interface HubHandle {
  ready: HubReady;
  child: ChildProcess;
  /** Sends a request and resolves with its reply. */
  request(req: Request): Promise<HubReply>;
  clear(): Promise<void>;
  addModules(deviceId: string, prefix: string, count: number): Promise<BenchModule[]>;
  /** CPU time the hub process has used so far, microseconds. */
  cpuMicros(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Forks `hubProcess` (the compiled .js, or the .ts under tsx), with a state directory when one is given (in memory
 * otherwise), and waits for its ready message.
 * @throws Error when the child exits or fails before it is ready.
 */
export async function startHubProcess(options: { stateDir?: string } = {}): Promise<HubHandle> {
  const script = path.join(__dirname, `hubProcess${path.extname(__filename)}`);
  const env = options.stateDir ? { ...process.env, BENCH_HUB_STATE_DIR: options.stateDir } : process.env;
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
  const ready = await new Promise<HubReady>((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`hub process exited with ${code}`));
    child.once('error', reject);
    child.once('exit', onExit);
    child.once('message', (m: HubReady) => {
      child.off('exit', onExit);
      child.off('error', reject);
      resolve(m);
    });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: HubReply) => void; reject: (e: Error) => void }>();
  child.on('message', (m: HubReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`hub: ${m.error}`));
    else p.resolve(m);
  });
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new Error(`hub process exited with ${code}`));
    pending.clear();
  });
  const request = (req: Request): Promise<HubReply> =>
    new Promise<HubReply>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ ...req, id });
    });
  return {
    ready,
    child,
    request,
    clear: async () => {
      await request({ kind: 'clear' });
    },
    cpuMicros: async () => (await request({ kind: 'usage' })).cpuMicros ?? Number.NaN,
    addModules: async (deviceId, prefix, count) =>
      (await request({ kind: 'addModules', deviceId, prefix, count })).modules ?? [],
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ kind: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

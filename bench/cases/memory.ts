// Case 5b: memory per extra client — forks memoryProcess (fresh process, --expose-gc) per kind and compares RSS and
// V8 heap + external with one client and with N clients connected.
import { fork } from 'node:child_process';
import path from 'node:path';
import type { HubHandle } from '../startHubProcess';
import type { MemoryMode, MemoryReply, MemoryRequest } from '../memoryProcess';
import type { MemoryRow } from '../results';

const NAMES: Record<MemoryMode, string> = {
  nodered: 'Node-RED config nodes (+ input node each)',
  client: 'this client alone',
  raw: 'raw mqtt.js',
  sdk: 'azure-iot-device',
};

function measure(req: MemoryRequest): Promise<MemoryReply> {
  const script = path.join(__dirname, '..', `memoryProcess${path.extname(__filename)}`);
  const child = fork(script, [], {
    execArgv: [...process.execArgv, '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise<MemoryReply>((resolve, reject) => {
    let reply: MemoryReply | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.once('message', (m: MemoryReply) => {
      reply = m;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (reply?.error) reject(new Error(reply.error));
      else if (reply) resolve(reply);
      else reject(new Error(`memory worker exited with ${code}`));
    });
    child.send(req);
  });
}

/** Case 5b for the given kinds, `clients` connections each. */
export async function runMemory(
  hub: HubHandle,
  modes: MemoryMode[],
  clients: number,
  log: (line: string) => void,
): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const mode of modes) {
    const modules = await hub.addModules('bench-device', `mem-${mode}-`, clients);
    log(`case 5: memory, ${NAMES[mode]}: 1 then ${clients} clients`);
    const r = await measure({ mode, ready: hub.ready, modules });
    await hub.clear();
    const row: MemoryRow = {
      impl: NAMES[mode],
      clients,
      rssOne: r.rssOne!,
      rssMany: r.rssMany!,
      heapOne: r.heapOne!,
      heapMany: r.heapMany!,
      rssPerExtra: (r.rssMany! - r.rssOne!) / (clients - 1),
      heapPerExtra: (r.heapMany! - r.heapOne!) / (clients - 1),
    };
    if (mode === 'sdk') row.note = 'open() only, no subscription';
    log(
      `  ${row.impl}: ${(row.rssPerExtra / 1024 / 1024).toFixed(2)} MB RSS / ` +
        `${(row.heapPerExtra / 1024 / 1024).toFixed(2)} MB heap+external per extra client`,
    );
    rows.push(row);
  }
  return rows;
}

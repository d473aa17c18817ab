// The temp directory of a hub without a state directory (its CA file, workload sockets): named after the hub's
// process, so that a later hub can remove the ones of hubs that were killed before they could clean up.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processRunning } from './processAlive';

const PREFIX = 'local-hub-';

/**
 * Removes the temp directories of this user's hubs whose process has ended (a hub killed with SIGKILL, or a test
 * process that died, leaves its directory behind). Never throws.
 */
export async function removeAbandonedHubTempDirs(dir = os.tmpdir()): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = /^local-hub-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || processRunning(Number(pid))) continue;
    const full = path.join(dir, name);
    try {
      const stat = await fs.lstat(full);
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
      await fs.rm(full, { recursive: true, force: true });
    } catch {
      // Another hub removed it first, or it is not ours to remove.
    }
  }
}

/** Set once this process has looked for abandoned directories (a process starting many hubs looks once). */
let swept: Promise<void> | undefined;

/**
 * Makes a hub's temp directory (`<tmp>/local-hub-<pid>-XXXXXX`), the first time in this process removing those of
 * hubs that are gone.
 * @throws on file system errors.
 */
export async function makeHubTempDir(): Promise<string> {
  await (swept ??= removeAbandonedHubTempDirs());
  return fs.mkdtemp(path.join(os.tmpdir(), `${PREFIX}${process.pid}-`));
}

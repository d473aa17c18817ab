// A hub without a state directory keeps its CA file and workload sockets in a temp directory named after its
// process; a later hub removes those of hubs that were killed before they could clean up.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeAbandonedHubTempDirs } from '../../src/hub/hubTempDir';
import { LocalHub } from '../../src/hub';

/** The id of a process that has ended. */
async function endedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('hub temp directories', () => {
  let root: string;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-temp-dirs-'));
  });

  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('removes the directories of hubs whose process has ended, and only those', async () => {
    const dead = await endedPid();
    const make = (name: string): string => {
      const dir = path.join(root, name);
      fs.mkdirSync(path.join(dir, 'workload-modules'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'ca.pem'), 'x');
      return name;
    };
    make(`local-hub-${dead}-abc123`);
    const kept = [
      make(`local-hub-${process.pid}-def456`),
      make(`local-hub-${process.ppid}-ghi789`),
      make('local-hub-Xy12ab'),
    ];
    fs.writeFileSync(path.join(root, `local-hub-${dead}-file`), 'not a directory');
    kept.push(`local-hub-${dead}-file`);
    await removeAbandonedHubTempDirs(root);
    assert.deepEqual(fs.readdirSync(root).sort(), kept.sort());
  });

  it("an in-memory hub's temp directory is named after its process and removed when it closes", async () => {
    const hub = await LocalHub.start({ workloadSocketPath: false });
    const dir = path.dirname(hub.caCertPath);
    assert.match(path.basename(dir), new RegExp(`^local-hub-${process.pid}-`));
    await hub.close();
    assert.equal(fs.existsSync(dir), false);
  });
});

// A private local-hub discovery directory per test, and the shared in-process hub closed after each: a developer's
// running `npm start` (which announces its hub) must not change a test's outcome.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localHubsClosed, localHubSettings, unshareLocalHub } from '../../src/hub';

/** Registers beforeEach/afterEach in the calling describe; `dir` is the current test's discovery directory. */
export function usePrivateDiscoveryDir(): { readonly dir: string } {
  const state = { dir: '' };
  const saved = { ...localHubSettings };
  beforeEach(() => {
    state.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-hub-discovery-'));
    localHubSettings.discoveryDir = state.dir;
    localHubSettings.graceMs = 0;
  });
  afterEach(async () => {
    unshareLocalHub();
    await localHubsClosed();
    Object.assign(localHubSettings, saved);
    fs.rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}

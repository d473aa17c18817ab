// The local hub's state directory store: changes written behind in order (the last one wins), settled() as the
// barrier the hub acknowledges behind, TLS files kept, and one hub at a time per directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateHubTls } from '../../src/hub/certs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HubState, missingStatePackages, STATE_PACKAGES, statePackagesHint } from '../../src/hub/HubState';

const root = path.resolve(__dirname, '..', '..');

describe('hub state directory store', function () {
  let dir: string;
  const open: HubState[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-state-store-'));
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function openState(): Promise<HubState> {
    const state = await HubState.open(dir);
    open.push(state);
    return state;
  }

  it('writes changes behind in the order made: after settled() the last value of each key is stored', async () => {
    const state = await openState();
    for (let i = 1; i <= 200; i++) state.put('twin:a', { version: i });
    state.put('twin:b', { version: 1 });
    state.del('twin:b');
    state.put('twin:c', { version: 1 });
    await state.settled();
    assert.deepEqual(await state.get('twin:a'), { version: 200 });
    assert.equal(await state.get('twin:b'), undefined);
    assert.deepEqual(await state.list('twin:'), [
      ['twin:a', { version: 200 }],
      ['twin:c', { version: 1 }],
    ]);
  });

  it('keeps what was put across a close and a reopen, and settles at once with nothing pending', async () => {
    const first = await openState();
    first.put('policy', { key: 'k' });
    await first.close();
    open.splice(open.indexOf(first), 1);
    const second = await openState();
    await second.settled();
    assert.deepEqual(await second.get('policy'), { key: 'k' });
  });

  it('refuses a second opener of the same directory while the first holds it', async () => {
    await openState();
    await assert.rejects(HubState.open(dir), /in use by another hub/);
  });

  it('keeps the TLS material as PEM files, keys readable by the owner only', async () => {
    const state = await openState();
    assert.equal(await state.loadTls(), undefined);
    const material = await generateHubTls();
    await state.saveTls(material);
    assert.deepEqual(await state.loadTls(), material);
    assert.equal(fs.readFileSync(state.caCertPath, 'utf8'), material.caCert);
    if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(dir, 'server-key.pem')).mode & 0o777, 0o600);
  });

  describe('its packages are optional', () => {
    it('the pack lists classic-level as an optional peer dependency (dev dependencies here), not dependencies', () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<
        string,
        Record<string, unknown> | undefined
      >;
      for (const name of STATE_PACKAGES) {
        assert.equal(pkg.dependencies?.[name], undefined, `${name} is not installed with the pack`);
        assert.equal(typeof pkg.peerDependencies?.[name], 'string', `${name} is a peer dependency`);
        assert.deepEqual(pkg.peerDependenciesMeta?.[name], { optional: true });
        assert.equal(pkg.devDependencies?.[name], pkg.peerDependencies?.[name], `${name} is installed in a clone`);
      }
    });

    it('an in-memory hub never loads them', async () => {
      const script = `const { LocalHub } = require('./src/hub/index.ts');
        LocalHub.start({ workloadSocketPath: false }).then(async (hub) => {
          await hub.close();
          const loaded = Object.keys(require.cache).filter((f) => /node_modules[\\/](classic-level)[\\/]/.test(f));
          process.stdout.write(JSON.stringify(loaded));
        });`;
      const { stdout } = await promisify(execFile)(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
        cwd: root,
        timeout: 60_000,
      });
      assert.deepEqual(JSON.parse(stdout), []);
    });

    it('without them, opening a state directory says what to install, or to run with --ephemeral', async () => {
      const absent = (name: string): string => {
        throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
      };
      assert.deepEqual(missingStatePackages(absent), ['classic-level']);
      assert.deepEqual(missingStatePackages(), [], 'installed in this clone');
      assert.equal(
        statePackagesHint(['classic-level']),
        'a state directory needs the optional package classic-level: install it beside this pack (npm install ' +
          'classic-level), or run the hub with --ephemeral (nothing kept)',
      );
    });
  });
});

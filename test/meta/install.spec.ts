// Installing from the repository as a user does: a fresh clone packed with `npm pack` (its `prepare` builds dist/),
// the tarball installed with `npm install <tgz>` into a Node-RED user dir (what the palette manager's upload does),
// and Node-RED started on that user dir registers every node type from there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..', '..');
const MODULE = 'node-red-contrib-azure-iot-module';

/**
 * Runs inside the child: Node-RED on port 0 with the user dir, prints the pack's node sets and where they load from.
 */
const SCRIPT = `
const http = require('node:http');
const RED = require('node-red');
(async () => {
  const server = http.createServer();
  RED.init(server, { userDir: process.env.NR_USER_DIR, httpAdminRoot: '/', uiPort: 0, logging: { console: { level: 'off' } }, credentialSecret: false, editorTheme: { tours: false } });
  await RED.start();
  const info = RED.runtime ? await RED.runtime.nodes.getModuleInfo({ module: process.env.NR_PACK }) : null;
  await RED.stop();
  process.stdout.write(JSON.stringify({ version: RED.version(), info }), () => process.exit(0));
})().catch((err) => { console.error(err); process.exit(1); });
`;

interface ModuleInfo {
  name: string;
  version: string;
  path: string;
  nodes: Array<{ types: string[]; enabled: boolean; err?: string }>;
}

describe('install from the repository: npm pack of a fresh clone, npm install <tgz> in a Node-RED user dir', function () {
  this.timeout(180_000);
  let work: string;
  let tarball: string;
  let entries: string[];

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pack-install-'));
    const clone = path.join(work, 'clone');
    await run('git', ['clone', '--quiet', '--no-hardlinks', root, clone]);
    // The clone's own `npm ci` is what CI does on a fresh clone; here the repository's installed dev dependencies
    // stand in for it (same lockfile), so the test measures what `npm pack` makes, not a second download.
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
    assert.ok(!fs.existsSync(path.join(clone, 'dist')), 'a fresh clone has no dist/');
    const packed = await run('npm', ['pack', '--pack-destination', work, '--json', '--loglevel=error'], {
      cwd: clone,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [summary] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    tarball = path.join(work, summary!.filename);
    entries = summary!.files.map((f) => f.path);
  });

  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('packs the built pack: dist/ (nodes beside their .html, icons and locales), examples, no tests or sources', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      main: string;
      'node-red': { nodes: Record<string, string> };
    };
    for (const file of [pkg.main, ...Object.values(pkg['node-red'].nodes)])
      assert.ok(entries.includes(file), `${file} in the tarball`);
    for (const type of Object.keys(pkg['node-red'].nodes))
      assert.ok(entries.includes(`dist/nodes/${type}.html`), `${type}.html`);
    assert.ok(
      entries.some((e) => e.startsWith('dist/nodes/locales/pt-BR/')),
      'pt-BR catalogs',
    );
    assert.ok(
      entries.some((e) => e.startsWith('examples/')),
      'examples',
    );
    assert.deepEqual(
      entries.filter(
        (e) => e.startsWith('test/') || e.startsWith('src/') || e.endsWith('.map') || e.startsWith('.ci/'),
      ),
      [],
    );
  });

  it('installs into a Node-RED user dir with npm install <tgz> and Node-RED registers every node type from there', async () => {
    const userDir = path.join(work, 'node-red-user');
    fs.mkdirSync(userDir);
    // What Node-RED writes into a new user dir before its palette manager runs `npm install`.
    fs.writeFileSync(
      path.join(userDir, 'package.json'),
      JSON.stringify({ name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }),
    );
    await run(
      'npm',
      ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball],
      { cwd: userDir, maxBuffer: 64 * 1024 * 1024 },
    );
    const { stdout } = await run(process.execPath, ['-e', SCRIPT], {
      cwd: root,
      env: { ...process.env, NR_USER_DIR: userDir, NR_PACK: MODULE, AZURE_IOT_LOCAL_HUB_DIR: path.join(work, 'hubs') },
      maxBuffer: 64 * 1024 * 1024,
    });
    const { info } = JSON.parse(stdout) as { version: string; info: ModuleInfo };
    assert.equal(
      fs.realpathSync(info.path),
      fs.realpathSync(path.join(userDir, 'node_modules', MODULE)),
      'loaded from the user dir, not the repository',
    );
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      'node-red': { nodes: Record<string, string> };
    };
    assert.deepEqual(info.nodes.flatMap((n) => n.types).sort(), Object.keys(pkg['node-red'].nodes).sort());
    for (const set of info.nodes) {
      assert.equal(set.err, undefined, `${set.types.join(',')}: ${set.err}`);
      assert.equal(set.enabled, true);
    }
  });
});

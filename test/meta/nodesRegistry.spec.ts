// The built pack loads into a real Node-RED runtime (its registry, not the test helper) — the dev runtime 4.1 and the
// oldest one package.json declares, 3.1 (dev dependency `node-red-3.1`): every node type is registered without error,
// the editor gets templates, help, icons and both catalogs, runtime text resolves, and example 01 runs.
// Needs `npm run build` (npm test builds first); the runtime runs in a child process so it cannot disturb
// the other tests' Node-RED instance.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(__dirname, '..', '..');

/** Runs in the child: starts Node-RED on port 0 with the pack installed in its user dir, prints a report. */
const REPORT_PROGRAM = path.join(__dirname, '..', 'fixtures', 'nodeRedRuntimeReport.cjs');

interface Report {
  version: string;
  /** How the message sent by example 01 ended: 'acknowledged' when the hub's PUBACK came back. */
  example: string;
  sets: Array<{ id: string; types: string[]; enabled: boolean; err?: string }>;
  plugins: Array<{ id: string; plugins: Array<{ id: string }>; enabled: boolean; err?: string }>;
  pluginHtml: string;
  html: string;
  catalogs: Record<string, Record<string, { errors: Record<string, string> }>>;
  icon: { status: number; body: string };
  runtimeText: string;
}

// In a cell of the test matrix (scripts/matrix.ts), `node-red` is that cell's Node-RED (test/setup/nodeRedRuntime.cjs).
const cellVersion = process.env.TEST_NODE_RED_VERSION;
const RUNTIMES = cellVersion
  ? [{ module: 'node-red', version: new RegExp(`^${cellVersion.replace('.', '\\.')}\\.`) }]
  : [
      { module: 'node-red', version: /^4\.1\./ },
      { module: 'node-red-3.1', version: /^3\.1\./ },
    ];

for (const runtime of RUNTIMES)
  describe(`node types in a real Node-RED runtime, ${runtime.module}${cellVersion ? ` ${cellVersion}` : ''} (built pack)`, function () {
    this.timeout(60_000);
    let report: Report;
    let userDir: string;

    before(async () => {
      assert.ok(
        fs.existsSync(path.join(root, 'dist', 'nodes', 'iothub-module-client.js')),
        'dist/nodes is missing: run `npm run build` first',
      );
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-user-'));
      fs.mkdirSync(path.join(userDir, 'node_modules'));
      fs.symlinkSync(root, path.join(userDir, 'node_modules', 'node-red-contrib-azure-iot-module'), 'dir');
      const { stdout } = await promisify(execFile)(process.execPath, [REPORT_PROGRAM], {
        cwd: root,
        env: {
          ...process.env,
          NR_USER_DIR: userDir,
          NR_MODULE: runtime.module,
          NR_EXAMPLE: path.join(root, 'examples', '01 - Send to an output with properties.json'),
          // A private discovery folder: never join a hub some other process (npm start) announces on this machine.
          AZURE_IOT_LOCAL_HUB_DIR: path.join(userDir, 'hubs'),
        },
        maxBuffer: 64 * 1024 * 1024,
      });
      report = JSON.parse(stdout) as Report;
    });

    after(() => {
      if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
    });

    it('registers every node type of package.json without error', () => {
      assert.match(report.version, runtime.version);
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
        'node-red': { nodes: Record<string, string> };
      };
      const expected = Object.keys(pkg['node-red'].nodes).sort();
      assert.deepEqual(report.sets.flatMap((s) => s.types).sort(), expected);
      for (const set of report.sets) {
        assert.equal(set.enabled, true, set.id);
        assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
      }
    });

    it('registers the Local hub sidebar plugin without error and serves its editor code', () => {
      assert.deepEqual(
        report.plugins.flatMap((set) => set.plugins.map((p) => p.id)),
        ['iothub-local-hub-panel'],
      );
      for (const set of report.plugins) assert.equal(set.err, undefined, `${set.id}: ${set.err}`);
      assert.ok(report.pluginHtml.includes('iothub-local-hub-panel'), 'the plugin editor script');
    });

    it('serves the editor templates, help and icons', () => {
      for (const set of report.sets) {
        const type = set.types[0]!;
        assert.ok(report.html.includes(`data-template-name="${type}"`), `template of ${type}`);
        assert.ok(report.html.includes(`data-help-name="${type}"`), `help of ${type}`);
      }
      assert.equal(report.icon.status, 200);
      assert.match(report.icon.body, /^<svg /);
    });

    it('runs example 01 as imported: its message is acknowledged by a local hub started in the runtime', () => {
      assert.equal(report.example, 'acknowledged');
    });

    it('serves both catalogs and resolves runtime text (not the raw key)', () => {
      assert.equal(
        report.catalogs['en-US']!['iothub-module-client']!.errors['queue-full'],
        'The send queue is full while disconnected',
      );
      assert.equal(
        report.catalogs['pt-BR']!['iothub-module-client']!.errors['queue-full'],
        'A fila de envio está cheia e não há conexão com o hub',
      );
      assert.equal(report.runtimeText, 'queued (3)');
    });
  });

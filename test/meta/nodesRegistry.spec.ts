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

/** Runs inside the child: starts Node-RED on port 0 with the pack installed in its user dir, prints a report. */
const SCRIPT = `
const http = require('node:http');
const RED = require(process.env.NR_MODULE);
// The runtime's own copies of its dependencies (Node-RED 3.1 nests older ones than 4.1's).
const own = (m) => require(require.resolve(m, { paths: [require.resolve(process.env.NR_MODULE)] }));
const express = own('express');
(async () => {
  const app = express();
  const server = http.createServer(app);
  RED.init(server, { userDir: process.env.NR_USER_DIR, httpAdminRoot: '/', uiPort: 0, logging: { console: { level: 'off' } }, credentialSecret: false, editorTheme: { tours: false } });
  app.use('/', RED.httpAdmin);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  await RED.start();
  const port = server.address().port;
  const get = (p, headers = {}) => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: p, headers }, (res) => {
    let body = ''; res.setEncoding('utf8'); res.on('data', (d) => (body += d)); res.on('end', () => resolve({ status: res.statusCode, body }));
  }).on('error', reject));
  const report = { version: RED.version() };
  report.sets = JSON.parse((await get('/nodes', { Accept: 'application/json' })).body).filter((n) => n.module === 'node-red-contrib-azure-iot-module');
  report.html = (await get('/nodes', { Accept: 'text/html' })).body;
  report.plugins = JSON.parse((await get('/plugins', { Accept: 'application/json' })).body).filter((p) => p.module === 'node-red-contrib-azure-iot-module');
  report.pluginHtml = (await get('/plugins', { Accept: 'text/html' })).body;
  report.catalogs = {};
  for (const lng of ['en-US', 'pt-BR']) report.catalogs[lng] = JSON.parse((await get('/locales/node-red-contrib-azure-iot-module/iothub-module-client?lng=' + lng)).body);
  report.icon = await get('/icons/node-red-contrib-azure-iot-module/iothub-module-output.svg');
  report.runtimeText = own('@node-red/util').i18n._('node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.status.queued', { count: 3 });
  // Example 01 as a user imports it: a local hub started in this runtime, one message sent and acknowledged.
  await RED.nodes.setFlows(JSON.parse(require('node:fs').readFileSync(process.env.NR_EXAMPLE, 'utf8')), null, 'full');
  const until = async (cond, what) => {
    const end = Date.now() + 20000;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting for ' + what);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => RED.nodes.getNode('ex1-client')?.host?.connected === true, 'the example to connect');
  const outcome = new Promise((resolve) => RED.hooks.add('onComplete.meta', (e) => {
    if (e.node.id === 'ex1-out') resolve(e.error ? 'error: ' + (e.error.message || e.error) : 'acknowledged');
  }));
  RED.nodes.getNode('ex1-go').receive({});
  report.example = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('no completion in 20 s'), 20000))]);
  RED.hooks.remove('onComplete.meta');
  await RED.nodes.setFlows([], null, 'full');
  await RED.stop();
  server.close();
  process.stdout.write(JSON.stringify(report), () => process.exit(0));
})().catch((err) => { console.error(err); process.exit(1); });
`;

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

for (const runtime of RUNTIMES) describe(`node types in a real Node-RED runtime, ${runtime.module}${cellVersion ? ` ${cellVersion}` : ''} (built pack)`, function () {
  this.timeout(60_000);
  let report: Report;
  let userDir: string;

  before(async () => {
    assert.ok(fs.existsSync(path.join(root, 'dist', 'nodes', 'iothub-module-client.js')), 'dist/nodes is missing: run `npm run build` first');
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-user-'));
    fs.mkdirSync(path.join(userDir, 'node_modules'));
    fs.symlinkSync(root, path.join(userDir, 'node_modules', 'node-red-contrib-azure-iot-module'), 'dir');
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', SCRIPT], {
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
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
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
    assert.equal(report.catalogs['en-US']!['iothub-module-client']!.errors['queue-full'], 'The send queue is full while disconnected');
    assert.equal(report.catalogs['pt-BR']!['iothub-module-client']!.errors['queue-full'], 'A fila de envio está cheia e não há conexão com o hub');
    assert.equal(report.runtimeText, 'queued (3)');
  });
});

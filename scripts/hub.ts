// `npm run hub [config.json]`: runs the local hub CLI unchanged (its JSON first line, then events) and announces the
// hub in the discovery directory, so that Node-RED config nodes of the "Local hub" kind join it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { DISCOVERY_DIR } from '../nodes/shared/hubDiscovery';

const cli = path.resolve(__dirname, '..', 'src', 'hub', 'cli.js');
const child = spawn(process.execPath, [cli, ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let announced: string | undefined;

const lines = readline.createInterface({ input: child.stdout });
lines.on('line', (line) => {
  console.log(line);
  if (announced !== undefined) return;
  announced = '';
  let summary;
  try {
    summary = JSON.parse(line);
  } catch {
    return; // --help, or not the JSON line: nothing to announce
  }
  // The same content as writeDiscoveryFile() in nodes/shared/hubDiscovery.ts, for the CLI's own process.
  fs.mkdirSync(DISCOVERY_DIR, { recursive: true, mode: 0o700 });
  announced = path.join(DISCOVERY_DIR, `${summary.httpsPort}.json`);
  const workloadUri = summary.modules?.[0]?.edgeEnvironment?.IOTEDGE_WORKLOADURI ?? '';
  fs.writeFileSync(announced, JSON.stringify({
    pid: child.pid,
    port: summary.httpsPort,
    hostName: summary.hostName,
    caCertPath: summary.caCertPath,
    serviceConnectionString: summary.serviceConnectionString,
    workloadUri,
    startedAt: new Date().toISOString(),
  }, null, 2), { mode: 0o600 });
});

// The CLI stops on SIGINT / SIGTERM (Ctrl-C reaches both processes); the announcement goes with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (announced) fs.rmSync(announced, { force: true });
  process.exit(code ?? (signal ? 1 : 0));
});

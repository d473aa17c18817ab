// Discovery files: how a running local hub announces itself to other processes (`npm start`, `npm run hub`) and how
// the "local hub" connection kind and the editor panel find one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processRunning } from './processAlive';
import type { AnnouncedHub } from './types';

/**
 * Where running local hubs announce themselves: one `<port>.json` per hub. Default `<os tmpdir>/azure-iot-local-hub`;
 * the environment variable `AZURE_IOT_LOCAL_HUB_DIR` moves it (tests use a private one).
 */
export const DISCOVERY_DIR = process.env.AZURE_IOT_LOCAL_HUB_DIR || path.join(os.tmpdir(), 'azure-iot-local-hub');

/** What a discovery file holds (written by `npm start`, read by other processes). */
export interface HubDiscovery {
  pid: number;
  port: number;
  hostName: string;
  caCertPath: string;
  serviceConnectionString: string;
  /** On the standard ports (8883 and 443; `port` is 443): connection strings name the gateway without a port. */
  standardPorts?: boolean;
  /** `unix:///…` of the hub's IoT Edge workload API, '' when off. */
  workloadUri: string;
  startedAt: string;
}

/**
 * Announces a hub to other processes: writes `<dir>/<port>.json` (mode 0600, it holds the service key).
 * @returns the file path, to remove with `removeDiscoveryFile`.
 * @throws on file system errors (the directory cannot be made or the file written).
 */
export function writeDiscoveryFile(hub: AnnouncedHub, dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  removeStaleDiscoveryFiles(dir);
  const file = path.join(dir, `${hub.port}.json`);
  const content: HubDiscovery = {
    pid: process.pid,
    port: hub.port,
    hostName: hub.hostName,
    caCertPath: hub.caCertPath,
    serviceConnectionString: hub.serviceConnectionString,
    standardPorts: hub.standardPorts,
    workloadUri: hub.workloadUri ?? '',
    startedAt: new Date().toISOString(),
  };
  fs.writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600 });
  return file;
}

/** Removes the announcements of processes that are gone (a hub killed without its clean stop). */
function removeStaleDiscoveryFiles(dir: string): void {
  for (const name of fs.readdirSync(dir).filter((n) => /^\d+\.json$/.test(n))) {
    try {
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { pid?: unknown };
      if (typeof pid === 'number' && !processRunning(pid)) fs.rmSync(path.join(dir, name), { force: true });
    } catch {
      // Unreadable or being written: leave it.
    }
  }
}

/** Removes a discovery file (missing is fine). @throws on file system errors other than a missing file. */
export function removeDiscoveryFile(file: string): void {
  fs.rmSync(file, { force: true });
}

/** The hubs announced by live processes (other than this one), newest first; stale files are ignored. @throws never */
export function discoverHubs(dir: string): HubDiscovery[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const found: HubDiscovery[] = [];
  for (const name of names) {
    try {
      const d = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as HubDiscovery;
      if (
        typeof d.port === 'number' &&
        typeof d.pid === 'number' &&
        d.pid !== process.pid &&
        processRunning(d.pid) &&
        fs.existsSync(d.caCertPath)
      )
        found.push(d);
    } catch {
      // A file being written or from another tool: not a hub we can join.
    }
  }
  return found.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

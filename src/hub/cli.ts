#!/usr/bin/env node
// `azure-iot-local-hub [config.json] [--state-dir <dir> | --ephemeral]`: runs the local hub, prints its connection
// details as one JSON line, then events.
import path from 'node:path';
import { ConfigError, hubOptionsFromConfig, loadHubConfig } from './config';
import { defaultStateDir } from './HubState';
import { LocalHub } from './index';
import type { EdgeEnvironment, LocalHubApi } from './types';

const USAGE = `usage: azure-iot-local-hub [config.json] [--state-dir <dir> | --ephemeral]

Starts a local IoT Hub / IoT Edge hub. The first line on stdout is one JSON object:
  { hostName, mqttPort, httpsPort, caCertPath, serviceConnectionString, stateDir,
    modules: [{ deviceId, moduleId, connectionString, edgeEnvironment }] }
then one line per event. Without a config file: device "local-device" with modules "sensor" and
"processor", every message routed to $upstream. Stop with Ctrl-C (SIGINT) or SIGTERM.

The hub keeps its CA, keys, identities, twins, MQTT sessions and queued messages in a state directory, so
that a restarted hub accepts the same connection strings and CA file and modules find their sessions:
  --state-dir <dir>  keep the state there (default: <user data dir>/azure-iot-local-hub/<hub name>,
                     the user data dir being $XDG_DATA_HOME or ~/.local/share on Linux)
  --ephemeral        keep nothing: a new CA and new keys at every start, everything in memory`;

/** Exit codes: 0 = stopped by a signal, 1 = failed to start or to stop, 2 = bad arguments or configuration. */
const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** How long a signal-triggered shutdown may take before the process gives up waiting. */
const CLOSE_DEADLINE_MS = 10_000;

/** What the first stdout line holds. */
interface StartupSummary {
  hostName: string;
  mqttPort: number;
  httpsPort: number;
  caCertPath: string;
  serviceConnectionString: string;
  /** Where the hub keeps its state, or null when it keeps nothing (`--ephemeral`). */
  stateDir: string | null;
  modules: Array<{ deviceId: string; moduleId: string; connectionString: string; edgeEnvironment: EdgeEnvironment }>;
}

function summarize(hub: LocalHubApi, stateDir: string | undefined): StartupSummary {
  return {
    hostName: hub.hostName,
    // One TLS port serves MQTT, MQTT over WSS and HTTPS.
    mqttPort: hub.port,
    httpsPort: hub.port,
    caCertPath: hub.caCertPath,
    serviceConnectionString: hub.serviceConnectionString,
    stateDir: stateDir ?? null,
    modules: hub.listModules().map((m) => ({
      deviceId: m.deviceId,
      moduleId: m.moduleId,
      connectionString: m.connectionString,
      edgeEnvironment: hub.edgeEnvironment(m.deviceId, m.moduleId),
    })),
  };
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** The command line: an optional config file, and where the state lives. */
interface CliArgs {
  config?: string;
  stateDir?: string;
  ephemeral: boolean;
}

/** Parses the arguments; undefined when they are not valid. */
function parseArgs(args: string[]): CliArgs | undefined {
  const out: CliArgs = { ephemeral: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--ephemeral') out.ephemeral = true;
    else if (arg === '--state-dir' || arg.startsWith('--state-dir=')) {
      const value = arg === '--state-dir' ? args[++i] : arg.slice('--state-dir='.length);
      if (value === undefined || value === '' || out.stateDir !== undefined) return undefined;
      out.stateDir = value;
    } else if (arg.startsWith('-') || out.config !== undefined) return undefined;
    else out.config = arg;
  }
  if (out.ephemeral && out.stateDir !== undefined) return undefined;
  return out;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(USAGE);
    return EXIT_OK;
  }
  const args = parseArgs(argv);
  if (!args) {
    console.error(USAGE);
    return EXIT_USAGE;
  }
  let options;
  try {
    options = await hubOptionsFromConfig(await loadHubConfig(args.config));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`azure-iot-local-hub: invalid configuration: ${err.message}`);
      return EXIT_USAGE;
    }
    throw err;
  }

  // Event lines wait until the JSON line is out: whoever reads stdout relies on it being first.
  let ready = false;
  const early: string[] = [];
  const log = (line: string): void => {
    const stamped = `${new Date().toISOString()} ${line}`;
    if (ready) console.log(stamped);
    else early.push(stamped);
  };
  const signal = waitForSignal();
  const stateDir = args.ephemeral ? undefined : path.resolve(args.stateDir ?? defaultStateDir(options.hostName ?? LocalHub.defaultHostName));
  let hub: LocalHubApi;
  try {
    hub = await LocalHub.start({ ...options, log, ...(stateDir !== undefined ? { stateDir } : {}) });
  } catch (err) {
    console.error(`azure-iot-local-hub: cannot start: ${(err as Error).message}`);
    return EXIT_FAILURE;
  }
  console.log(JSON.stringify(summarize(hub, stateDir)));
  ready = true;
  for (const line of early) console.log(line);

  const received = await signal;
  log(`${received} received, stopping`);
  const deadline = new Promise<'timeout'>((resolve) => setTimeout(resolve, CLOSE_DEADLINE_MS, 'timeout').unref());
  const outcome = await Promise.race([hub.close().then(() => 'closed' as const), deadline]);
  if (outcome === 'timeout') {
    console.error(`azure-iot-local-hub: the hub did not stop within ${CLOSE_DEADLINE_MS / 1000} s`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`azure-iot-local-hub: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exit(EXIT_FAILURE);
  },
);

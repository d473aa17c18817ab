#!/usr/bin/env node
// `azure-iot-local-hub [options] [config.json]`: runs the local hub, prints its connection details as one JSON line,
// then events.
import path from 'node:path';
import { ConfigError, hubOptionsFromConfig, loadHubConfig } from './config';
import { defaultStateDir, missingStatePackages, statePackagesHint } from './HubState';
import { DISCOVERY_DIR, removeDiscoveryFile, writeDiscoveryFile } from './hubDiscovery';
import { LocalHub } from './index';
import { startPreferringStandardPorts } from './standardPorts';
import type { EdgeEnvironment, LocalHubApi, LocalHubOptions } from './types';

const USAGE = `usage: azure-iot-local-hub [--standard-ports] [--announce] [--state-dir <dir> | --ephemeral] [config.json]

Starts a local IoT Hub / IoT Edge hub. The first line on stdout is one JSON object:
  { hostName, mqttPort, httpsPort, standardPorts, caCertPath, serviceConnectionString, stateDir,
    modules: [{ deviceId, moduleId, connectionString, edgeEnvironment }] }
then one line per event. Without a config file: device "local-device" with modules "sensor" and
"processor", every message routed to $upstream. Stop with Ctrl-C (SIGINT) or SIGTERM.

  --standard-ports  listen on IoT Hub's ports, MQTT/TLS 8883 and WSS/HTTPS 443, so that connection strings
                    name the gateway without a port (GatewayHostName=localhost), as Azure's device SDKs
                    expect; when they cannot be bound, use one free port (or the config's "port") and say so
                    on stderr ("standardPorts": false)
  --announce        announce the hub to Node-RED's "Local hub" connection kind and sidebar tab (a discovery
                    file in ${DISCOVERY_DIR}, removed on stop)
  --state-dir <dir> keep the hub's CA, keys, identities, twins, MQTT sessions and queued messages there, so
                    that a restarted hub accepts the same connection strings and CA file and modules find
                    their sessions (default: <user data dir>/azure-iot-local-hub/<hub name>, the user data
                    dir being $XDG_DATA_HOME or ~/.local/share on Linux); needs the optional package
                    classic-level (without it and without --state-dir, the hub runs as with --ephemeral
                    and says so on stderr)
  --ephemeral       keep nothing: a new CA and new keys at every start, everything in memory`;

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
  standardPorts: boolean;
  caCertPath: string;
  serviceConnectionString: string;
  /** Where the hub keeps its state, or null when it keeps nothing (`--ephemeral`). */
  stateDir: string | null;
  modules: Array<{ deviceId: string; moduleId: string; connectionString: string; edgeEnvironment: EdgeEnvironment }>;
}

function summarize(hub: LocalHubApi, stateDir: string | undefined): StartupSummary {
  return {
    hostName: hub.hostName,
    // One TLS port serves MQTT, MQTT over WSS and HTTPS; on the standard ports MQTT clients dial 8883, the rest 443.
    mqttPort: hub.mqttPort,
    httpsPort: hub.port,
    standardPorts: hub.standardPorts,
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

/**
 * Resolves with the first SIGINT / SIGTERM. The listeners stay for the rest of the process: a terminal's Ctrl-C
 * signals the whole process group, so a second SIGINT (from `npm`, or a second Ctrl-C) may come while the hub is
 * closing, and Node's default action for it would kill the process before its temp files are gone.
 */
function waitForSignal(onLater: (signal: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (first !== undefined) {
        onLater(signal);
        return;
      }
      first = signal;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

interface CliArgs {
  configFile?: string;
  standardPorts: boolean;
  announce: boolean;
  stateDir?: string;
  ephemeral: boolean;
}

/** The arguments, or undefined when they are not understood. */
function parseArgs(args: string[]): CliArgs | undefined {
  const parsed: CliArgs = { standardPorts: false, announce: false, ephemeral: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--standard-ports') parsed.standardPorts = true;
    else if (arg === '--announce') parsed.announce = true;
    else if (arg === '--ephemeral') parsed.ephemeral = true;
    else if (arg === '--state-dir' || arg.startsWith('--state-dir=')) {
      const value = arg === '--state-dir' ? args[++i] : arg.slice('--state-dir='.length);
      if (value === undefined || value === '' || parsed.stateDir !== undefined) return undefined;
      parsed.stateDir = value;
    } else if (arg.startsWith('-') || parsed.configFile !== undefined) return undefined;
    else parsed.configFile = arg;
  }
  if (parsed.ephemeral && parsed.stateDir !== undefined) return undefined;
  return parsed;
}

async function startHub(options: LocalHubOptions, standardPorts: boolean): Promise<LocalHubApi> {
  if (!standardPorts) return LocalHub.start(options);
  const started = await startPreferringStandardPorts(options);
  if (started.fallbackReason !== undefined) {
    console.error(
      `azure-iot-local-hub: the standard ports are not available (${started.fallbackReason}); ` +
        `listening on port ${started.hub.port} instead, so gateways are named localhost:${started.hub.port}`,
    );
  }
  return started.hub;
}

async function main(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    console.log(USAGE);
    return EXIT_OK;
  }
  const cli = parseArgs(args);
  if (!cli) {
    console.error(USAGE);
    return EXIT_USAGE;
  }
  let options;
  try {
    options = await hubOptionsFromConfig(await loadHubConfig(cli.configFile));
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
  const signal = waitForSignal((later) => log(`${later} received again, still stopping`));
  let ephemeral = cli.ephemeral;
  const missing = missingStatePackages();
  if (!ephemeral && cli.stateDir === undefined && missing.length > 0) {
    // The default state directory is a convenience: without its packages the hub runs as with --ephemeral.
    console.error(`azure-iot-local-hub: keeping nothing (as --ephemeral): ${statePackagesHint(missing)}`);
    ephemeral = true;
  }
  const stateDir = ephemeral
    ? undefined
    : path.resolve(cli.stateDir ?? defaultStateDir(options.hostName ?? LocalHub.defaultHostName));
  let hub: LocalHubApi;
  try {
    hub = await startHub({ ...options, log, ...(stateDir !== undefined ? { stateDir } : {}) }, cli.standardPorts);
  } catch (err) {
    console.error(`azure-iot-local-hub: cannot start: ${(err as Error).message}`);
    return EXIT_FAILURE;
  }
  const discoveryFile = cli.announce ? writeDiscoveryFile(hub, DISCOVERY_DIR) : undefined;
  console.log(JSON.stringify(summarize(hub, stateDir)));
  ready = true;
  for (const line of early) console.log(line);

  const received = await signal;
  log(`${received} received, stopping`);
  if (discoveryFile !== undefined) removeDiscoveryFile(discoveryFile);
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
    console.error(`azure-iot-local-hub: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(EXIT_FAILURE);
  },
);

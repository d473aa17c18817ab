// IoT Hub's standard ports: MQTT over TLS on 8883, WSS and HTTPS on 443, and a gateway named without a port, as
// every Azure device SDK expects. Other processes may hold those ports, so each test asserts the fallback (one free
// port, `localhost:<port>`) when they cannot be bound.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { ModuleClient } from 'azure-iot-device';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { IoTHubModuleClient } from '../../src/index';
import { startPreferringStandardPorts, type StandardPortsStart } from '../../src/hub';
import { withEnv } from '../helpers/hubOracle';

const root = path.resolve(__dirname, '..', '..');
const DEVICE = 'std-device';
const devices = [{ deviceId: DEVICE, modules: [{ moduleId: 'ours' }, { moduleId: 'sdk' }, { moduleId: 'edge' }] }];

/** Holds 127.0.0.1:`port` (the hub's bind address) until closed; undefined when another process already holds it. */
async function occupy(port: number): Promise<net.Server | undefined> {
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return server;
  } catch (err) {
    assert.match((err as NodeJS.ErrnoException).code ?? '', /^(EADDRINUSE|EACCES)$/);
    return undefined;
  }
}

async function release(server: net.Server | undefined): Promise<void> {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The one-port fallback: the gateway carries the port, and why the standard ports were not used is given. */
function assertFallback(started: StandardPortsStart): void {
  const { hub } = started;
  assert.equal(started.standardPorts, false);
  assert.equal(hub.standardPorts, false);
  assert.match(started.fallbackReason ?? '', /^port (8883|443): (EADDRINUSE|EACCES)$/);
  assert.equal(hub.mqttPort, hub.port);
  assert.ok(hub.port !== 443 && hub.port !== 8883);
  assert.match(hub.getModule(DEVICE, 'ours')!.connectionString, new RegExp(`;GatewayHostName=localhost:${hub.port}$`));
  assert.equal(hub.edgeEnvironment(DEVICE, 'edge').IOTEDGE_GATEWAYHOSTNAME, `localhost:${hub.port}`);
}

describe('local hub on the standard ports (8883, 443)', function () {
  this.timeout(30_000);

  it('names the gateway without a port, and this library (MQTT and WSS) and azure-iot-device (MQTT, WSS, IoT Edge environment) connect with it', async () => {
    const started = await startPreferringStandardPorts({ devices });
    const { hub } = started;
    try {
      if (!started.standardPorts) {
        // Another process holds 8883 or 443: the fallback is what must work then.
        assertFallback(started);
        return;
      }
      assert.equal(hub.standardPorts, true);
      assert.equal(hub.mqttPort, 8883);
      assert.equal(hub.port, 443);
      const ours = hub.getModule(DEVICE, 'ours')!.connectionString;
      const sdk = hub.getModule(DEVICE, 'sdk')!.connectionString;
      assert.match(ours, /;GatewayHostName=localhost$/);
      const env = hub.edgeEnvironment(DEVICE, 'edge');
      assert.equal(env.IOTEDGE_GATEWAYHOSTNAME, 'localhost');

      for (const websockets of [false, true]) {
        const client = IoTHubModuleClient.createFromConnectionString(ours, {
          serverVerificationCert: hub.caCert,
          connectionRetry: false,
          websockets,
        });
        try {
          await client.connect();
          assert.ok(hub.isConnected(`${DEVICE}/ours`), `connected with websockets=${websockets}`);
        } finally {
          await client.shutdown();
        }
      }
      const edgeClient = await IoTHubModuleClient.createFromEdgeEnvironment({
        env: { ...env },
        connectionRetry: false,
      });
      try {
        await edgeClient.connect();
        assert.ok(hub.isConnected(`${DEVICE}/edge`));
      } finally {
        await edgeClient.shutdown();
      }

      // The official Node SDK dials GatewayHostName:8883 (MQTT) and :443 (MQTT over WSS).
      for (const transport of [Mqtt, MqttWs]) {
        const client = ModuleClient.fromConnectionString(sdk, transport);
        try {
          await client.setOptions({ ca: hub.caCert });
          await client.open();
          assert.ok(hub.isConnected(`${DEVICE}/sdk`), `azure-iot-device over ${transport.name}`);
        } finally {
          await client.close();
        }
      }
      // ... and from an IoT Edge module's environment (trust bundle and signatures from the workload API).
      const fromEnv = await withEnv({ ...env }, ['EdgeHubConnectionString', 'EdgeModuleCACertificateFile'], () =>
        ModuleClient.fromEnvironment(Mqtt),
      );
      try {
        await fromEnv.open();
        assert.ok(hub.isConnected(`${DEVICE}/edge`));
      } finally {
        await fromEnv.close();
      }
    } finally {
      await hub.close();
    }
  });

  it('falls back to one free port, saying why, when a standard port is taken', async () => {
    const held = await occupy(8883);
    try {
      const started = await startPreferringStandardPorts({ devices });
      try {
        assertFallback(started);
        assert.match(started.fallbackReason!, /^port 8883: /);
      } finally {
        await started.hub.close();
      }
    } finally {
      await release(held);
    }
  });

  it('azure-iot-local-hub --standard-ports falls back on stderr and in its JSON line ("standardPorts": false) when a port is taken', async () => {
    const held = await occupy(443);
    try {
      const child = spawn(
        process.execPath,
        [path.join(root, 'dist', 'src', 'hub', 'cli.js'), '--standard-ports', '--ephemeral'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = once(child, 'exit');
      try {
        const [line] = (await once(readline.createInterface({ input: child.stdout }), 'line', {
          signal: AbortSignal.timeout(20_000),
        })) as [string];
        const summary = JSON.parse(line) as {
          standardPorts: boolean;
          mqttPort: number;
          httpsPort: number;
          caCertPath: string;
          modules: Array<{ connectionString: string }>;
        };
        assert.equal(summary.standardPorts, false);
        assert.equal(summary.mqttPort, summary.httpsPort);
        assert.notEqual(summary.httpsPort, 443);
        assert.match(
          summary.modules[0]!.connectionString,
          new RegExp(`;GatewayHostName=localhost:${summary.httpsPort}$`),
        );
        assert.ok(fs.existsSync(summary.caCertPath));
        assert.match(
          stderr,
          /the standard ports are not available \(port (8883|443): (EADDRINUSE|EACCES)\); listening on port \d+ instead/,
        );
      } finally {
        child.kill('SIGTERM');
        const [code] = (await exited) as [number | null];
        assert.equal(code, 0, stderr);
      }
    } finally {
      await release(held);
    }
  });
});

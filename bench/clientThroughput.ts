// QoS 1 output-event throughput against a local hub in a child process: this client vs raw mqtt.js (same topic and
// payload) vs the official azure-iot-device ModuleClient; all in flight and one at a time; Markdown table.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import mqtt from 'mqtt';
import { Client as SdkClient, Message as SdkMessage, ModuleClient as SdkModuleClient } from 'azure-iot-device';
import { Mqtt as SdkMqtt } from 'azure-iot-device-mqtt';
import { IoTHubModuleClient, Message } from '../src/index';
import { encodeMessageProperties } from '../src/client/transport/properties';
import { buildUsername } from '../src/client/transport/mqttUsername';
import { userAgentString } from '../src/client/userAgent';
import { buildSasToken, symmetricKeySigner } from '../src/client/auth/sastoken';
import type { HubReady } from './hubProcess';

/** Benchmark knobs (defaults as the issue asks). */
export interface ThroughputOptions {
  inFlight?: number;
  sequential?: number;
  runs?: number;
  /** Which implementations to run. */
  clients?: Array<'ours' | 'raw' | 'sdk'>;
  log?: (line: string) => void;
}

interface Sender {
  name: string;
  send(i: number): Promise<void>;
  close(): Promise<void>;
}

const OUTPUT = 'telemetry';

/** A 200-byte JSON payload. */
function payloadFor(i: number): string {
  const base = JSON.stringify({ seq: i, temperature: 21.5, humidity: 48, pad: '' });
  return JSON.stringify({ seq: i, temperature: 21.5, humidity: 48, pad: 'x'.repeat(200 - Buffer.byteLength(base)) });
}

const PROPS = { sensor: 'alpha', unit: 'celsius', site: 'plant-1' };

function startHub(): Promise<{ child: ChildProcess; ready: HubReady }> {
  const script = path.join(__dirname, `hubProcess${path.extname(__filename)}`);
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`hub process exited with ${code}`)));
    child.once('message', (m: HubReady) => resolve({ child, ready: m }));
  });
}

async function ours(ready: HubReady): Promise<Sender> {
  const client = IoTHubModuleClient.createFromConnectionString(ready.modules.ours!.connectionString, {
    serverVerificationCert: ready.caCert,
  });
  await client.connect();
  return {
    name: 'this client',
    send: (i) => {
      const m = new Message(payloadFor(i), { contentType: 'application/json', contentEncoding: 'utf-8' });
      m.customProperties = { ...PROPS };
      return client.sendMessageToOutput(m, OUTPUT);
    },
    close: () => client.shutdown(),
  };
}

async function raw(ready: HubReady): Promise<Sender> {
  const m = ready.modules.raw!;
  const clientId = `${m.deviceId}/${m.moduleId}`;
  const password = await buildSasToken({
    uri: `${ready.hostName}/devices/${m.deviceId}/modules/${m.moduleId}`,
    signer: symmetricKeySigner(m.primaryKey),
    expiry: Math.floor(Date.now() / 1000) + 3600,
  });
  const client = await mqtt.connectAsync(`mqtts://localhost:${ready.port}`, {
    clientId,
    username: buildUsername(ready.hostName, clientId, userAgentString(), ''),
    password,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
    ca: ready.caCert,
  });
  client.on('error', () => undefined);
  const proto = new Message('', { contentType: 'application/json', contentEncoding: 'utf-8', outputName: OUTPUT });
  proto.customProperties = { ...PROPS };
  // The same topic our client sends, computed once (raw mqtt.js does no per-message encoding work).
  const topic = `devices/${m.deviceId}/modules/${m.moduleId}/messages/events/${encodeMessageProperties(proto)}`;
  return {
    name: 'raw mqtt.js',
    send: (i) =>
      new Promise<void>((resolve, reject) => {
        client.publish(topic, payloadFor(i), { qos: 1 }, (err) => (err ? reject(err) : resolve()));
      }),
    close: async () => {
      await client.endAsync();
    },
  };
}

async function sdk(ready: HubReady): Promise<Sender> {
  const client = SdkModuleClient.fromConnectionString(ready.modules.sdk!.connectionString, SdkMqtt);
  await client.setOptions({ ca: ready.caCert });
  await client.open();
  void SdkClient;
  return {
    name: 'azure-iot-device',
    send: async (i) => {
      const m = new SdkMessage(payloadFor(i));
      m.contentType = 'application/json';
      m.contentEncoding = 'utf-8';
      for (const [k, v] of Object.entries(PROPS)) m.properties.add(k, v);
      await client.sendOutputEvent(OUTPUT, m);
    },
    close: async () => {
      await client.close();
    },
  };
}

/** Wall time (s) and this process's CPU time (µs) of one run. */
interface Measured {
  seconds: number;
  cpuMicros: number;
}

async function measure(work: () => Promise<void>): Promise<Measured> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuMicros: used.user + used.system };
}

function allInFlight(sender: Sender, n: number): Promise<Measured> {
  return measure(async () => {
    const pending = new Array<Promise<void>>(n);
    for (let i = 0; i < n; i += 1) pending[i] = sender.send(i);
    await Promise.all(pending);
  });
}

function oneAtATime(sender: Sender, n: number): Promise<Measured> {
  return measure(async () => {
    for (let i = 0; i < n; i += 1) await sender.send(i);
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One row of the result. */
export interface ThroughputRow {
  scenario: string;
  client: string;
  medianRate: number;
  minRate: number;
  maxRate: number;
  /** Median CPU time of the client process per message (µs): robust against load from other processes. */
  cpuMicrosPerMessage: number;
}

/** Runs the benchmark and returns the Markdown table (also passed to `log`). */
export async function runClientThroughput(
  options: ThroughputOptions = {},
): Promise<{ rows: ThroughputRow[]; markdown: string }> {
  const inFlight = options.inFlight ?? 20_000;
  const sequential = options.sequential ?? 5_000;
  const runs = options.runs ?? 5;
  const kinds = options.clients ?? ['ours', 'raw', 'sdk'];
  const log = options.log ?? (() => undefined);
  const { child, ready } = await startHub();
  const clear = (): void => {
    child.send({ kind: 'clear' });
  };
  const rows: ThroughputRow[] = [];
  try {
    const factories = { ours, raw, sdk };
    for (const scenario of [
      { name: `all in flight (${inFlight})`, n: inFlight, run: allInFlight },
      { name: `one at a time (${sequential})`, n: sequential, run: oneAtATime },
    ]) {
      const senders: Sender[] = [];
      try {
        for (const kind of kinds) senders.push(await factories[kind](ready));
        for (const sender of senders) await scenario.run(sender, Math.min(scenario.n, 2000)); // warm-up
        clear();
        // Runs are interleaved (and the order rotated) so that load from other processes hits every client alike.
        const rates = new Map<Sender, number[]>(senders.map((x) => [x, []]));
        const cpu = new Map<Sender, number[]>(senders.map((x) => [x, []]));
        for (let r = 0; r < runs; r += 1) {
          for (let k = 0; k < senders.length; k += 1) {
            const sender = senders[(k + r) % senders.length]!;
            const { seconds, cpuMicros } = await scenario.run(sender, scenario.n);
            rates.get(sender)!.push(scenario.n / seconds);
            cpu.get(sender)!.push(cpuMicros / scenario.n);
            clear();
          }
        }
        for (const sender of senders) {
          const list = rates.get(sender)!;
          const row: ThroughputRow = {
            scenario: scenario.name,
            client: sender.name,
            medianRate: median(list),
            minRate: Math.min(...list),
            maxRate: Math.max(...list),
            cpuMicrosPerMessage: median(cpu.get(sender)!),
          };
          rows.push(row);
          log(
            `${row.scenario} ${row.client}: median ${row.medianRate.toFixed(0)} msg/s ` +
              `(${row.minRate.toFixed(0)}–${row.maxRate.toFixed(0)}), ` +
              `${row.cpuMicrosPerMessage.toFixed(1)} µs CPU/msg`,
          );
        }
      } finally {
        for (const sender of senders) await sender.close();
      }
    }
  } finally {
    child.send({ kind: 'close' });
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  }
  const lines = [
    '| scenario | client | median msg/s | min–max msg/s | spread | × raw mqtt.js | client CPU µs/msg | ' +
      'CPU × raw |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const rawRow = rows.find((r) => r.scenario === row.scenario && r.client === 'raw mqtt.js');
    const ratio = rawRow ? (row.medianRate / rawRow.medianRate).toFixed(2) : 'n/a';
    const spread = (((row.maxRate - row.minRate) / row.medianRate) * 100).toFixed(0) + ' %';
    const cpuRatio = rawRow ? (row.cpuMicrosPerMessage / rawRow.cpuMicrosPerMessage).toFixed(2) : 'n/a';
    lines.push(
      `| ${row.scenario} | ${row.client} | ${row.medianRate.toFixed(0)} | ` +
        `${row.minRate.toFixed(0)}–${row.maxRate.toFixed(0)} | ${spread} | ${ratio} | ` +
        `${row.cpuMicrosPerMessage.toFixed(1)} | ${cpuRatio} |`,
    );
  }
  const markdown = lines.join('\n');
  return { rows, markdown };
}

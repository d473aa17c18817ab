// Case 5a: connect time — TLS + CONNECT + subscriptions (inputs and methods) until usable: this client, raw mqtt.js
// (connect + SUBSCRIBE both), the official SDK (open() only: it subscribes lazily and reports no completion).
import type { HubHandle } from '../startHubProcess';
import type { BenchModule } from '../hubProcess';
import type { LatencyRow } from '../results';
import { median, nowMs, summariseLatencies } from '../stats';
import { connectRaw, connectSdk } from '../senders';
import { IoTHubModuleClient } from '../../src/index';

type Connector = { name: string; note?: string; once(m: BenchModule): Promise<number> };

/** Case 5a: `perRun` connects per run, `runs` runs (plus two warm-up connects each). */
export async function runConnectTime(
  hub: HubHandle,
  perRun: number,
  runs: number,
  log: (line: string) => void,
): Promise<LatencyRow[]> {
  const modules = await hub.addModules('bench-device', 'connect-', 3);
  const connectors: Connector[] = [
    {
      name: 'this client',
      note: 'create, set input + method handlers, connect() (resolves after both SUBACKs)',
      once: async (m) => {
        const t0 = nowMs();
        const client = IoTHubModuleClient.createFromConnectionString(m.connectionString, {
          serverVerificationCert: hub.ready.caCert,
        });
        client.onMessageReceived = () => undefined;
        client.onMethodRequestReceived = () => undefined;
        await client.connect();
        const ms = nowMs() - t0;
        await client.shutdown();
        return ms;
      },
    },
    {
      name: 'raw mqtt.js',
      note: 'connectAsync + one SUBSCRIBE for inputs/# and methods/POST/#',
      once: async (m) => {
        const t0 = nowMs();
        const client = await connectRaw(hub.ready, m);
        await client.subscribeAsync({
          [`devices/${m.deviceId}/modules/${m.moduleId}/inputs/#`]: { qos: 1 },
          '$iothub/methods/POST/#': { qos: 1 },
        });
        const ms = nowMs() - t0;
        await client.endAsync();
        return ms;
      },
    },
    {
      name: 'azure-iot-device',
      note: 'fromConnectionString + open() (TLS + CONNECT only)',
      once: async (m) => {
        const t0 = nowMs();
        const client = await connectSdk(hub.ready, m);
        const ms = nowMs() - t0;
        await client.close();
        return ms;
      },
    },
  ];
  log(`case 5: connect time (${perRun} × ${runs} runs each)`);
  const samples = connectors.map(() => [] as number[][]);
  for (const [i, c] of connectors.entries()) for (let w = 0; w < 2; w += 1) await c.once(modules[i]!);
  for (let r = 0; r < runs; r += 1) {
    for (const [i, c] of connectors.entries()) {
      const run: number[] = [];
      for (let k = 0; k < perRun; k += 1) run.push(await c.once(modules[i]!));
      samples[i]!.push(run);
    }
    await hub.clear();
  }
  return connectors.map((c, i) => {
    const summary = summariseLatencies(samples[i]!.flat());
    log(`  ${c.name}: p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms`);
    const row: LatencyRow = {
      case: '5',
      scenario: 'connect time',
      impl: c.name,
      summary,
      runP50s: samples[i]!.map((x) => median(x)),
    };
    if (c.note) row.note = c.note;
    return row;
  });
}

// Case 3: direct-method round trip (service invoke, timed in the hub process → module → response) and twin
// reported-patch round trip (timed here), p50 / p99: this client, raw mqtt.js, the official SDK, and Node-RED
// (method-request → method-response; inject → iothub-module-twin, acknowledged by done()).
import type { MqttClient } from 'mqtt';
import type { ModuleClient as SdkModuleClient, Twin as SdkTwin } from 'azure-iot-device';
import { IoTHubModuleClient, MethodResponse } from '../../src/index';
import type { HubHandle } from '../startHubProcess';
import type { BenchModule } from '../hubProcess';
import { flows, type NodeRedHarness } from '../nodeRed';
import type { LatencyRow } from '../results';
import { median, nowMs, summariseLatencies, waitFor } from '../stats';
import { connectRaw, connectSdk } from '../senders';

export interface LatencyCounts {
  /** Round trips per run. */
  perRun: number;
  runs: number;
  /** A run also ends after this many milliseconds (keeps the whole benchmark in budget when round trips stall). */
  budgetMs: number;
}

const METHOD = 'echo';
const METHOD_PAYLOAD = { value: 42, text: 'hello' };
const Z = 'bench-lat';

interface LatencyContender {
  name: string;
  module: BenchModule;
  /** Twin reported-patch round trip, ms. */
  twin(i: number): Promise<number>;
  close(): Promise<void>;
}

function methodTopicRid(topic: string): string | undefined {
  const q = topic.indexOf('?');
  if (q < 0) return undefined;
  for (const pair of topic.slice(q + 1).split('&')) {
    const [k, v] = pair.split('=');
    if (k === '$rid') return decodeURIComponent(v ?? '');
  }
  return undefined;
}

async function oursContender(hub: HubHandle, m: BenchModule): Promise<LatencyContender> {
  const client = IoTHubModuleClient.createFromConnectionString(m.connectionString, {
    serverVerificationCert: hub.ready.caCert,
  });
  client.onMethodRequestReceived = (req) =>
    client.sendMethodResponse(MethodResponse.createFromMethodRequest(req, 200, req.payload));
  await client.connect();
  return {
    name: 'this client',
    module: m,
    twin: async (i) => {
      const t0 = nowMs();
      await client.patchTwinReportedProperties({ counter: i, state: 'ok' });
      return nowMs() - t0;
    },
    close: () => client.shutdown(),
  };
}

async function rawContender(hub: HubHandle, m: BenchModule): Promise<LatencyContender> {
  const client: MqttClient = await connectRaw(hub.ready, m);
  const waiting = new Map<string, () => void>();
  client.on('message', (topic, payload) => {
    if (topic.startsWith('$iothub/methods/POST/')) {
      const rid = methodTopicRid(topic);
      client.publish(
        `$iothub/methods/res/200/?$rid=${encodeURIComponent(rid ?? '')}`,
        payload.length ? payload : 'null',
        { qos: 1 },
      );
    } else if (topic.startsWith('$iothub/twin/res/')) {
      const rid = methodTopicRid(topic);
      const done = rid === undefined ? undefined : waiting.get(rid);
      if (done) {
        waiting.delete(rid!);
        done();
      }
    }
  });
  await client.subscribeAsync({ '$iothub/methods/POST/#': { qos: 1 }, '$iothub/twin/res/#': { qos: 1 } });
  let rid = 0;
  return {
    name: 'raw mqtt.js',
    module: m,
    twin: (i) =>
      new Promise<number>((resolve, reject) => {
        const id = String(++rid);
        const t0 = nowMs();
        waiting.set(id, () => resolve(nowMs() - t0));
        client.publish(
          `$iothub/twin/PATCH/properties/reported/?$rid=${id}`,
          JSON.stringify({ counter: i, state: 'ok' }),
          { qos: 1 },
          (err) => {
            if (err) reject(err);
          },
        );
      }),
    close: async () => {
      await client.endAsync();
    },
  };
}

async function sdkContender(hub: HubHandle, m: BenchModule): Promise<LatencyContender> {
  const client: SdkModuleClient = await connectSdk(hub.ready, m);
  client.onMethod(METHOD, (req, res) => {
    res?.send(200, req?.payload, () => undefined);
  });
  const twin: SdkTwin = await client.getTwin();
  return {
    name: 'azure-iot-device',
    module: m,
    twin: (i) =>
      new Promise<number>((resolve, reject) => {
        const t0 = nowMs();
        (twin.properties.reported as { update(p: object, cb: (err?: Error) => void): void }).update(
          { counter: i, state: 'ok' },
          (err) => (err ? reject(err) : resolve(nowMs() - t0)),
        );
      }),
    close: async () => {
      await client.close();
    },
  };
}

async function nodeRedContender(hub: HubHandle, red: NodeRedHarness, m: BenchModule): Promise<LatencyContender> {
  await red.deploy([
    flows.tab(Z),
    flows.tls('lat-tls', hub.ready.caCert),
    flows.moduleClient('lat-client', m.connectionString, 'lat-tls'),
    {
      id: 'mreq',
      type: 'iothub-module-method-request',
      z: Z,
      name: '',
      client: 'lat-client',
      methodName: METHOD,
      timeout: '25',
      timeoutStatus: '504',
      x: 100,
      y: 100,
      wires: [['mres']],
    },
    { id: 'mres', type: 'iothub-module-method-response', z: Z, name: '', statusCode: '200', x: 300, y: 100, wires: [] },
    flows.inject(
      'inject-twin',
      Z,
      ['twin'],
      [{ p: 'payload', v: JSON.stringify({ counter: 1, state: 'ok' }), vt: 'json' }],
    ),
    { id: 'twin', type: 'iothub-module-twin', z: Z, name: '', client: 'lat-client', x: 300, y: 200, wires: [[]] },
  ]);
  await waitFor(
    () => red.getNode<{ host?: { connected: boolean } }>('lat-client')?.host?.connected === true,
    'Node-RED module client to connect',
  );
  // One completion listener for the whole run: adding and removing a Node-RED hook per sample costs more than the
  // round trip it would time.
  let settle: ((error: unknown) => void) | undefined;
  red.onComplete((id, error) => {
    if (id !== 'twin' || !settle) return;
    const s = settle;
    settle = undefined;
    s(error);
  });
  return {
    name: 'Node-RED nodes',
    module: m,
    twin: () =>
      new Promise<number>((resolve, reject) => {
        const t0 = nowMs();
        settle = (error) =>
          error ? reject(error instanceof Error ? error : new Error(JSON.stringify(error))) : resolve(nowMs() - t0);
        red.trigger('inject-twin', {});
      }),
    close: async () => {
      red.onComplete(null);
      await red.deploy([]);
    },
  };
}

/** Resolves once a method call to `m` succeeds (its subscription is in place). */
async function untilInvokable(hub: HubHandle, m: BenchModule): Promise<void> {
  let ok = false;
  const deadline = Date.now() + 20_000;
  while (!ok) {
    if (Date.now() > deadline) throw new Error(`${m.moduleId}: method subscription never became ready`);
    const reply = await hub.request({
      kind: 'invokeLoop',
      deviceId: m.deviceId,
      moduleId: m.moduleId,
      methodName: METHOD,
      count: 1,
      payload: METHOD_PAYLOAD,
    });
    ok = (reply.latenciesMs?.length ?? 0) === 1;
    if (!ok) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Case 3. */
export async function runLatency(
  hub: HubHandle,
  red: NodeRedHarness | undefined,
  counts: LatencyCounts,
  log: (line: string) => void,
): Promise<LatencyRow[]> {
  const modules = await hub.addModules('bench-device', 'latency-', 4);
  const contenders: LatencyContender[] = [];
  const rows: LatencyRow[] = [];
  try {
    contenders.push(await oursContender(hub, modules[0]!));
    contenders.push(await rawContender(hub, modules[1]!));
    contenders.push(await sdkContender(hub, modules[2]!));
    if (red) contenders.push(await nodeRedContender(hub, red, modules[3]!));
    for (const c of contenders) await untilInvokable(hub, c.module);
    const samples = new Map<string, { method: number[][]; twin: number[][] }>(
      contenders.map((c) => [c.name, { method: [], twin: [] }]),
    );
    const warmup = Math.max(10, Math.floor(counts.perRun / 5));
    for (const c of contenders) {
      await hub.request({
        kind: 'invokeLoop',
        deviceId: c.module.deviceId,
        moduleId: c.module.moduleId,
        methodName: METHOD,
        count: warmup,
        payload: METHOD_PAYLOAD,
        budgetMs: counts.budgetMs / 2,
      });
      const twinStart = Date.now();
      for (let i = 0; i < warmup && Date.now() - twinStart < counts.budgetMs / 2; i += 1) await c.twin(i);
    }
    log(
      `case 3: method and twin round trips (${counts.perRun} × ${counts.runs} runs each, at most ` +
        `${counts.budgetMs} ms per run)`,
    );
    for (let r = 0; r < counts.runs; r += 1) {
      for (const c of contenders) {
        const reply = await hub.request({
          kind: 'invokeLoop',
          deviceId: c.module.deviceId,
          moduleId: c.module.moduleId,
          methodName: METHOD,
          count: counts.perRun,
          payload: METHOD_PAYLOAD,
          budgetMs: counts.budgetMs,
        });
        if (reply.failures) throw new Error(`${c.name}: ${reply.failures} method calls failed`);
        samples.get(c.name)!.method.push(reply.latenciesMs ?? []);
        const twin: number[] = [];
        const twinStart = Date.now();
        for (let i = 0; i < counts.perRun && Date.now() - twinStart < counts.budgetMs; i += 1)
          twin.push(await c.twin(i));
        samples.get(c.name)!.twin.push(twin);
        await hub.clear();
      }
    }
    for (const c of contenders) {
      const s = samples.get(c.name)!;
      for (const [scenario, runs] of [
        ['method round trip', s.method],
        ['twin reported patch', s.twin],
      ] as const) {
        const summary = summariseLatencies(runs.flat());
        rows.push({ case: '3', scenario, impl: c.name, summary, runP50s: runs.map((x) => median(x)) });
        log(`  ${scenario} ${c.name}: p50 ${summary.p50.toFixed(3)} ms, p99 ${summary.p99.toFixed(3)} ms`);
      }
    }
  } finally {
    for (const c of contenders) await c.close().catch(() => undefined);
  }
  return rows;
}

// Fault injection and observations on the local hub, each control over real sockets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { MqttClient } from 'mqtt';
import type { LocalHub } from '../../src/hub/LocalHub';
import type { HubError } from '../../src/hub/hubErrors';
import type { ModuleIdentity } from '../../src/hub/types';
import { closed, connackCode, connectModule, endAll, moduleOptions, nextMessage, startHub, subscribe } from './support';
import { until } from '../helpers/until';

describe('local hub: fault injection and observations', function () {
  let hub: LocalHub;
  let mod: ModuleIdentity;
  const lines: string[] = [];

  before(async () => {
    hub = await startHub({ log: (l) => lines.push(l) });
  });
  beforeEach(() => {
    mod = hub.addModule('dev1', `m${Math.random().toString(16).slice(2, 8)}`);
  });
  afterEach(async () => {
    hub.faults.clear();
    await endAll();
  });
  after(() => hub.close());

  const url = (): string => `mqtts://127.0.0.1:${hub.port}`;
  const cid = (): string => `dev1/${mod.moduleId}`;

  async function twinClient(): Promise<MqttClient> {
    const c = await connectModule(hub, mod);
    await subscribe(c, '$iothub/twin/res/#');
    return c;
  }

  it('dropConnection closes one client abruptly', async () => {
    const c = await connectModule(hub, mod);
    const other = hub.addModule('dev1', `${mod.moduleId}o`);
    const o = await connectModule(hub, other);
    const ev = once(hub.events, 'disconnect', { signal: AbortSignal.timeout(5000) });
    hub.faults.dropConnection(cid());
    await closed(c);
    assert.match(((await ev)[0] as { reason: string }).reason, /dropped/);
    assert.ok(o.connected);
  });

  it('dropAll closes every client', async () => {
    const a = await connectModule(hub, mod);
    const b = await connectModule(hub, hub.addModule('dev1', `${mod.moduleId}b`));
    hub.faults.dropAll();
    await Promise.all([closed(a), closed(b)]);
    await until(() => !hub.isConnected(cid()));
  });

  it('refuseConnects answers the next N CONNECTs with the chosen code', async () => {
    hub.faults.refuseConnects(2, 3);
    const refused = hub.observed.counters.refused;
    assert.equal(await connackCode(url(), moduleOptions(hub, mod)), 3);
    assert.equal(await connackCode(url(), moduleOptions(hub, mod)), 3);
    assert.equal(await connackCode(url(), moduleOptions(hub, mod)), 0);
    assert.equal(hub.observed.counters.refused, refused + 2);
    assert.deepEqual(
      hub.observed.connects.slice(-3).map((r) => r.returnCode),
      [3, 3, 0],
    );
  });

  it('refuseConnects can send codes aedes does not (1)', async () => {
    hub.faults.refuseConnects(1, 1);
    const refused = hub.observed.counters.refused;
    assert.equal(await connackCode(url(), moduleOptions(hub, mod)), 1);
    assert.equal(hub.observed.counters.refused, refused + 1);
    assert.equal(await connackCode(url(), moduleOptions(hub, mod)), 0);
  });

  it('delayTwinResponses delays twin answers', async () => {
    const c = await twinClient();
    hub.faults.delayTwinResponses(300);
    const started = Date.now();
    const res = nextMessage(c, (t) => t.startsWith('$iothub/twin/res/200/'));
    await c.publishAsync('$iothub/twin/GET/?$rid=d1', ' ', { qos: 1 });
    await res;
    assert.ok(Date.now() - started >= 290);
  });

  it('withholdTwinResponses never answers while on', async () => {
    const c = await twinClient();
    hub.faults.withholdTwinResponses(true);
    const first = nextMessage(c, (t) => t.startsWith('$iothub/twin/res/'));
    await c.publishAsync('$iothub/twin/GET/?$rid=held', ' ', { qos: 1 });
    hub.faults.withholdTwinResponses(false);
    await c.publishAsync('$iothub/twin/GET/?$rid=free', ' ', { qos: 1 });
    assert.equal((await first).topic, '$iothub/twin/res/200/?$rid=free');
  });

  it('failTwinRequests answers the next N requests with the status and changes nothing', async () => {
    const c = await twinClient();
    hub.faults.failTwinRequests(429, 2);
    const statuses: string[] = [];
    c.on('message', (t, p) => statuses.push(`${t.split('/')[3]} ${t.split('$rid=')[1]} ${p.toString()}`));
    await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=1', '{"a":1}', { qos: 1 });
    await c.publishAsync('$iothub/twin/GET/?$rid=2', ' ', { qos: 1 });
    await c.publishAsync('$iothub/twin/GET/?$rid=3', ' ', { qos: 1 });
    await until(() => statuses.length === 3);
    assert.equal(statuses[0], '429 1 {"errorCode":429001,"message":"injected failure"}');
    assert.match(statuses[1]!, /^429 2 /);
    assert.match(statuses[2]!, /^200 3 \{"desired":\{"\$version":1\},"reported":\{"\$version":1\}\}$/);
  });

  it('delayMethodRequests delays delivery of method requests', async () => {
    const c = await connectModule(hub, mod);
    await subscribe(c, '$iothub/methods/POST/#');
    hub.faults.delayMethodRequests(300);
    const started = Date.now();
    const req = nextMessage(c, (t) => t.startsWith('$iothub/methods/POST/'));
    const result = hub.invokeMethod('dev1', mod.moduleId, { methodName: 'slow' });
    const r = await req;
    assert.ok(Date.now() - started >= 290);
    await c.publishAsync(`$iothub/methods/res/200/?$rid=${r.topic.split('$rid=')[1]}`, '1', { qos: 1 });
    assert.deepEqual(await result, { status: 200, payload: 1 });
  });

  it('withholdMethodRequests makes callers get 504101', async () => {
    const c = await connectModule(hub, mod);
    await subscribe(c, '$iothub/methods/POST/#');
    const seen: string[] = [];
    c.on('message', (t) => seen.push(t));
    hub.faults.withholdMethodRequests(true);
    await assert.rejects(
      hub.invokeMethod('dev1', mod.moduleId, { methodName: 'held', responseTimeoutInSeconds: 5 }),
      (e: HubError) => e.errorCode === 504101,
    );
    assert.deepEqual(seen, []);
  });

  it('expireToken closes the connection as 401003', async () => {
    const c = await connectModule(hub, mod);
    const ev = once(hub.events, 'disconnect', { signal: AbortSignal.timeout(5000) });
    hub.faults.expireToken(cid());
    await closed(c);
    assert.match(((await ev)[0] as { reason: string }).reason, /401003/);
  });

  it('clear removes every fault', async () => {
    hub.faults.refuseConnects(5, 5);
    hub.faults.withholdTwinResponses(true);
    hub.faults.failTwinRequests(500, 5);
    hub.faults.clear();
    const c = await twinClient();
    const res = nextMessage(c, (t) => t.startsWith('$iothub/twin/res/'));
    await c.publishAsync('$iothub/twin/GET/?$rid=ok', ' ', { qos: 1 });
    assert.equal((await res).topic, '$iothub/twin/res/200/?$rid=ok');
  });

  it('keeps at most observationLimit entries per observation array, newest last (counters keep counting)', async () => {
    const small = await startHub({ observationLimit: 2 });
    try {
      const m = small.addModule('dev1', 'lim');
      const c = await connectModule(small, m);
      for (const n of [1, 2, 3]) await c.publishAsync('devices/dev1/modules/lim/messages/events/', `p${n}`, { qos: 1 });
      await until(() => small.observed.counters.upstream === 3, 'three upstream messages');
      assert.deepEqual(
        small.observed.publishes.map((p) => p.payload.toString()),
        ['p2', 'p3'],
      );
      assert.deepEqual(
        small.observed.upstream.map((u) => u.body.toString()),
        ['p2', 'p3'],
      );
      assert.equal(small.observed.counters.publishes, 3);
    } finally {
      await endAll();
      await small.close();
    }
  });

  it('observes publishes and counters, logs one line per event, and clears', async () => {
    const c = await connectModule(hub, mod);
    const before = hub.observed.counters.publishes;
    await c.publishAsync(`devices/dev1/modules/${mod.moduleId}/messages/events/`, 'obs', { qos: 1 });
    const p = hub.observed.publishes.at(-1)!;
    assert.deepEqual(
      [p.clientId, p.topic, p.payload.toString(), p.qos],
      [cid(), `devices/dev1/modules/${mod.moduleId}/messages/events/`, 'obs', 1],
    );
    assert.equal(hub.observed.counters.publishes, before + 1);
    assert.ok(lines.some((l) => l.includes(`${cid()} connected`)));
    assert.ok(lines.some((l) => l.startsWith('$upstream <- ')));
    hub.observed.clear();
    assert.deepEqual(
      [
        hub.observed.connects.length,
        hub.observed.publishes.length,
        hub.observed.subscriptions.length,
        hub.observed.upstream.length,
      ],
      [0, 0, 0, 0],
    );
    assert.deepEqual(hub.observed.counters, {
      connects: 0,
      refused: 0,
      disconnects: 0,
      publishes: 0,
      upstream: 0,
      routed: 0,
      methodCalls: 0,
    });
  });
});

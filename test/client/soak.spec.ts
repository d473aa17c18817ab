// Many drops and reconnects with every feature in use: nothing is lost, and no socket or timer is left behind
// (the process's active resources return to what one connected client needs).
import assert from 'node:assert/strict';
import type { LocalHub } from '../../src/hub';
import { Message, MethodResponse } from '../../src/index';
import { clientFor, useLocalHub } from './clientSupport';
import { until } from '../helpers/until';

/**
 * Active handles and timers of the process by kind (sockets, servers, timeouts); pending setImmediate callbacks come
 * and go, so they are left out.
 */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) if (kind !== 'Immediate') counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe('client soak: drops and reconnects', () => {
  let hub: LocalHub;
  useLocalHub((started) => (hub = started));

  it('40 drops and reconnects with inputs, methods, desired patches and sends in between leave nothing behind', async function () {
    this.timeout(60_000);
    const cycles = 40;
    const client = clientFor(hub, 'soak', 'm', { connectionRetryInterval: 1 });
    const inputs: string[] = [];
    const desired: unknown[] = [];
    client.onMessageReceived = (m) => {
      inputs.push(String(m.data));
    };
    client.onMethodRequestReceived = (req) =>
      client.sendMethodResponse(MethodResponse.createFromMethodRequest(req, 200, req.payload));
    client.onTwinDesiredPropertiesPatchReceived = (patch) => {
      desired.push(patch.n);
    };
    await client.connect();
    await until(() => desired.length === 1, 'the initial desired document');
    // Settle one full cycle first, so that lazily created timers and sockets are in the baseline.
    const cycle = async (n: number): Promise<void> => {
      hub.faults.dropConnection('soak/m');
      await until(() => client.connectionState === 'connected' && hub.isConnected('soak/m'), `reconnect ${n}`);
      await client.sendMessage(new Message(`up ${n}`));
      await hub.sendToInput('soak', 'm', 'in', { body: `in ${n}` });
      hub.updateDesired('soak', 'm', { n });
      assert.deepEqual(
        await hub.invokeMethod('soak', 'm', { methodName: 'echo', payload: n, responseTimeoutInSeconds: 5 }),
        { status: 200, payload: n },
      );
      await client.patchTwinReportedProperties({ n });
      await until(() => inputs.includes(`in ${n}`) && desired.includes(n), `input and desired patch ${n}`);
    };
    await cycle(0);
    const baseline = resources();
    for (let n = 1; n <= cycles; n += 1) await cycle(n);
    await until(
      () => JSON.stringify(resources()) === JSON.stringify(baseline),
      'the resources of one connected client',
      5_000,
    ).catch(() => {
      assert.deepEqual(resources(), baseline, 'active handles and timers after the cycles');
    });
    const upstream = hub.observed.upstream.map((u) => u.body.toString()).filter((b) => b.startsWith('up '));
    assert.deepEqual([...new Set(upstream)].length, cycles + 1, 'every send arrived');
    assert.deepEqual([...new Set(inputs)].length, cycles + 1, 'every input arrived');
    assert.equal((await client.getTwin()).reported.n, cycles);
  });
});

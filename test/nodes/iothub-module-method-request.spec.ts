// iothub-module-method-request against a real LocalHub: request → response round trip through the flow,
// automatic answer after the configured time, methods nobody listens to.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import { collect, DEVICE, helper, loadWithClient, nextCall, useLocalHub } from './support';
import { until } from '../helpers/until';

describe('iothub-module-method-request (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  useLocalHub((h) => (hub = h));

  async function load(): Promise<void> {
    await loadWithClient(
      hub,
      [
        {
          id: 'echo',
          type: 'iothub-module-method-request',
          client: 'cfg',
          methodName: 'echo',
          timeout: '25',
          timeoutStatus: '504',
          wires: [['seen', 'respond']],
        },
        {
          id: 'slow',
          type: 'iothub-module-method-request',
          client: 'cfg',
          methodName: 'slow',
          timeout: '0.5',
          timeoutStatus: '503',
          wires: [['seenSlow']],
        },
        { id: 'respond', type: 'iothub-module-method-response', statusCode: '200', wires: [] },
        { id: 'seen', type: 'helper' },
        { id: 'seenSlow', type: 'helper' },
        {
          id: 'pair',
          type: 'iothub-module-method-request',
          client: 'cfg',
          methodName: 'pair',
          timeout: '25',
          timeoutStatus: '504',
          wires: [['seenPair']],
        },
        { id: 'seenPair', type: 'helper' },
      ],
      { subscribedTo: '$iothub/methods/POST' },
    );
  }

  it('emits the request and the flow answers it through the method-response node', async () => {
    await load();
    const seen = collect(helper.getNode('seen'));
    const result = await hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'echo',
      payload: { n: 1, s: 'é /$+%&#' },
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    assert.deepEqual(result, { status: 200, payload: { n: 1, s: 'é /$+%&#' } });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.topic, 'echo');
    assert.equal(seen[0]!.methodName, 'echo');
    assert.equal(typeof seen[0]!.requestId, 'string');
  });

  it('concurrent calls are correlated by request id', async () => {
    await load();
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        hub.invokeMethod(DEVICE, 'flow', {
          methodName: 'echo',
          payload: n,
          responseTimeoutInSeconds: 10,
          connectTimeoutInSeconds: 5,
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.payload),
      [1, 2, 3, 4, 5],
    );
  });

  it('two concurrent requests answered out of order reach the right callers; non-JSON answers arrive as text', async () => {
    await load();
    const seenPair = collect(helper.getNode('seenPair'));
    const first = hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'pair',
      payload: 'first {not json',
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    const second = hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'pair',
      payload: { n: 2 },
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    await until(() => seenPair.length === 2, 'both requests', 10_000);
    const byPayload = (p: unknown) => seenPair.find((m) => JSON.stringify(m.payload) === JSON.stringify(p))!;
    assert.notEqual(byPayload('first {not json').requestId, byPayload({ n: 2 }).requestId);
    // Answer the second first: correlation is by request id, never by method name or order.
    const respond = helper.getNode('respond');
    respond.receive({ requestId: byPayload({ n: 2 }).requestId, statusCode: 202, payload: { answer: 2 } });
    respond.receive({
      requestId: byPayload('first {not json').requestId,
      statusCode: 201,
      payload: Buffer.from('plain <text>'),
    });
    assert.deepEqual(await second, { status: 202, payload: { answer: 2 } });
    assert.deepEqual(await first, { status: 201, payload: 'plain <text>' });
  });

  it('answers automatically with the configured status after the configured time, and warns', async () => {
    await load();
    const seenSlow = collect(helper.getNode('seenSlow'));
    const warned = nextCall(helper.getNode('slow'), 'warn');
    const result = await hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'slow',
      payload: null,
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    assert.equal(result.status, 503);
    const [warning] = await warned;
    assert.match(String(warning), /answered automatically/);
    await until(() => seenSlow.length === 1, 'request emitted', 5_000);
    assert.equal(seenSlow[0]!.methodName, 'slow');
  });

  it('a method nobody listens to is answered 501 at once', async () => {
    await load();
    const result = await hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'nobody',
      payload: {},
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    assert.equal(result.status, 501);
  });
});

// iothub-module-method-response: status and payload from msg, and clear errors for unknown, answered and
// expired request ids.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import { serviceOracle } from '../helpers/hubOracle';
import { collect, DEVICE, helper, loadWithClient, nextInput, startHub, useLocalHub } from './support';
import { until } from '../helpers/until';

describe('iothub-module-method-response (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  useLocalHub((h) => (hub = h));

  async function load(timeout = '25', on: LocalHubApi = hub): Promise<void> {
    await loadWithClient(
      on,
      [
        {
          id: 'req',
          type: 'iothub-module-method-request',
          client: 'cfg',
          methodName: '',
          timeout,
          timeoutStatus: '504',
          wires: [['requests']],
        },
        { id: 'requests', type: 'helper' },
        { id: 'respond', type: 'iothub-module-method-response', statusCode: '200', wires: [] },
        { id: 'complete', type: 'complete', scope: ['respond'], wires: [['completed']] },
        { id: 'completed', type: 'helper' },
        { id: 'catch', type: 'catch', scope: ['respond'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ],
      { subscribedTo: '$iothub/methods/POST' },
    );
  }

  it('answers with msg.statusCode and msg.payload; a second answer fails with already-responded', async () => {
    await load();
    const request = nextInput(helper.getNode('requests'));
    const call = hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'reboot',
      payload: { delay: 5 },
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    const msg = await request;
    assert.deepEqual(msg.payload, { delay: 5 });
    const respond = helper.getNode('respond');
    const completed = nextInput(helper.getNode('completed'));
    respond.receive({ requestId: msg.requestId, statusCode: 202, payload: { accepted: true } });
    await completed;
    assert.deepEqual(await call, { status: 202, payload: { accepted: true } });
    const caught = nextInput(helper.getNode('caught'));
    respond.receive({ requestId: msg.requestId, payload: 'again' });
    const error = (await caught).error as { code?: string; message: string };
    assert.equal(error.code, 'already-responded');
    assert.match(error.message, /already been answered/);
  });

  it('unknown or missing request ids and bad status codes are catchable errors', async () => {
    await load();
    const caught = collect(helper.getNode('caught'));
    const respond = helper.getNode('respond');
    respond.receive({ requestId: 'nope@nowhere', payload: 1 });
    respond.receive({ payload: 1 });
    respond.receive({ requestId: 'x', statusCode: 'two hundred' });
    await until(() => caught.length === 3, 'three errors', 10_000);
    assert.deepEqual(caught.map((m) => (m.error as { code?: string }).code).sort(), [
      'invalid-request-id',
      'invalid-status-code',
      'unknown-request-id',
    ]);
  });

  it('an answer that cannot be sent answers the caller (azure-iothub) at once with 500 and the reason; the flow gets a catchable error', async () => {
    await load('25');
    const oracle = serviceOracle(hub.serviceConnectionString, hub.port, hub.caCert);
    try {
      const respond = helper.getNode('respond');
      const cases: Array<{ msg: Record<string, unknown>; code: string }> = [
        { msg: { statusCode: 'abc', payload: { ok: true } }, code: 'invalid-status-code' },
        { msg: { payload: 'x'.repeat(300 * 1024) }, code: 'message-too-large' },
        { msg: { payload: 10n }, code: 'invalid-payload' },
      ];
      for (const c of cases) {
        const request = nextInput(helper.getNode('requests'));
        const started = Date.now();
        const call = oracle.client.invokeDeviceMethod(DEVICE, 'flow', {
          methodName: 'answer',
          payload: null,
          responseTimeoutInSeconds: 30,
        });
        const msg = await request;
        const caught = nextInput(helper.getNode('caught'));
        respond.receive({ requestId: msg.requestId, ...c.msg });
        const { result } = (await call) as { result: { status: number; payload: { code: string; message: string } } };
        assert.ok(Date.now() - started < 10_000, 'answered at once, not at the 25 s automatic answer');
        assert.equal(result.status, 500, c.code);
        assert.equal(result.payload.code, c.code);
        assert.match(result.payload.message, new RegExp(`\\(${c.code}\\)`));
        assert.equal(((await caught).error as { code?: string }).code, c.code);
        // The 500 used the request up: a corrected answer is now a second answer.
        const again = nextInput(helper.getNode('caught'));
        respond.receive({ requestId: msg.requestId, payload: 'corrected' });
        assert.equal(((await again).error as { code?: string }).code, 'already-responded');
      }
    } finally {
      await oracle.close();
    }
  });

  it('an answer after the automatic one fails with request-expired', async () => {
    await load('0.3');
    const request = nextInput(helper.getNode('requests'));
    const result = await hub.invokeMethod(DEVICE, 'flow', {
      methodName: 'late',
      payload: null,
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 5,
    });
    assert.equal(result.status, 504);
    const msg = await request;
    const caught = nextInput(helper.getNode('caught'));
    helper.getNode('respond').receive({ requestId: msg.requestId, payload: 'too late' });
    assert.equal(((await caught).error as { code?: string }).code, 'request-expired');
  });

  it('after a redeploy on a fresh hub connection, a late answer to an earlier request does not answer the new request with the same $rid', async () => {
    // Hubs number method requests per connection: a restarted hub sends `$rid` 1 again.
    const call = async (
      on: LocalHubApi,
    ): Promise<{ msg: Record<string, unknown>; result: Promise<{ status: number; payload: unknown }> }> => {
      const request = nextInput(helper.getNode('requests'));
      const result = on.invokeMethod(DEVICE, 'flow', {
        methodName: 'reboot',
        payload: null,
        responseTimeoutInSeconds: 10,
        connectTimeoutInSeconds: 5,
      });
      result.catch(() => undefined);
      return { msg: await request, result };
    };
    const first = await startHub();
    let second: LocalHubApi | undefined;
    try {
      await load('25', first);
      const old = await call(first);
      await helper.unload();
      second = await startHub();
      await load('25', second);
      const fresh = await call(second);
      assert.notEqual(fresh.msg.requestId, old.msg.requestId, 'a new request id on the new connection');
      const caught = nextInput(helper.getNode('caught'));
      helper.getNode('respond').receive({ requestId: old.msg.requestId, payload: 'meant for the earlier request' });
      assert.equal(((await caught).error as { code?: string }).code, 'request-expired');
      const completed = nextInput(helper.getNode('completed'));
      helper.getNode('respond').receive({ requestId: fresh.msg.requestId, payload: 'fresh' });
      await completed;
      assert.deepEqual(await fresh.result, { status: 200, payload: 'fresh' });
    } finally {
      await helper.unload();
      await first.close();
      await second?.close();
    }
  });
});

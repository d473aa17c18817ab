// The parts of the config node's engine that need no Node-RED: the listener registry (per owner, typed), the
// desired-properties feed (twin once per client, versions passed on once) and the method router (501, automatic
// answer), each against a fake client.
import assert from 'node:assert/strict';
import type { IoTHubModuleClient, MethodResponse, TwinDocument } from '../../src/index';
import { MethodRequest } from '../../src/index';
import { DesiredFeed } from '../../nodes/shared/DesiredFeed';
import { HostListeners, type MethodListener } from '../../nodes/shared/HostListeners';
import { routeMethodRequest } from '../../nodes/shared/MethodRouter';
import { dropRequestsOf, pendingCount } from '../../nodes/shared/methodRegistry';

/** A client with just what the parts use: getTwin and sendMethodResponse, recorded. */
function fakeClient(desiredVersion = 3): { client: IoTHubModuleClient; twinReads: number; responses: MethodResponse[] } {
  const fake = {
    twinReads: 0,
    responses: [] as MethodResponse[],
    client: {
      getTwin: async (): Promise<TwinDocument> => {
        fake.twinReads++;
        return { desired: { $version: desiredVersion }, reported: { $version: 1 } };
      },
      sendMethodResponse: async (r: MethodResponse): Promise<void> => {
        fake.responses.push(r);
      },
    } as unknown as IoTHubModuleClient,
  };
  return fake;
}

describe('nodes: listener registry', () => {
  it('keeps listeners per owner and event, and removes exactly an owner\'s', () => {
    const listeners = new HostListeners();
    const seen: string[] = [];
    listeners.add('a', 'message', () => seen.push('a'));
    listeners.add('b', 'message', () => seen.push('b'));
    listeners.add('a', 'state', () => seen.push('a-state'));
    assert.equal(listeners.size, 3);
    listeners.removeOwner('a');
    assert.equal(listeners.size, 1);
    assert.equal(listeners.has('state'), false);
    for (const fn of listeners.of('message')) fn({} as never);
    assert.deepEqual(seen, ['b']);
  });
});

describe('nodes: desired-properties feed', () => {
  it('reads the twin once per client and drops the full document at the version the twin already had', async () => {
    const feed = new DesiredFeed();
    const fake = fakeClient(3);
    const [a, b] = await Promise.all([feed.initialTwin(fake.client), feed.initialTwin(fake.client)]);
    assert.equal(a, b);
    assert.equal(fake.twinReads, 1);
    const delivered: number[] = [];
    const receive = (version: number, full: boolean): Promise<void> =>
      new Promise<void>((resolve) => {
        feed.received(fake.client, { $version: version }, { full }, () => delivered.push(version));
        setImmediate(resolve);
      });
    await receive(3, true); // the document the twin read already gave
    await receive(4, false);
    await receive(4, false); // QoS 1 re-delivery after a reconnect
    await receive(2, false); // older
    await receive(5, true); // a newer full document after a reconnect
    assert.deepEqual(delivered, [4, 5]);
    feed.reset();
    await feed.initialTwin(fake.client);
    assert.equal(fake.twinReads, 2, 'a new client reads again');
  });
});

describe('nodes: method router', () => {
  const log = { failed: (err: unknown) => assert.fail(String(err)), listenerFailed: (err: unknown) => assert.fail(String(err)) };
  afterEach(() => dropRequestsOf('router-test'));

  it('answers 501 at once when no node handles the method', async () => {
    const fake = fakeClient();
    routeMethodRequest(new MethodRequest('7', 'reboot', null), [], fake.client, 'router-test', log);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(fake.responses.map((r) => [r.requestId, r.status]), [['7', 501]]);
  });

  it('hands the request to every matching node under one flow request id, the shortest automatic answer wins', () => {
    const fake = fakeClient();
    const got: Array<[string, string]> = [];
    const listener = (name: string, methodName: string, autoAnswerMs: number): MethodListener => ({
      methodName,
      autoAnswerMs,
      autoAnswerStatus: 504,
      emit: (_request, requestId) => void got.push([name, requestId]),
      warnExpired: () => undefined,
    });
    routeMethodRequest(new MethodRequest('8', 'reboot', null), [listener('all', '', 60_000), listener('reboot', 'reboot', 30_000), listener('other', 'ping', 1)], fake.client, 'router-test', log);
    assert.deepEqual(got, [['all', '8@router-test'], ['reboot', '8@router-test']]);
    assert.equal(pendingCount('router-test'), 1);
    assert.equal(fake.responses.length, 0);
  });
});

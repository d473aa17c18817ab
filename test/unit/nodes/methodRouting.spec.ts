// Direct method routing in the config node: 501 when no node handles the method, one flow request id otherwise.
import assert from 'node:assert/strict';
import { fakeModuleClient } from '../../helpers/fakeModuleClient';
import { MethodRequest } from '../../../src/index';
import { type MethodListener } from '../../../nodes/shared/HostListeners';
import { routeMethodRequest } from '../../../nodes/shared/methodRouting';
import { dropRequestsOf, pendingCount } from '../../../nodes/shared/methodRegistry';

describe('nodes: method router', () => {
  const log = {
    failed: (err: unknown) => assert.fail(String(err)),
    listenerFailed: (err: unknown) => assert.fail(String(err)),
  };
  afterEach(() => dropRequestsOf('router-test'));

  it('answers 501 at once when no node handles the method', async () => {
    const fake = fakeModuleClient();
    routeMethodRequest(
      new MethodRequest('7', 'reboot', null),
      [],
      fake.client,
      { id: 'router-test', connection: 'c1' },
      log,
    );
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(
      fake.responses.map((r) => [r.requestId, r.status]),
      [['7', 501]],
    );
  });

  it('hands the request to every matching node under one flow request id, the shortest automatic answer wins', () => {
    const fake = fakeModuleClient();
    const got: Array<[string, string]> = [];
    const listener = (name: string, methodName: string, autoAnswerMs: number): MethodListener => ({
      methodName,
      autoAnswerMs,
      autoAnswerStatus: 504,
      emit: (_request, requestId) => void got.push([name, requestId]),
      warnExpired: () => undefined,
    });
    routeMethodRequest(
      new MethodRequest('8', 'reboot', null),
      [listener('all', '', 60_000), listener('reboot', 'reboot', 30_000), listener('other', 'ping', 1)],
      fake.client,
      { id: 'router-test', connection: 'c1' },
      log,
    );
    assert.deepEqual(got, [
      ['all', '8@router-test/c1'],
      ['reboot', '8@router-test/c1'],
    ]);
    assert.equal(pendingCount('router-test'), 1);
    assert.equal(fake.responses.length, 0);
  });
});

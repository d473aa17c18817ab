// The config node's "local hub" connection kind: one leased module identity, and clients created for it from its
// IoT Edge environment.
import assert from 'node:assert/strict';
import { MethodResponse } from '../../src/index';
import { LocalHubConnection } from '../../nodes/shared/LocalHubConnection';
import { ownLocalHub } from '../../src/hub';
import { usePrivateDiscoveryDir } from '../helpers/localHubDiscovery';

describe('nodes/shared/localHub (local hub connection kind)', function () {
  this.timeout(30_000);
  usePrivateDiscoveryDir();

  it('LocalHubConnection: clients come from the IoT Edge environment, so one module can invoke another', async () => {
    const caller = new LocalHubConnection('dev-c', 'caller', '');
    const target = new LocalHubConnection('dev-c', 'target', '# no routes: outputs go upstream\n');
    const a = await caller.createClient({
      connectionRetry: false,
      serverVerificationCert: 'ignored',
      operationTimeout: 10,
    });
    const b = await target.createClient({ connectionRetry: false });
    try {
      b.onMethodRequestReceived = (request) =>
        b.sendMethodResponse(MethodResponse.createFromMethodRequest(request, 200, { pong: request.payload }));
      await b.connect();
      await a.connect();
      const result = await a.invokeMethod(
        { methodName: 'ping', payload: 7, responseTimeoutInSeconds: 10 },
        'dev-c',
        'target',
      );
      assert.deepEqual(result, { status: 200, payload: { pong: 7 } });
      assert.equal((await caller.acquire()).edgeEnvironment.IOTEDGE_MODULEID, 'caller');
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
    await caller.release();
    await caller.release();
    await assert.rejects(caller.acquire(), /closed/);
    assert.ok(await ownLocalHub(), 'the target still holds the hub');
    await target.release();
    assert.equal(await ownLocalHub(), undefined);
  });
});

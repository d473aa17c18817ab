// The config node's "local hub" connection kind: one leased module identity, and clients created for it from its
// IoT Edge environment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MethodResponse } from '../../src/index';
import { LocalHubConnection } from '../../nodes/shared/localHub';
import { localHubsClosed, localHubSettings, ownLocalHub, unshareLocalHub } from '../../src/hub';

describe('nodes/shared/localHub (local hub connection kind)', function () {
  this.timeout(30_000);
  let discoveryDir: string;
  const saved = { ...localHubSettings };

  beforeEach(() => {
    // A private discovery directory: a developer's running `npm start` must not change the outcome.
    discoveryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-hub-discovery-'));
    localHubSettings.discoveryDir = discoveryDir;
    localHubSettings.graceMs = 0;
  });
  afterEach(async () => {
    unshareLocalHub();
    await localHubsClosed();
    Object.assign(localHubSettings, saved);
    fs.rmSync(discoveryDir, { recursive: true, force: true });
  });

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

// The module client against a hostile MQTT server: direct method requests that are malformed or repeated.
import assert from 'node:assert/strict';
import { ClientError, IoTHubModuleClient, MethodResponse, type MethodRequest } from '../../src/index';
import { until } from '../helpers/until';
import type { Peer } from './hostileServer';
import { type Observed, useHostileServer } from './hostileSuite';

describe('client against a hostile MQTT server: method requests', function () {
  this.timeout(15_000);
  const { collecting, protocolErrors } = useHostileServer(() => undefined);

  const POST = '$iothub/methods/POST/';

  async function methodClient(): Promise<{
    client: IoTHubModuleClient;
    seen: Observed;
    requests: MethodRequest[];
    peer: Peer;
  }> {
    const { got: requests, ...rest } = await collecting<MethodRequest>(`${POST}#`, (client, got) => {
      client.onMethodRequestReceived = (r) => {
        got.push(r);
      };
    });
    return { ...rest, requests };
  }

  async function sentinel(peer: Peer, requests: MethodRequest[]): Promise<MethodRequest[]> {
    peer.publish(`${POST}sentinel/?$rid=S`, '1');
    await until(() => requests.some((r) => r.name === 'sentinel'), 'the sentinel request');
    return requests.filter((r) => r.name !== 'sentinel');
  }

  it('a non-JSON payload is reported, not delivered', async () => {
    const { seen, requests, peer } = await methodClient();
    peer.publish(`${POST}m1/?$rid=1`, '{not json');
    peer.publish(`${POST}m2/?$rid=2`, Buffer.from([0xff, 0x00]));
    assert.deepEqual(await sentinel(peer, requests), []);
    assert.equal(protocolErrors(seen).length, 2);
  });

  it('a request without $rid (or with an empty one) is reported, not delivered: it could not be answered', async () => {
    const { seen, requests, peer } = await methodClient();
    peer.publish(`${POST}m1/`, '{}');
    peer.publish(`${POST}m1/?$rid=`, '{}');
    peer.publish(`${POST}m1/?other=1`, '{}');
    assert.deepEqual(await sentinel(peer, requests), []);
    assert.equal(protocolErrors(seen).length, 3, seen.background.map(String).join('; '));
  });

  it('an empty method name is delivered (as by the Python SDK) and can be answered once', async () => {
    const { client, requests, peer, seen } = await methodClient();
    peer.publish(`${POST}/?$rid=7`, '');
    const [request] = await sentinel(peer, requests);
    assert.equal(request!.name, '');
    assert.equal(request!.payload, null);
    await client.sendMethodResponse(MethodResponse.createFromMethodRequest(request!, 200, { ok: true }));
    const response = await peer.nextPublish((p) => p.topic.startsWith('$iothub/methods/res/'));
    assert.equal(response.topic, '$iothub/methods/res/200/?$rid=7');
    await assert.rejects(
      client.sendMethodResponse(new MethodResponse('7', 200)),
      (e: unknown) => e instanceof ClientError && e.code === 'already-responded',
    );
    assert.deepEqual(seen.background, []);
  });

  it('the same $rid twice is delivered twice; each delivery may be answered once', async () => {
    const { client, requests, peer, seen } = await methodClient();
    peer.publish(`${POST}m/?$rid=dup`, '1');
    await until(() => requests.length === 1, 'first delivery');
    await client.sendMethodResponse(new MethodResponse('dup', 200));
    peer.publish(`${POST}m/?$rid=dup`, '2');
    await until(() => requests.length === 2, 'second delivery');
    assert.deepEqual(
      requests.map((r) => [r.requestId, r.payload]),
      [
        ['dup', 1],
        ['dup', 2],
      ],
    );
    await client.sendMethodResponse(new MethodResponse('dup', 201));
    await assert.rejects(
      client.sendMethodResponse(new MethodResponse('dup', 202)),
      (e: unknown) => e instanceof ClientError && e.code === 'already-responded',
    );
    await assert.rejects(
      client.sendMethodResponse(new MethodResponse('never-sent', 200)),
      (e: unknown) => e instanceof ClientError && e.code === 'unknown-request-id',
    );
    assert.deepEqual(seen.background, []);
  });
});

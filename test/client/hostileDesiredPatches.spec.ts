// The module client against a hostile MQTT server: desired property patches that are malformed or out of order.
import assert from 'node:assert/strict';
import { until } from '../helpers/until';
import { DEFAULT_TWIN, ridOf, type HostileServer } from './hostileServer';
import { useHostileServer } from './hostileSuite';

describe('client against a hostile MQTT server: desired property patches', function () {
  this.timeout(15_000);
  let server: HostileServer;
  const { makeClient, protocolErrors } = useHostileServer((s) => (server = s));

  const DESIRED = '$iothub/twin/PATCH/properties/desired/?$version=9';
  const cases: Array<{ name: string; body: string | Buffer; delivered?: Record<string, unknown> }> = [
    { name: 'a non-JSON body is reported, not delivered', body: '{"a": 1' },
    { name: 'a JSON array is reported, not delivered', body: '[1,2,3]' },
    { name: 'JSON null is reported, not delivered', body: 'null' },
    { name: 'an empty body is reported, not delivered', body: '' },
    { name: 'a JSON string is reported, not delivered', body: '"text"' },
    { name: 'non-UTF-8 bytes are reported, not delivered', body: Buffer.from([0xff, 0xfe, 0x7b]) },
    { name: 'a patch without $version is delivered as it is', body: '{"a":1}', delivered: { a: 1 } },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const { client, seen } = makeClient();
      const patches: Array<[Record<string, unknown>, boolean]> = [];
      client.onTwinDesiredPropertiesPatchReceived = (patch, info) => {
        patches.push([patch, info.full]);
      };
      // ensureDesiredProperties: the whole desired document first.
      await until(() => patches.length === 1, 'the full desired document');
      assert.deepEqual(patches[0], [DEFAULT_TWIN.desired, true]);
      const peer = await server.nextPeer(0);
      peer.publish(DESIRED, c.body);
      peer.publish(DESIRED, '{"sentinel":true,"$version":10}');
      await until(() => patches.some(([p]) => p.sentinel === true), 'the sentinel patch');
      const between = patches.slice(1, -1).map(([p]) => p);
      if (c.delivered) {
        assert.deepEqual(between, [c.delivered]);
        assert.deepEqual(seen.background, []);
      } else {
        assert.deepEqual(between, []);
        assert.equal(protocolErrors(seen).length, 1, seen.background.map(String).join('; '));
      }
      assert.equal(client.connectionState, 'connected');
    });
  }

  const fullDocs: Array<{ name: string; body: string }> = [
    { name: 'a twin whose desired section is missing', body: '{"reported":{"$version":1}}' },
    { name: 'a twin whose desired section is a string', body: '{"desired":"x","reported":{}}' },
    { name: 'a twin whose desired section is an array', body: '{"desired":[1],"reported":{}}' },
    { name: 'a twin that is JSON null', body: 'null' },
    { name: 'a twin that is not JSON', body: '<html>' },
  ];
  for (const c of fullDocs) {
    it(`ensureDesiredProperties: ${c.name} is reported, never handed to the handler`, async () => {
      const { client, seen } = makeClient();
      server.behaviour.onPublish = (peer, packet) => {
        const rid = ridOf(packet.topic);
        if (rid !== undefined && packet.topic.startsWith('$iothub/twin/GET/'))
          peer.publish(`$iothub/twin/res/200/?$rid=${rid}`, c.body);
      };
      const patches: unknown[] = [];
      client.onTwinDesiredPropertiesPatchReceived = (patch) => {
        patches.push(patch);
      };
      await until(() => seen.background.length > 0, 'the background report');
      assert.ok(protocolErrors(seen).length === 1, seen.background.map(String).join('; '));
      const peer = await server.nextPeer(0);
      peer.publish('$iothub/twin/PATCH/properties/desired/', '{"b":2,"$version":4}');
      await until(() => patches.length > 0, 'the next patch');
      assert.deepEqual(patches, [{ b: 2, $version: 4 }]);
    });
  }
});

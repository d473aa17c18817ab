// The module client against a hostile MQTT server: twin responses that are malformed, unexpected or missing.
import assert from 'node:assert/strict';
import { ClientError, OperationTimeout } from '../../src/index';
import { DEFAULT_TWIN, ridOf, type HostileServer, type Peer } from './hostileServer';
import { useHostileServer } from './hostileSuite';

describe('client against a hostile MQTT server: twin responses', function () {
  this.timeout(15_000);
  let server: HostileServer;
  const { makeClient } = useHostileServer((s) => (server = s));

  /** Answers every twin GET with `answer(peer, rid)`. */
  function answerGets(answer: (peer: Peer, rid: string) => void): void {
    server.behaviour.onPublish = (peer, packet) => {
      const rid = ridOf(packet.topic);
      if (packet.topic.startsWith('$iothub/twin/GET/') && rid !== undefined) answer(peer, rid);
    };
  }
  const twin = JSON.stringify(DEFAULT_TWIN);

  const cases: Array<{
    name: string;
    answer: (peer: Peer, rid: string) => void;
    check: (result: unknown, error: unknown) => void;
  }> = [
    {
      name: 'a non-JSON body fails getTwin with a protocol error',
      answer: (p, rid) => p.publish(`$iothub/twin/res/200/?$rid=${rid}`, '{"desired": '),
      check: (_, err) => assert.ok(err instanceof ClientError && err.code === 'protocol-error', String(err)),
    },
    {
      name: 'a JSON body that is not an object (null) fails getTwin with a protocol error',
      answer: (p, rid) => p.publish(`$iothub/twin/res/200/?$rid=${rid}`, 'null'),
      check: (_, err) => assert.ok(err instanceof ClientError && err.code === 'protocol-error', String(err)),
    },
    {
      name: 'a JSON array body fails getTwin with a protocol error',
      answer: (p, rid) => p.publish(`$iothub/twin/res/200/?$rid=${rid}`, '[1,2]'),
      check: (_, err) => assert.ok(err instanceof ClientError && err.code === 'protocol-error', String(err)),
    },
    {
      name: 'status 0 is below 300: success, as in the Python SDK',
      answer: (p, rid) => p.publish(`$iothub/twin/res/0/?$rid=${rid}`, twin),
      check: (doc, err) => {
        assert.equal(err, undefined);
        assert.deepEqual(doc, DEFAULT_TWIN);
      },
    },
    {
      name: 'status 999 fails with a service error carrying the status',
      answer: (p, rid) => p.publish(`$iothub/twin/res/999/?$rid=${rid}`, '{"errorCode": 999999}'),
      check: (_, err) => {
        assert.ok(err instanceof ClientError && err.code === 'service-error', String(err));
        assert.equal(err.statusCode, 999);
      },
    },
    {
      name: 'an error body naming an Object.prototype member yields no bogus error code',
      answer: (p, rid) =>
        p.publish(`$iothub/twin/res/400/?$rid=${rid}`, '{"ErrorCode":"constructor","Message":"ErrorCode:toString;x"}'),
      check: (_, err) => {
        assert.ok(err instanceof ClientError && err.code === 'bad-request', String(err));
        assert.equal(err.errorCode, undefined);
      },
    },
    {
      name: 'a non-numeric status fails with a protocol error (not a success)',
      answer: (p, rid) => p.publish(`$iothub/twin/res/abc/?$rid=${rid}`, twin),
      check: (_, err) => assert.ok(err instanceof ClientError && err.code === 'protocol-error', String(err)),
    },
    {
      name: 'an empty status segment fails with a protocol error',
      answer: (p, rid) => p.publish(`$iothub/twin/res//?$rid=${rid}`, twin),
      check: (_, err) => assert.ok(err instanceof ClientError && err.code === 'protocol-error', String(err)),
    },
    {
      name: 'a response for an unknown $rid is dropped; the right one still answers',
      answer: (p, rid) => {
        p.publish('$iothub/twin/res/500/?$rid=not-mine', '{}');
        p.publish(`$iothub/twin/res/200/?$rid=${rid}`, twin);
      },
      check: (doc, err) => {
        assert.equal(err, undefined);
        assert.deepEqual(doc, DEFAULT_TWIN);
      },
    },
    {
      name: 'a duplicate response for the same $rid is dropped',
      answer: (p, rid) => {
        p.publish(`$iothub/twin/res/200/?$rid=${rid}`, twin);
        p.publish(`$iothub/twin/res/500/?$rid=${rid}`, '{}');
        p.publish(`$iothub/twin/res/200/?$rid=${rid}`, 'garbage');
      },
      check: (doc, err) => {
        assert.equal(err, undefined);
        assert.deepEqual(doc, DEFAULT_TWIN);
      },
    },
    {
      name: 'a response without $rid is dropped: getTwin times out (OperationTimeout), never hangs',
      answer: (p) => {
        p.publish('$iothub/twin/res/200/', twin);
        p.publish('$iothub/twin/res/200/?$version=3', twin);
        p.publish('$iothub/twin/res/200/?$rid', twin);
      },
      check: (_, err) => assert.ok(err instanceof OperationTimeout, String(err)),
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const { client, seen } = makeClient();
      answerGets(c.answer);
      const started = Date.now();
      const outcome = await client.getTwin().then(
        (doc) => ({ doc, err: undefined as unknown }),
        (err: unknown) => ({ doc: undefined, err }),
      );
      assert.ok(Date.now() - started < 5000, 'settled in time');
      c.check(outcome.doc, outcome.err);
      // The client keeps working afterwards.
      answerGets((peer, rid) => peer.publish(`$iothub/twin/res/200/?$rid=${rid}`, twin));
      assert.deepEqual(await client.getTwin(), DEFAULT_TWIN);
      assert.deepEqual(seen.background, []);
    });
  }
});

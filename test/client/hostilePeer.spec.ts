// The module client against a hostile or broken MQTT server (hostileServer.ts): no input may crash the process, hang an
// operation or reach a handler in a shape the spec does not allow; background failures surface as events.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import {
  ClientError,
  ConnectionDroppedError,
  ConnectionFailedError,
  CredentialError,
  IoTHubModuleClient,
  Message,
  MethodResponse,
  OperationCancelled,
  OperationTimeout,
  type ClientOptions,
  type ConnectionState,
  type MethodRequest,
} from '../../src/index';
import { closeClients, track, waitFor } from './clientSupport';
import { DEFAULT_TWIN, HostileServer, ridOf, type Peer } from './hostileServer';

const KEY = Buffer.alloc(32, 7).toString('base64');
const INPUT_PREFIX = 'devices/d/modules/m/inputs/';

interface Observed {
  background: Error[];
  states: ConnectionState[];
}

describe('client against a hostile MQTT server', function () {
  this.timeout(15_000);
  let server: HostileServer;
  const escaped: unknown[] = [];
  const onEscaped = (err: unknown): void => {
    escaped.push(err);
  };

  before(async () => {
    process.on('uncaughtException', onEscaped);
    process.on('unhandledRejection', onEscaped);
    server = await HostileServer.start();
  });

  after(async () => {
    process.removeListener('uncaughtException', onEscaped);
    process.removeListener('unhandledRejection', onEscaped);
    await server?.close();
    assert.deepEqual(escaped, [], 'no uncaughtException / unhandledRejection during the suite');
  });

  afterEach(async () => {
    await closeClients();
    server.reset();
    // Let anything a shut-down client might still throw surface before judging this test.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(escaped.splice(0), [], 'no uncaughtException / unhandledRejection in this test');
  });

  /** A client for module d/m of the hostile server, short timeouts, tracked (shut down after each test). */
  function makeClient(options: ClientOptions = {}): { client: IoTHubModuleClient; seen: Observed } {
    const client = track(
      IoTHubModuleClient.createFromConnectionString(
        `HostName=localhost;DeviceId=d;ModuleId=m;SharedAccessKey=${KEY};GatewayHostName=localhost:${server.port}`,
        { serverVerificationCert: server.caCert, operationTimeout: 1, connectionRetryInterval: 1, ...options },
      ),
    );
    const seen: Observed = { background: [], states: [] };
    client.onBackgroundException = (e) => seen.background.push(e);
    client.onConnectionStateChange = (info) => seen.states.push(info.state);
    return { client, seen };
  }

  /** Waits until `peer` has SUBSCRIBEd to `topic`. */
  async function subscribed(peer: Peer, topic: string): Promise<void> {
    await waitFor(() => peer.subscribes.some((s) => s.subscriptions.some((x) => x.topic === topic)), `SUBSCRIBE ${topic}`, 5000);
  }

  /** A client whose handler (set by `attach`) collects into `got`, and the server side once it SUBSCRIBEd to `filter`. */
  async function collecting<T>(filter: string, attach: (client: IoTHubModuleClient, got: T[]) => void): Promise<{ client: IoTHubModuleClient; seen: Observed; got: T[]; peer: Peer }> {
    const { client, seen } = makeClient();
    const got: T[] = [];
    attach(client, got);
    const peer = await server.nextPeer(0);
    await subscribed(peer, filter);
    return { client, seen, got, peer };
  }

  /** A client collecting its input messages, and the server side once it subscribed to its inputs. */
  function inputClient(): ReturnType<typeof collecting<Message>> {
    return collecting<Message>(`${INPUT_PREFIX}#`, (client, got) => {
      client.onMessageReceived = (m) => {
        got.push(m);
      };
    });
  }

  function protocolErrors(seen: Observed): ClientError[] {
    return seen.background.filter((e): e is ClientError => e instanceof ClientError && e.code === 'protocol-error');
  }

  // ------------------------------------------------------------------ input messages

  describe('input messages', () => {
    const cases: Array<{ name: string; send: (peer: Peer) => void; check: (received: Message[]) => void }> = [
      {
        name: 'malformed escapes (%zz, truncated %E0%A4%A) stay literal',
        send: (p) => p.publish(`${INPUT_PREFIX}in1/%zz=%zz&k=%E0%A4%A&ok=%C3%A9`, 'x'),
        check: ([m]) => assert.deepEqual(m!.customProperties, { '%zz': '%zz', k: '%E0%A4%A', ok: 'é' }),
      },
      {
        name: 'a bag of separators only (&&==&)',
        send: (p) => p.publish(`${INPUT_PREFIX}in1/&&==&`, 'x'),
        check: ([m]) => assert.deepEqual(m!.customProperties, { '': '=' }),
      },
      {
        name: 'a bag without = (key only)',
        send: (p) => p.publish(`${INPUT_PREFIX}in1/justakey`, 'x'),
        check: ([m]) => assert.deepEqual(m!.customProperties, { justakey: '' }),
      },
      {
        name: 'thousands of pairs',
        send: (p) => p.publish(`${INPUT_PREFIX}in1/${Array.from({ length: 4000 }, (_, i) => `k${i}=${i}`).join('&')}`, 'x'),
        check: ([m]) => {
          assert.equal(Object.keys(m!.customProperties).length, 4000);
          assert.equal(m!.customProperties.k3999, '3999');
        },
      },
      {
        name: 'Object.prototype names (__proto__, constructor, toString) are plain custom properties',
        send: (p) => p.publish(`${INPUT_PREFIX}in1/__proto__=x&constructor=y&toString=z&hasOwnProperty=w&%24.mid=id1`, 'x'),
        check: ([m]) => {
          const props = m!.customProperties;
          assert.equal(Object.getPrototypeOf(props), Object.prototype);
          assert.deepEqual(Object.keys(props).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
          assert.equal(Object.getOwnPropertyDescriptor(props, '__proto__')?.value, 'x');
          assert.deepEqual([props.constructor, props.toString, props.hasOwnProperty], ['y', 'z', 'w']);
          assert.equal(m!.messageId, 'id1');
          // Nothing else on the message, and no prototype touched.
          assert.deepEqual(Object.keys(m!).filter((k) => k.includes('[') || k.includes('(')), []);
          assert.equal(({} as Record<string, unknown>).x, undefined);
        },
      },
      {
        name: 'a non-UTF-8 payload is delivered as the raw bytes',
        send: (p) => p.publish(`${INPUT_PREFIX}in1/`, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00])),
        check: ([m]) => assert.deepEqual(m!.data, Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00])),
      },
      {
        name: 'an empty payload is an empty Buffer',
        send: (p) => p.publish(`${INPUT_PREFIX}in1`, ''),
        check: ([m]) => {
          assert.deepEqual(m!.data, Buffer.alloc(0));
          assert.equal(m!.inputName, 'in1');
        },
      },
      {
        name: 'a topic with invalid UTF-8 bytes does not break the client',
        send: (p) => p.publishRawTopic(Buffer.concat([Buffer.from(`${INPUT_PREFIX}in`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('/a=b')]), Buffer.from('x')),
        check: (received) => {
          assert.equal(received.length, 1);
          assert.equal(received[0]!.customProperties.a, 'b');
        },
      },
      {
        name: "another module's inputs are ignored",
        send: (p) => {
          p.publish('devices/d/modules/other/inputs/in1/', 'x');
          p.publish('devices/x/modules/m/inputs/in1/', 'x');
          p.publish('devices/d/modules/m/inputsX/in1/', 'x');
        },
        check: (received) => assert.deepEqual(received, []),
      },
      {
        name: 'unknown $iothub topics are ignored',
        send: (p) => {
          p.publish('$iothub/unknown/thing/?$rid=1', '{}');
          p.publish('$iothub/twin/', '{}');
          p.publish('#', 'x', 0);
        },
        check: (received) => assert.deepEqual(received, []),
      },
    ];

    for (const c of cases) {
      it(c.name, async () => {
        const { client, seen, got: received, peer } = await inputClient();
        c.send(peer);
        peer.publish(`${INPUT_PREFIX}sentinel/`, 'end');
        await waitFor(() => received.some((m) => m.inputName === 'sentinel'), 'the sentinel message');
        c.check(received.filter((m) => m.inputName !== 'sentinel'));
        assert.equal(client.connectionState, 'connected');
        assert.deepEqual(seen.background, []);
      });
    }
  });

  // ------------------------------------------------------------------ twin responses

  describe('twin responses', () => {
    /** Answers every twin GET with `answer(peer, rid)`. */
    function answerGets(answer: (peer: Peer, rid: string) => void): void {
      server.behaviour.onPublish = (peer, packet) => {
        const rid = ridOf(packet.topic);
        if (packet.topic.startsWith('$iothub/twin/GET/') && rid !== undefined) answer(peer, rid);
      };
    }
    const twin = JSON.stringify(DEFAULT_TWIN);

    const cases: Array<{ name: string; answer: (peer: Peer, rid: string) => void; check: (result: unknown, error: unknown) => void }> = [
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
        name: 'status 0 is below 300: success, as the seed',
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
        answer: (p, rid) => p.publish(`$iothub/twin/res/400/?$rid=${rid}`, '{"ErrorCode":"constructor","Message":"ErrorCode:toString;x"}'),
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

  // ------------------------------------------------------------------ desired patches

  describe('desired property patches', () => {
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
        await waitFor(() => patches.length === 1, 'the full desired document');
        assert.deepEqual(patches[0], [DEFAULT_TWIN.desired, true]);
        const peer = await server.nextPeer(0);
        peer.publish(DESIRED, c.body);
        peer.publish(DESIRED, '{"sentinel":true,"$version":10}');
        await waitFor(() => patches.some(([p]) => p.sentinel === true), 'the sentinel patch');
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
          if (rid !== undefined && packet.topic.startsWith('$iothub/twin/GET/')) peer.publish(`$iothub/twin/res/200/?$rid=${rid}`, c.body);
        };
        const patches: unknown[] = [];
        client.onTwinDesiredPropertiesPatchReceived = (patch) => {
          patches.push(patch);
        };
        await waitFor(() => seen.background.length > 0, 'the background report');
        assert.ok(protocolErrors(seen).length === 1, seen.background.map(String).join('; '));
        const peer = await server.nextPeer(0);
        peer.publish('$iothub/twin/PATCH/properties/desired/', '{"b":2,"$version":4}');
        await waitFor(() => patches.length > 0, 'the next patch');
        assert.deepEqual(patches, [{ b: 2, $version: 4 }]);
      });
    }
  });

  // ------------------------------------------------------------------ method requests

  describe('method requests', () => {
    const POST = '$iothub/methods/POST/';

    async function methodClient(): Promise<{ client: IoTHubModuleClient; seen: Observed; requests: MethodRequest[]; peer: Peer }> {
      const { got: requests, ...rest } = await collecting<MethodRequest>(`${POST}#`, (client, got) => {
        client.onMethodRequestReceived = (r) => {
          got.push(r);
        };
      });
      return { ...rest, requests };
    }

    async function sentinel(peer: Peer, requests: MethodRequest[]): Promise<MethodRequest[]> {
      peer.publish(`${POST}sentinel/?$rid=S`, '1');
      await waitFor(() => requests.some((r) => r.name === 'sentinel'), 'the sentinel request');
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

    it('an empty method name is delivered (as the seed) and can be answered once', async () => {
      const { client, requests, peer, seen } = await methodClient();
      peer.publish(`${POST}/?$rid=7`, '');
      const [request] = await sentinel(peer, requests);
      assert.equal(request!.name, '');
      assert.equal(request!.payload, null);
      await client.sendMethodResponse(MethodResponse.createFromMethodRequest(request!, 200, { ok: true }));
      const response = await peer.nextPublish((p) => p.topic.startsWith('$iothub/methods/res/'));
      assert.equal(response.topic, '$iothub/methods/res/200/?$rid=7');
      await assert.rejects(client.sendMethodResponse(new MethodResponse('7', 200)), (e: unknown) => e instanceof ClientError && e.code === 'already-responded');
      assert.deepEqual(seen.background, []);
    });

    it('the same $rid twice is delivered twice; each delivery may be answered once', async () => {
      const { client, requests, peer, seen } = await methodClient();
      peer.publish(`${POST}m/?$rid=dup`, '1');
      await waitFor(() => requests.length === 1, 'first delivery');
      await client.sendMethodResponse(new MethodResponse('dup', 200));
      peer.publish(`${POST}m/?$rid=dup`, '2');
      await waitFor(() => requests.length === 2, 'second delivery');
      assert.deepEqual(requests.map((r) => [r.requestId, r.payload]), [['dup', 1], ['dup', 2]]);
      await client.sendMethodResponse(new MethodResponse('dup', 201));
      await assert.rejects(client.sendMethodResponse(new MethodResponse('dup', 202)), (e: unknown) => e instanceof ClientError && e.code === 'already-responded');
      await assert.rejects(client.sendMethodResponse(new MethodResponse('never-sent', 200)), (e: unknown) => e instanceof ClientError && e.code === 'unknown-request-id');
      assert.deepEqual(seen.background, []);
    });
  });

  // ------------------------------------------------------------------ transport

  describe('transport', () => {
    const refusals: Array<{ code: number; check: (e: unknown) => boolean }> = [
      { code: 1, check: (e) => e instanceof ClientError && e.code === 'protocol-error' },
      { code: 3, check: (e) => e instanceof ConnectionFailedError },
      { code: 5, check: (e) => e instanceof CredentialError },
      { code: 6, check: (e) => e instanceof ClientError && !(e instanceof CredentialError) && e.code === 'protocol-error' },
      { code: 0x80, check: (e) => e instanceof ClientError && e.code === 'protocol-error' },
    ];
    for (const r of refusals) {
      it(`CONNACK return code ${r.code} fails connect() at once with the mapped error`, async () => {
        server.behaviour.connack = r.code;
        const { client } = makeClient({ operationTimeout: 5 });
        const started = Date.now();
        await assert.rejects(client.connect(), (e: unknown) => r.check(e));
        assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
        assert.equal(client.connectionState, 'disconnected');
      });
    }

    it('no CONNACK at all: connect() fails with OperationTimeout', async () => {
      server.behaviour.connack = 'none';
      const { client } = makeClient({ operationTimeout: 0.5 });
      await assert.rejects(client.connect(), OperationTimeout);
      assert.equal(client.connectionState, 'disconnected');
    });

    // The CONNECT went out on an open connection: the Python SDK reports a connection lost while a connect is pending
    // as ConnectionDroppedError (a refused or unreachable host stays ConnectionFailedError).
    it('the server closing the connection instead of a CONNACK: connect() fails with ConnectionDroppedError', async () => {
      server.behaviour.connack = 'close';
      const { client, seen } = makeClient({ operationTimeout: 5 });
      const started = Date.now();
      await assert.rejects(client.connect(), (e: unknown) => e instanceof ConnectionDroppedError && e.code === 'connection-dropped');
      assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
      assert.equal(client.connectionState, 'disconnected');
      assert.deepEqual(seen.background, []);
    });

    // An OpenSSL cipher list only governs TLS 1.2: against a server that also offers TLS 1.3 it did nothing.
    for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', ['ecdhe_ecdsa_aes256_gcm_sha384']]) {
      it(`cipher ${JSON.stringify(cipher)} is what is negotiated with a server offering TLS 1.2 and 1.3`, async () => {
        const { client } = makeClient({ cipher });
        await client.connect();
        const peer = await server.nextPeer(0);
        const expected = (Array.isArray(cipher) ? cipher[0]! : cipher).toUpperCase().replace(/_/g, '-');
        assert.equal(peer.socket.getProtocol(), 'TLSv1.2');
        assert.equal(peer.socket.getCipher().name, expected);
      });
    }

    it('without cipher the client still takes TLS 1.3 when the server offers it', async () => {
      const { client } = makeClient();
      await client.connect();
      const peer = await server.nextPeer(0);
      assert.equal(peer.socket.getProtocol(), 'TLSv1.3');
    });

    it('a server that stops answering PINGREQ (half-open connection) is detected by the keep-alive; the client reconnects', async () => {
      const { client, seen } = makeClient({ keepAlive: 1 });
      await client.connect();
      const first = await server.nextPeer(0);
      server.behaviour.pingresp = false;
      await server.nextPeer(1, 8000);
      server.behaviour.pingresp = true;
      await waitFor(() => client.connectionState === 'connected' && first.closed, 'reconnected');
      assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError), seen.background.map(String).join('; '));
    });

    it('a PUBACK for a message id never sent is ignored', async () => {
      const { client, seen } = makeClient();
      await client.connect();
      const peer = await server.nextPeer(0);
      peer.send({ cmd: 'puback', messageId: 4242 });
      server.behaviour.puback = false;
      const sent = client.sendMessage('held');
      const publish = await peer.nextPublish((p) => p.topic.startsWith('devices/d/modules/m/messages/events/'));
      peer.send({ cmd: 'puback', messageId: (publish.messageId! % 65535) + 1 });
      peer.send({ cmd: 'puback', messageId: publish.messageId! });
      await sent;
      server.behaviour.puback = true;
      await client.sendMessage('after');
      assert.equal(client.connectionState, 'connected');
      assert.deepEqual(seen.background, []);
    });

    it('a stray PUBACK does not release a re-authorization early: it still waits for the outstanding PUBACK', async () => {
      const token = (): string => {
        const sr = encodeURIComponent('localhost/devices/d/modules/m');
        const se = Math.floor(Date.now() / 1000) + 3600;
        const sig = createHmac('sha256', Buffer.from(KEY, 'base64')).update(`${sr}\n${se}`).digest('base64');
        return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
      };
      const client = track(
        IoTHubModuleClient.createFromSastoken(token(), {
          serverVerificationCert: server.caCert,
          gatewayHostname: `localhost:${server.port}`,
          operationTimeout: 3,
        }),
      );
      await client.connect();
      const peer = await server.nextPeer(0);
      const events: string[] = [];
      peer.on('packet', (packet) => events.push(packet.cmd));
      server.behaviour.puback = false;
      const sent = client.sendMessage('held');
      const publish = await peer.nextPublish((p) => p.topic.startsWith('devices/d/modules/m/messages/events/'));
      peer.send({ cmd: 'puback', messageId: (publish.messageId! % 65535) + 1 });
      // The real PUBACK goes out a little later; the client must not DISCONNECT before it.
      const timer = setTimeout(() => {
        events.push('server-puback');
        peer.send({ cmd: 'puback', messageId: publish.messageId! });
      }, 150);
      try {
        await client.updateSastoken(token());
      } finally {
        clearTimeout(timer);
      }
      await sent;
      assert.ok(events.includes('disconnect'), events.join(','));
      assert.ok(events.indexOf('server-puback') >= 0 && events.indexOf('server-puback') < events.indexOf('disconnect'), events.join(','));
      assert.equal(client.connectionState, 'connected');
    });

    it('a SUBACK with failure codes disables those features, reports them, and keeps the rest working', async () => {
      server.behaviour.suback = (topics) => topics.map((t) => (t.startsWith(INPUT_PREFIX) ? 0x80 : 1));
      const { client, seen } = makeClient();
      const requests: MethodRequest[] = [];
      client.onMessageReceived = () => undefined;
      await waitFor(() => seen.background.length > 0, 'the refused subscription report');
      assert.ok(seen.background[0] instanceof ClientError && seen.background[0].code === 'service-error', String(seen.background[0]));
      assert.equal(client.connectionState, 'connected');
      client.onMethodRequestReceived = (r) => {
        requests.push(r);
      };
      const peer = await server.nextPeer(0);
      await subscribed(peer, '$iothub/methods/POST/#');
      peer.publish('$iothub/methods/POST/ping/?$rid=1', '{}');
      await waitFor(() => requests.length === 1, 'method request');
      // On a reconnect the refused feature is not subscribed again; the granted one is.
      peer.destroy();
      const second = await server.nextPeer(1);
      await waitFor(() => second.subscribes.length > 0, 'resubscribe');
      assert.deepEqual(second.subscribes.flatMap((s) => s.subscriptions.map((x) => x.topic)), ['$iothub/methods/POST/#']);
    });

    it('a refused subscription restored at connect does not fail connect()', async () => {
      server.behaviour.suback = (topics) => topics.map((t) => (t === '$iothub/methods/POST/#' ? 0x80 : 1));
      const { client, seen } = makeClient({ autoConnect: false });
      client.onMessageReceived = () => undefined;
      client.onMethodRequestReceived = () => undefined;
      await client.connect();
      assert.equal(client.connectionState, 'connected');
      assert.ok(seen.background.some((e) => e instanceof ClientError && e.code === 'service-error'), seen.background.map(String).join('; '));
    });

    const garbage: Array<{ name: string; bytes: Buffer }> = [
      { name: 'a packet with a malformed remaining length', bytes: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]) },
      { name: 'random bytes', bytes: Buffer.from('c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6', 'hex') },
      { name: 'a PUBLISH with both QoS bits set', bytes: Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]) },
      { name: 'a SUBACK with an invalid return code', bytes: Buffer.from([0x90, 0x03, 0x00, 0x01, 0x07]) },
    ];
    for (const g of garbage) {
      it(`${g.name} after CONNACK drops the connection (reported) and the client reconnects`, async () => {
        const { client, seen, got: received, peer: first } = await inputClient();
        first.raw(g.bytes);
        const second = await server.nextPeer(1);
        await subscribed(second, `${INPUT_PREFIX}#`);
        await waitFor(() => client.connectionState === 'connected', 'reconnected');
        assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError), seen.background.map(String).join('; '));
        assert.ok(seen.states.includes('disconnected') && seen.states.at(-1) === 'connected', seen.states.join(','));
        second.publish(`${INPUT_PREFIX}in/`, 'after');
        await waitFor(() => received.length === 1, 'a message on the new connection');
        assert.deepEqual(received[0]!.data, Buffer.from('after'));
      });
    }

    it('the server closing mid-packet: nothing partial is delivered, the client reconnects', async () => {
      const { client, seen, got: received, peer: first } = await inputClient();
      const whole = Buffer.from([0x30, 0x20, 0x00, 0x1e, ...Buffer.from(`${INPUT_PREFIX}in/`)]);
      first.raw(whole.subarray(0, 12));
      await new Promise<void>((resolve) => first.socket.end(resolve));
      first.destroy();
      await server.nextPeer(1);
      await waitFor(() => client.connectionState === 'connected', 'reconnected');
      assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError));
      assert.deepEqual(received, []);
      assert.deepEqual(seen.states.filter((s) => s === 'connected').length, 2);
    });

    it('a publish in flight when the server drops is re-sent after the reconnect and resolves', async () => {
      const { client } = makeClient();
      await client.connect();
      const first = await server.nextPeer(0);
      server.behaviour.puback = false;
      const sent = client.sendMessage(new Message('once', { messageId: 'mid-1' }));
      await first.nextPublish((p) => p.topic.includes('mid-1'));
      server.behaviour.puback = true;
      first.destroy();
      const second = await server.nextPeer(1);
      await sent;
      assert.ok(second.published.some((p) => p.topic.includes('mid-1')));
    });

    it('a SUBSCRIBE never answered: setting a handler reports OperationTimeout, connect() with a feature fails with it', async () => {
      server.behaviour.suback = () => 'none';
      const { client, seen } = makeClient({ autoConnect: false, operationTimeout: 0.5 });
      await client.connect();
      client.onMessageReceived = () => undefined;
      await waitFor(() => seen.background.length > 0, 'the background report', 5000);
      assert.ok(seen.background[0] instanceof OperationTimeout, String(seen.background[0]));
      await client.disconnect();
      await assert.rejects(client.connect(), OperationTimeout);
      assert.equal(client.connectionState, 'disconnected');
    });

    it('a SUBACK with fewer codes than topics fails connect() instead of guessing which topic was granted', async () => {
      server.behaviour.suback = () => [1];
      const { client } = makeClient({ autoConnect: false, connectionRetry: false });
      client.onMessageReceived = () => undefined;
      client.onMethodRequestReceived = () => undefined;
      const peer = server.nextPeer(0);
      await assert.rejects(client.connect(), (e: unknown) => e instanceof ClientError);
      assert.equal(client.connectionState, 'disconnected');
      await waitFor(() => server.peers.every((p) => p.closed), 'the connection closed');
      await peer;
    });

    it('client-only packets from the server (PINGREQ, SUBSCRIBE, UNSUBSCRIBE, CONNECT) are ignored; the connection stays', async () => {
      const { client, seen } = makeClient();
      await client.connect();
      const peer = await server.nextPeer(0);
      peer.send({ cmd: 'pingreq' });
      peer.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a', qos: 1 }] });
      peer.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['a'] });
      peer.send({ cmd: 'connect', clientId: 'server', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0 });
      await client.sendMessage('still alive');
      assert.equal(peer.closed, false);
      assert.deepEqual(seen.background, []);
      assert.deepEqual(seen.states, ['connecting', 'connected']);
    });

    const violations: Array<{ name: string; provoke: (peer: Peer, client: IoTHubModuleClient) => void }> = [
      { name: 'a second CONNACK', provoke: (p) => p.send({ cmd: 'connack', returnCode: 0, sessionPresent: false }) },
      {
        name: 'a PUBACK answering a pending SUBSCRIBE',
        provoke: (p, client) => {
          server.behaviour.suback = () => 'none';
          p.on('packet', (packet) => {
            if (packet.cmd === 'subscribe') p.send({ cmd: 'puback', messageId: packet.messageId! });
          });
          client.onMethodRequestReceived = () => undefined;
        },
      },
    ];
    for (const v of violations) {
      it(`${v.name} drops the connection (reported) and the client reconnects`, async () => {
        const { client, seen } = makeClient();
        await client.connect();
        const first = await server.nextPeer(0);
        v.provoke(first, client);
        await server.nextPeer(1);
        server.behaviour.suback = (topics) => topics.map(() => 1);
        await waitFor(() => client.connectionState === 'connected' && first.closed, 'reconnected');
        assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError), seen.background.map(String).join('; '));
        assert.deepEqual(seen.states.slice(0, 3), ['connecting', 'connected', 'disconnected']);
        await client.sendMessage('on the new connection');
      });
    }

    it('a publish the server never acknowledges fails with OperationTimeout; the client stays usable', async () => {
      server.behaviour.puback = false;
      const { client, seen } = makeClient({ operationTimeout: 0.5 });
      await client.connect();
      await assert.rejects(client.sendMessage('lost'), OperationTimeout);
      server.behaviour.puback = true;
      await client.sendMessage('next');
      assert.deepEqual(seen.background, []);
    });

    it('with connectionRetry off, operations in flight when the server drops fail with OperationCancelled', async () => {
      server.behaviour.onPublish = () => undefined;
      server.behaviour.puback = false;
      const { client, seen } = makeClient({ connectionRetry: false, operationTimeout: 5 });
      await client.connect();
      const peer = await server.nextPeer(0);
      const twin = client.getTwin();
      const sent = client.sendMessage('in flight');
      await peer.nextPublish((p) => p.topic.startsWith('$iothub/twin/GET/'));
      await peer.nextPublish((p) => p.topic.startsWith('devices/d/modules/m/messages/events/'));
      peer.destroy();
      await assert.rejects(twin, OperationCancelled);
      await assert.rejects(sent, OperationCancelled);
      assert.ok(seen.background.some((e) => e instanceof ConnectionDroppedError));
      assert.equal(client.connectionState, 'disconnected');
    });

    it('a twin request in flight when the server drops is re-sent once on the new connection', async () => {
      server.behaviour.onPublish = () => undefined;
      const { client } = makeClient({ operationTimeout: 3 });
      const twin = client.getTwin();
      const first = await server.nextPeer(0);
      const get = await first.nextPublish((p) => p.topic.startsWith('$iothub/twin/GET/'));
      first.destroy();
      const second = await server.nextPeer(1);
      const again = await second.nextPublish((p) => p.topic.startsWith('$iothub/twin/GET/'));
      assert.equal(again.topic, get.topic);
      second.publish(`$iothub/twin/res/200/?$rid=${ridOf(again.topic)}`, JSON.stringify(DEFAULT_TWIN));
      assert.deepEqual(await twin, DEFAULT_TWIN);
    });
  });
});


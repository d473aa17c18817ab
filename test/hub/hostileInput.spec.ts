// Hostile peers against the local hub, layer by layer (raw TCP, inside TLS, MQTT after CONNECT, service REST): after
// every case the process saw no uncaught error and a legitimate module can still connect, publish upstream and get
// its twin; where IoT Hub answers with a specific refusal (an error code or a closed connection) the hub must answer
// the same.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { MqttClient } from 'mqtt';
import type { LocalHub } from '../../src/hub/LocalHub';
import { createServiceSas } from '../../src/hub/sas';
import type { ModuleIdentity } from '../../src/hub/types';
import { rawRequest, type HttpAnswer } from '../helpers/hubHttp';
import {
  SERVICE_API,
  connectModule,
  end,
  endAll,
  nextMessage,
  onClose,
  startHub,
  subscribe,
  tokenFor,
  type LegacyBody,
} from './support';
import { connectPacket, mqttString, publishPacket, varint } from '../helpers/mqttWire';
import { until } from '../helpers/until';

const CONNACK_ACCEPTED = Buffer.from([0x20, 0x02, 0x00, 0x00]);

// ---- raw connections ---------------------------------------------------------------------------------------------

/** A raw connection to the hub's port: what came back, and whether (and when) the hub closed it. */
interface Raw {
  socket: net.Socket;
  received(): Buffer;
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

const raws = new Set<net.Socket>();

function track(socket: net.Socket): Raw {
  raws.add(socket);
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      raws.delete(socket);
      resolve();
    }),
  );
  return { socket, received: () => Buffer.concat(chunks), closed, isClosed: () => isClosed };
}

/** Plain TCP to the hub's TLS port. */
async function openTcp(port: number): Promise<Raw> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const raw = track(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return raw;
}

/** TLS to the hub's port (verified against its CA), handshake done. */
async function openTls(hub: LocalHub): Promise<Raw> {
  const socket = tls.connect({ host: '127.0.0.1', port: hub.port, ca: hub.caCert, servername: 'localhost' });
  const raw = track(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return raw;
}

/** Resolves when the hub closed the connection; rejects after `ms`. */
async function hubCloses(raw: Raw, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the hub did not close the connection within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([raw.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `received()` holds `what` (the hub's answer); rejects after `ms`. */
async function hubAnswers(raw: Raw, what: (data: Buffer) => boolean, label: string, ms = 5000): Promise<void> {
  await until(() => what(raw.received()), label, ms);
}

function destroyRaws(): void {
  for (const s of raws) s.destroy();
}

/** The first bytes of a real TLS ClientHello (captured from node:tls against a throw-away listener). */
async function clientHelloPrefix(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const got = new Promise<Buffer>((resolve) =>
      server.once('connection', (s) =>
        s.once('data', (d: Buffer) => {
          s.destroy();
          resolve(d);
        }),
      ),
    );
    const client = tls.connect({
      host: '127.0.0.1',
      port: (server.address() as net.AddressInfo).port,
      servername: 'localhost',
    });
    client.on('error', () => undefined);
    const hello = await got;
    client.destroy();
    return hello.subarray(0, Math.floor(hello.length / 2));
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---- mqtt.js helpers ---------------------------------------------------------------------------------------------

function publish(client: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
  return new Promise((resolve, reject) =>
    client.publish(topic, payload, { qos }, (err) => (err ? reject(err) : resolve())),
  );
}

/** Publishes a twin request and resolves with the hub's answer on `$iothub/twin/res/…` for this `$rid`. */
async function twinRequest(
  client: MqttClient,
  topic: string,
  rid: string,
  body: string | Buffer,
): Promise<{ status: number; body: string }> {
  const answer = nextMessage(client, (t) => t.startsWith('$iothub/twin/res/') && t.includes(`$rid=${rid}`));
  await publish(client, topic, body, 0);
  const { topic: resTopic, payload } = await answer;
  return { status: Number(resTopic.split('/')[3]), body: payload.toString('utf8') };
}

describe('local hub under hostile input', function () {
  this.timeout(20_000);
  let hub: LocalHub;
  let legit: ModuleIdentity;
  let victim: ModuleIdentity;
  let serviceToken: string;
  const crashes: unknown[] = [];
  const onCrash = (err: unknown): void => {
    crashes.push(err);
  };
  let round = 0;

  const eventsTopic = (m: ModuleIdentity, bag = ''): string =>
    `devices/${m.deviceId}/modules/${m.moduleId}/messages/events/${bag}`;

  /**
   * (1) nothing escaped, (2) a legitimate module connects, publishes an output that goes upstream and gets its twin.
   */
  async function assertHubHealthy(): Promise<void> {
    assert.deepEqual(crashes, [], 'an uncaughtException / unhandledRejection fired');
    const n = String(++round);
    const client = await connectModule(hub, legit);
    try {
      await subscribe(client, '$iothub/twin/res/#');
      await publish(client, eventsTopic(legit, `%24.on=health&round=${n}`), `alive ${n}`);
      await until(
        () =>
          hub.observed.upstream.some(
            (m) => m.moduleId === legit.moduleId && m.outputName === 'health' && m.properties.round === n,
          ),
        'the health message upstream',
        5000,
      );
      const twin = await twinRequest(client, '$iothub/twin/GET/?$rid=health' + n, 'health' + n, ' ');
      assert.equal(twin.status, 200);
      const doc = JSON.parse(twin.body) as { desired: { $version: number }; reported: { $version: number } };
      assert.equal(typeof doc.desired.$version, 'number');
      assert.equal(typeof doc.reported.$version, 'number');
    } finally {
      await end(client);
    }
    assert.deepEqual(crashes, [], 'an uncaughtException / unhandledRejection fired');
  }

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    hub = await startHub();
    legit = hub.addModule('hostile-dev', 'legit');
    victim = hub.addModule('hostile-dev', 'victim');
    const key = /SharedAccessKey=([^;]+)/.exec(hub.serviceConnectionString)![1]!;
    serviceToken = createServiceSas(hub.hostName, 'iothubowner', key, 3600);
  });

  afterEach(async () => {
    destroyRaws();
    await endAll();
  });

  after(async () => {
    destroyRaws();
    await endAll();
    await hub?.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    assert.deepEqual(crashes, []);
  });

  /** A case: throws hostile input at the hub and asserts the answer IoT Hub gives (if it documents one). */
  type Case = [name: string, run: () => Promise<void>];
  function cases(list: Case[]): void {
    for (const [name, run] of list) {
      it(name, async () => {
        await run();
        await assertHubHealthy();
      });
    }
  }

  describe('raw TCP on the TLS port', () => {
    cases([
      [
        'random bytes: the hub drops the connection',
        async () => {
          const raw = await openTcp(hub.port);
          raw.socket.write(randomBytes(4096));
          await hubCloses(raw);
        },
      ],
      [
        'an immediate close',
        async () => {
          const raw = await openTcp(hub.port);
          raw.socket.destroy();
          await raw.closed;
          // The hub keeps tracking nothing for it: a second one in a burst changes nothing either.
          const burst = await Promise.all(Array.from({ length: 20 }, () => openTcp(hub.port)));
          for (const r of burst) r.socket.destroy();
          await Promise.all(burst.map((r) => r.closed));
        },
      ],
      [
        'half a TLS ClientHello, left hanging while others connect',
        async () => {
          const raw = await openTcp(hub.port);
          raw.socket.write(await clientHelloPrefix());
          // The hub waits for the rest (TLS handshake timeout), without holding anyone else up.
          await assertHubHealthy();
          assert.equal(raw.isClosed(), false);
        },
      ],
      [
        'plain-text HTTP instead of TLS: the hub drops the connection',
        async () => {
          const raw = await openTcp(hub.port);
          raw.socket.write('GET /twins/hostile-dev HTTP/1.1\r\nHost: localhost\r\n\r\n');
          await hubCloses(raw);
          assert.equal(raw.received().includes('HTTP/1.1 200'), false);
        },
      ],
      [
        'a plain-text MQTT CONNECT instead of TLS: no CONNACK, the hub drops the connection',
        async () => {
          const raw = await openTcp(hub.port);
          raw.socket.write(
            connectPacket(
              `${victim.deviceId}/${victim.moduleId}`,
              `${hub.hostName}/${victim.deviceId}/${victim.moduleId}/?api-version=2019-10-01`,
              tokenFor(hub, victim.deviceId, victim.moduleId, victim.primaryKey),
            ),
          );
          await hubCloses(raw);
          assert.equal(raw.received().includes(CONNACK_ACCEPTED), false);
        },
      ],
    ]);
  });

  describe('inside TLS (the first byte picks MQTT, WebSocket or HTTPS)', () => {
    const victimConnect = (): Buffer =>
      connectPacket(
        `${victim.deviceId}/${victim.moduleId}`,
        `${hub.hostName}/${victim.deviceId}/${victim.moduleId}/?api-version=2019-10-01`,
        tokenFor(hub, victim.deviceId, victim.moduleId, victim.primaryKey),
      );

    cases([
      [
        'random bytes (not MQTT): answered as bad HTTP and closed',
        async () => {
          const raw = await openTls(hub);
          const junk = randomBytes(2048);
          junk[0] = 0x01;
          raw.socket.write(junk);
          await hubCloses(raw);
          assert.match(raw.received().toString('latin1'), /^HTTP\/1\.1 4\d\d /);
        },
      ],
      [
        'random bytes after a CONNECT type byte: closed without CONNACK',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(Buffer.concat([Buffer.from([0x10, 0x40]), randomBytes(0x40)]));
          await hubCloses(raw);
          assert.equal(raw.received().includes(CONNACK_ACCEPTED), false);
        },
      ],
      [
        'a truncated MQTT CONNECT: no CONNACK while others carry on',
        async () => {
          const raw = await openTls(hub);
          const connect = victimConnect();
          raw.socket.write(connect.subarray(0, connect.length - 20));
          await assertHubHealthy();
          assert.equal(raw.received().length, 0);
          assert.equal(hub.isConnected(`${victim.deviceId}/${victim.moduleId}`), false);
        },
      ],
      [
        'a CONNECT declaring an absurd remaining length (256 MiB): closed at once',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(Buffer.concat([Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]), randomBytes(1024)]));
          await hubCloses(raw, 3000);
          assert.equal(raw.received().length, 0);
        },
      ],
      [
        'an HTTP request line with garbage headers: 400 and closed',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(
            'GET /twins/hostile-dev HTTP/1.1\r\nHost: localhost\r\n\x00\x01\x02: \xff\xfe\r\nNo colon here\r\n\r\n',
          );
          await hubCloses(raw);
          assert.match(raw.received().toString('latin1'), /^HTTP\/1\.1 400 /);
        },
      ],
      [
        'an oversized header (64 KiB): 431 and closed',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(
            `GET /twins/hostile-dev${SERVICE_API} HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
          );
          await hubCloses(raw);
          assert.match(raw.received().toString('latin1'), /^HTTP\/1\.1 431 /);
        },
      ],
      [
        'a WebSocket upgrade on a wrong path: 404',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(upgradeRequest('/mqtt'));
          await hubCloses(raw);
          assert.match(raw.received().toString('latin1'), /^HTTP\/1\.1 404 /);
        },
      ],
      [
        'a WebSocket upgrade on /$iothub/websocket, then garbage frames: closed',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(upgradeRequest('/$iothub/websocket'));
          await hubAnswers(raw, (d) => d.includes('\r\n\r\n'), 'the 101 answer');
          assert.match(raw.received().toString('latin1'), /^HTTP\/1\.1 101 /);
          // Unmasked frame with a reserved opcode, then noise: a WebSocket protocol error.
          raw.socket.write(Buffer.concat([Buffer.from([0x83, 0x05]), randomBytes(4096)]));
          await hubCloses(raw);
        },
      ],
      [
        'a WebSocket upgrade, then well-formed frames carrying garbage MQTT: closed',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(upgradeRequest('/$iothub/websocket'));
          await hubAnswers(raw, (d) => d.includes('\r\n\r\n'), 'the 101 answer');
          // A masked binary frame holding a CONNECT type byte followed by nonsense (invalid protocol name).
          raw.socket.write(maskedFrame(Buffer.concat([Buffer.from([0x10, 0x20]), Buffer.alloc(0x20, 0xff)])));
          await hubCloses(raw);
          assert.equal(raw.received().includes(CONNACK_ACCEPTED), false);
        },
      ],
      [
        'a WebSocket upgrade, then a PUBLISH declaring 100 MiB after a valid CONNECT: closed',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(upgradeRequest('/$iothub/websocket'));
          await hubAnswers(raw, (d) => d.includes('\r\n\r\n'), 'the 101 answer');
          raw.socket.write(maskedFrame(victimConnect()));
          // The hub's stream may split a packet over several frames: look at the joined payloads.
          await hubAnswers(raw, (d) => wsPayloads(d).includes(CONNACK_ACCEPTED), 'CONNACK 0');
          raw.socket.write(
            maskedFrame(
              Buffer.concat([
                Buffer.from([0x30]),
                varint(100 * 1024 * 1024),
                mqttString(eventsTopic(victim)),
                randomBytes(8192),
              ]),
            ),
          );
          await hubCloses(raw, 3000);
        },
      ],
      [
        'a PUBLISH declaring 256 MiB after a valid CONNECT: closed at the header, nothing delivered',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(victimConnect());
          await hubAnswers(raw, (d) => d.includes(CONNACK_ACCEPTED), 'CONNACK 0');
          const before = hub.observed.counters.upstream;
          raw.socket.write(
            Buffer.concat([
              Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]),
              mqttString(eventsTopic(victim)),
              randomBytes(64 * 1024),
            ]),
          );
          await hubCloses(raw, 3000);
          assert.equal(hub.observed.counters.upstream, before);
        },
      ],
      [
        'a PUBLISH whose topic is not UTF-8: never delivered with the raw bytes',
        async () => {
          const raw = await openTls(hub);
          raw.socket.write(victimConnect());
          await hubAnswers(raw, (d) => d.includes(CONNACK_ACCEPTED), 'CONNACK 0');
          const topic = Buffer.concat([Buffer.from(eventsTopic(victim, 'k=')), Buffer.from([0xff, 0xfe, 0xc3, 0x28])]);
          raw.socket.write(publishPacket(topic, Buffer.from('x'), 1));
          // MQTT 3.1.1 would close the connection (MQTT-1.5.3-1; IoT Hub's documentation is silent). The hub's parser
          // decodes the topic as UTF-8 first, so it accepts it with the bad bytes replaced by U+FFFD: never a crash,
          // never raw bytes.
          await until(
            () => raw.isClosed() || raw.received().includes(Buffer.from([0x40, 0x02, 0x00, 0x01])),
            'a PUBACK or a close',
          );
          const delivered = hub.observed.upstream.filter(
            (u) => u.moduleId === victim.moduleId && u.properties.k !== undefined,
          );
          for (const m of delivered) assert.match(m.properties.k!, /\uFFFD/);
          assert.ok(raw.isClosed() || delivered.length === 1, 'accepted (PUBACK) but not routed');
        },
      ],
    ]);
  });

  describe('MQTT after a valid CONNECT', () => {
    let client: MqttClient;
    const victimId = (): string => `${victim.deviceId}/${victim.moduleId}`;

    beforeEach(async () => {
      client = await connectModule(hub, victim);
      await subscribe(client, '$iothub/twin/res/#');
    });

    /** Publishes an output with this bag and resolves with the upstream message it became. */
    async function upstreamOf(bag: string): Promise<Record<string, string>> {
      const marker = randomBytes(8).toString('hex');
      await publish(client, eventsTopic(victim, bag), marker);
      await until(() => hub.observed.upstream.some((m) => m.body.toString() === marker), 'the message upstream');
      return hub.observed.upstream.find((m) => m.body.toString() === marker)!.properties;
    }

    cases([
      [
        'property bag with a malformed escape %zz: kept literally',
        async () => {
          assert.deepEqual(await upstreamOf('%zz=1&a=%zz'), { '%zz': '1', a: '%zz' });
        },
      ],
      [
        'property bag with a truncated UTF-8 escape %E0%A4%A: kept literally',
        async () => {
          assert.deepEqual(await upstreamOf('k=%E0%A4%A&ok=%C3%A9'), { k: '%E0%A4%A', ok: 'é' });
        },
      ],
      [
        'property bag &&==&: no properties, message still delivered',
        async () => {
          assert.deepEqual(await upstreamOf('&&==&'), {});
        },
      ],
      [
        'property bag with a 60 000-character key',
        async () => {
          const key = 'k'.repeat(60_000);
          const props = await upstreamOf(`${key}=v`);
          assert.equal(props[key], 'v');
        },
      ],
      [
        'property bag with 5 000 pairs',
        async () => {
          const bag = Array.from({ length: 5000 }, (_, i) => `p${i}=${i}`).join('&');
          const props = await upstreamOf(bag);
          assert.equal(Object.keys(props).length, 5000);
          assert.equal(props.p4999, '4999');
        },
      ],
      [
        'property bag with __proto__ / constructor keys: plain properties, nothing polluted',
        async () => {
          const props = await upstreamOf('__proto__=x&constructor=y&toString=z');
          assert.equal(Object.getPrototypeOf(props), Object.prototype);
          assert.equal(Object.prototype.hasOwnProperty.call(props, '__proto__'), true);
          assert.equal(props.constructor, 'y');
          assert.deepEqual(Object.keys(props).sort(), ['__proto__', 'constructor', 'toString']);
          assert.equal(({} as Record<string, unknown>).x, undefined);
        },
      ],
      [
        'twin PATCH with a non-JSON body: 400, twin unchanged',
        async () => {
          const before = hub.getTwin(victim.deviceId, victim.moduleId).properties.reported.$version;
          const answer = await twinRequest(
            client,
            '$iothub/twin/PATCH/properties/reported/?$rid=bad1',
            'bad1',
            Buffer.from([0x7b, 0xff, 0x00, 0x22]),
          );
          assert.equal(answer.status, 400);
          assert.equal(hub.getTwin(victim.deviceId, victim.moduleId).properties.reported.$version, before);
        },
      ],
      [
        'twin PATCH with a JSON array / string / null body: 400',
        async () => {
          for (const [i, body] of ['[1,2]', '"x"', 'null', ''].entries()) {
            const answer = await twinRequest(
              client,
              `$iothub/twin/PATCH/properties/reported/?$rid=nobj${i}`,
              `nobj${i}`,
              body,
            );
            assert.equal(answer.status, 400, `body ${JSON.stringify(body)}`);
          }
        },
      ],
      [
        'twin PATCH over 32 KB: 400, twin unchanged',
        async () => {
          const before = hub.getTwin(victim.deviceId, victim.moduleId).properties.reported.$version;
          const answer = await twinRequest(
            client,
            '$iothub/twin/PATCH/properties/reported/?$rid=huge',
            'huge',
            JSON.stringify({ big: 'x'.repeat(200 * 1024) }),
          );
          assert.equal(answer.status, 400);
          assert.equal(hub.getTwin(victim.deviceId, victim.moduleId).properties.reported.$version, before);
        },
      ],
      [
        'twin PATCH nested 40 000 objects deep: 400 (not a 500 from a stack overflow)',
        async () => {
          const deep = '{"a":'.repeat(40_000) + '1' + '}'.repeat(40_000);
          const answer = await twinRequest(client, '$iothub/twin/PATCH/properties/reported/?$rid=deepo', 'deepo', deep);
          assert.equal(answer.status, 400);
        },
      ],
      [
        'twin PATCH with arrays nested 100 000 deep: 400 (not a 500 from a stack overflow)',
        async () => {
          const deep = '{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
          const answer = await twinRequest(client, '$iothub/twin/PATCH/properties/reported/?$rid=deepa', 'deepa', deep);
          assert.equal(answer.status, 400);
        },
      ],
      [
        'twin GET without $rid: the connection is closed (not an allowed topic)',
        async () => {
          const closing = onClose(client);
          client.publish('$iothub/twin/GET/', ' ', { qos: 0 });
          await closing;
        },
      ],
      [
        'method response for an unknown request id: ignored, the connection stays',
        async () => {
          await publish(client, '$iothub/methods/res/200/?$rid=ffffffff', '{"x":1}');
          await publish(client, '$iothub/methods/res/200/?$rid=%zz', 'not json');
          const answer = await twinRequest(client, '$iothub/twin/GET/?$rid=after', 'after', ' ');
          assert.equal(answer.status, 200);
          assert.equal(hub.isConnected(victimId()), true);
        },
      ],
      [
        'method response with a non-integer status: the connection is closed',
        async () => {
          const closing = onClose(client);
          client.publish('$iothub/methods/res/abc/?$rid=1', '{}', { qos: 0 });
          await closing;
        },
      ],
      [
        'SUBSCRIBE to forbidden filters: SUBACK 0x80 for each, the connection stays',
        async () => {
          const forbidden = [
            '#',
            '$iothub/#',
            'devices/+/modules/+/inputs/#',
            `devices/${legit.deviceId}/modules/${legit.moduleId}/inputs/#`,
            `devices/${victim.deviceId}/modules/${victim.moduleId}/messages/events/#`,
          ];
          const granted = await subscribe(client, forbidden);
          assert.deepEqual(
            granted,
            forbidden.map(() => 0x80),
          );
          const answer = await twinRequest(client, '$iothub/twin/GET/?$rid=subs', 'subs', ' ');
          assert.equal(answer.status, 200);
        },
      ],
      [
        'a publish over 256 KiB: the connection is closed and nothing is delivered',
        async () => {
          const before = hub.observed.counters.upstream;
          const closing = onClose(client);
          client.publish(eventsTopic(victim), Buffer.alloc(256 * 1024 + 1, 0x61), { qos: 1 }, () => undefined);
          await closing;
          assert.equal(hub.observed.counters.upstream, before);
        },
      ],
      [
        'a QoS 2 publish: the connection is closed',
        async () => {
          const before = hub.observed.counters.upstream;
          const closing = onClose(client);
          client.publish(eventsTopic(victim), 'q2', { qos: 2 }, () => undefined);
          await closing;
          assert.equal(hub.observed.counters.upstream, before);
        },
      ],
      [
        "a publish to another module's events: the connection is closed",
        async () => {
          const before = hub.observed.counters.upstream;
          const closing = onClose(client);
          client.publish(eventsTopic(legit, 'spoof=1'), 'spoof', { qos: 1 }, () => undefined);
          await closing;
          assert.equal(hub.observed.counters.upstream, before);
        },
      ],
    ]);
  });

  describe('service REST API on the same port', () => {
    function call(
      method: string,
      path: string,
      body?: string | Buffer,
      headers: Record<string, string> = {},
    ): Promise<HttpAnswer> {
      return rawRequest({
        method,
        path,
        port: hub.port,
        ca: hub.caCert,
        headers: { authorization: serviceToken, ...headers },
        ...(body !== undefined ? { body } : {}),
      });
    }
    const twinPath = (): string => `/twins/${victim.deviceId}/modules/${victim.moduleId}${SERVICE_API}`;
    const methodPath = (): string => `/twins/${victim.deviceId}/modules/${victim.moduleId}/methods${SERVICE_API}`;
    const errorName = (a: HttpAnswer): string => /^ErrorCode:([^;]+);/.exec((a.json as LegacyBody).Message)?.[1] ?? '';

    cases([
      [
        'a malformed JSON body: 400 ArgumentInvalid',
        async () => {
          const answer = await call('PATCH', twinPath(), '{"properties": {"desired": {"a": 1}');
          assert.equal(answer.status, 400);
          assert.equal(errorName(answer), 'ArgumentInvalid');
        },
      ],
      [
        'a body that is not UTF-8 / not JSON under a JSON content type: 400',
        async () => {
          const answer = await call('PATCH', twinPath(), Buffer.from([0xff, 0xfe, 0x00, 0x7b]));
          assert.equal(answer.status, 400);
          assert.equal(answer.headers['iothub-errorcode'], 'ArgumentInvalid');
        },
      ],
      [
        'an XML body with an XML content type: 400, twin unchanged',
        async () => {
          const before = hub.getTwin(victim.deviceId, victim.moduleId).etag;
          const answer = await call('PATCH', twinPath(), '<twin><tags a="1"/></twin>', {
            'content-type': 'application/xml',
          });
          assert.equal(answer.status, 400);
          assert.equal(hub.getTwin(victim.deviceId, victim.moduleId).etag, before);
        },
      ],
      [
        'a declared 1 GiB body: 413 without reading it',
        async () => {
          const answer = await new Promise<number>((resolve, reject) => {
            const req = https.request(
              {
                host: '127.0.0.1',
                port: hub.port,
                ca: hub.caCert,
                servername: 'localhost',
                agent: false,
                method: 'PATCH',
                path: twinPath(),
                headers: {
                  authorization: serviceToken,
                  'content-type': 'application/json',
                  'content-length': String(1024 ** 3),
                },
              },
              (res) => {
                res.resume();
                resolve(res.statusCode ?? 0);
                req.destroy();
              },
            );
            req.on('error', reject);
            req.write('{"tags":{"a":"');
          });
          assert.equal(answer, 413);
        },
      ],
      [
        'a 1 MiB chunked body: 413',
        async () => {
          const answer = await new Promise<HttpAnswer>((resolve, reject) => {
            // No content-length: node sends the body chunked, so the hub only learns its size while reading.
            const req = https.request(
              {
                host: '127.0.0.1',
                port: hub.port,
                ca: hub.caCert,
                servername: 'localhost',
                agent: false,
                method: 'PATCH',
                path: twinPath(),
                headers: { authorization: serviceToken, 'content-type': 'application/json' },
              },
              (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () => {
                  const text = Buffer.concat(chunks).toString('utf8');
                  resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) });
                });
              },
            );
            req.on('error', () => undefined);
            for (let i = 0; i < 16; i++) req.write('x'.repeat(64 * 1024));
            req.end();
            setTimeout(() => reject(new Error('no answer')), 5000).unref();
          });
          assert.equal(answer.status, 413);
          assert.equal(errorName(answer), 'MessageTooLarge');
        },
      ],
      [
        'unknown paths: 404, bad percent-encoding: 400',
        async () => {
          for (const path of [
            '/',
            '/nope',
            '/twins',
            '/twins/a/b/c/d/e/f',
            '/devices/x/modules/y/z',
            `/..%2f..%2fetc/passwd`,
            `/twins/${'a'.repeat(8000)}`,
          ]) {
            const answer = await call('GET', path);
            assert.equal(answer.status, 404, path.slice(0, 40));
          }
          const bad = await call('GET', '/twins/%zz/modules/%E0%A4%A');
          assert.equal(bad.status, 400);
        },
      ],
      [
        'a hostile Authorization header: 401',
        async () => {
          for (const authorization of [
            'SharedAccessSignature sr=%zz&sig=%&se=1&skn=%E0',
            'SharedAccessSignature ' + '&'.repeat(10_000),
            'SharedAccessSignature sr=x&sig=y&se=99999999999999999999999&skn=iothubowner',
          ]) {
            const answer = await call('GET', twinPath(), undefined, { authorization });
            assert.equal(answer.status, 401);
            assert.equal(answer.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');
          }
        },
      ],
      [
        'method invocations with absurd timeouts: 400 (400004), never a hang',
        async () => {
          const bodies = [
            '{"methodName":"m","responseTimeoutInSeconds":1e309}',
            '{"methodName":"m","responseTimeoutInSeconds":-1}',
            '{"methodName":"m","responseTimeoutInSeconds":1e12}',
            '{"methodName":"m","responseTimeoutInSeconds":"30"}',
            '{"methodName":"m","responseTimeoutInSeconds":{"valueOf":30}}',
            '{"methodName":"m","connectTimeoutInSeconds":86400}',
            '{"methodName":"m","connectTimeoutInSeconds":-0.5}',
            '{"methodName":"","responseTimeoutInSeconds":5}',
            '{"methodName":["m"]}',
            '[]',
          ];
          for (const body of bodies) {
            const answer = await call('POST', methodPath(), body);
            assert.equal(answer.status, 400, body);
            const inner = JSON.parse((answer.json as LegacyBody).Message) as { errorCode: number };
            assert.equal(inner.errorCode, 400004, body);
          }
        },
      ],
      [
        'a method invocation of a module that is not online: 404103 at once',
        async () => {
          const answer = await call(
            'POST',
            methodPath(),
            JSON.stringify({
              methodName: 'x'.repeat(10_000),
              payload: { deep: [[[[[]]]]] },
              responseTimeoutInSeconds: 300,
            }),
          );
          assert.equal(answer.status, 404);
          assert.equal((JSON.parse((answer.json as LegacyBody).Message) as { errorCode: number }).errorCode, 404103);
        },
      ],
      [
        'a twin PATCH nested 40 000 deep through REST: 400, not 500',
        async () => {
          const answer = await call(
            'PATCH',
            twinPath(),
            '{"tags":' + '{"a":'.repeat(40_000) + '1' + '}'.repeat(40_000) + '}',
          );
          assert.equal(answer.status, 400);
        },
      ],
    ]);
  });
});

function upgradeRequest(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`;
}

/** A masked binary WebSocket frame (clients must mask). */
function maskedFrame(payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x82, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x82, 0x80 | 126, len >> 8, len & 0xff])
        : (() => {
            const b = Buffer.alloc(10);
            b[0] = 0x82;
            b[1] = 0x80 | 127;
            b.writeBigUInt64BE(BigInt(len), 2);
            return b;
          })();
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

/** The joined payloads of the (unmasked, server-sent) WebSocket frames after the 101 answer. */
function wsPayloads(data: Buffer): Buffer {
  let pos = data.indexOf('\r\n\r\n');
  if (pos < 0) return Buffer.alloc(0);
  pos += 4;
  const out: Buffer[] = [];
  while (pos + 2 <= data.length) {
    let len = data[pos + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      if (pos + 4 > data.length) break;
      len = data.readUInt16BE(pos + 2);
      head = 4;
    } else if (len === 127) {
      if (pos + 10 > data.length) break;
      len = Number(data.readBigUInt64BE(pos + 2));
      head = 10;
    }
    if (pos + head + len > data.length) break;
    out.push(data.subarray(pos + head, pos + head + len));
    pos += head + len;
  }
  return Buffer.concat(out);
}

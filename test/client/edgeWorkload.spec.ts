// WorkloadClient (the IoT Edge workload API's trust bundle and sign calls) against a local workload API over a Unix
// socket and over TCP: requests, answers, failures.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WorkloadClient } from '../../src/client/auth/WorkloadClient';
import { ClientError, ConnectionFailedError, OperationTimeout } from '../../src/client/errors';
import { recordRequest, type SeenRequest } from '../helpers/proxies';

const MODULE_KEY = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** A workload API stand-in whose answers a test can override. */
async function startWorkload(listenOn: string | number): Promise<{
  uri: string;
  seen: SeenRequest[];
  override: ((req: SeenRequest, res: http.ServerResponse) => boolean) | undefined;
  connections(): number;
  close(): Promise<void>;
}> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const state = {
    uri: '',
    seen,
    override: undefined as ((req: SeenRequest, res: http.ServerResponse) => boolean) | undefined,
    connections: () => connections,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
  const server = http.createServer((req, res) => {
    recordRequest(req, (record) => {
      seen.push(record);
      if (state.override?.(record, res)) return;
      const url = new URL(record.url, 'http://x');
      if (url.pathname.endsWith('/trust-bundle')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ certificate: CA_PEM }));
      } else if (url.pathname.endsWith('/sign')) {
        const data = (JSON.parse(record.body) as { data: string }).data;
        const digest = createHmac('sha256', Buffer.from(MODULE_KEY, 'base64'))
          .update(Buffer.from(data, 'base64'))
          .digest('base64');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ digest }));
      } else {
        res.writeHead(404).end('{"message":"no"}');
      }
    });
  });
  server.on('connection', (s: net.Socket) => {
    connections += 1;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  if (typeof listenOn === 'string') {
    server.listen(listenOn);
    await once(server, 'listening');
    state.uri = `unix://${listenOn}`;
  } else {
    server.listen(listenOn, '127.0.0.1');
    await once(server, 'listening');
    state.uri = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/prefix`;
  }
  return state;
}

describe('WorkloadClient against a local workload API', function () {
  this.timeout(20000);
  let dir: string;
  let workload: Awaited<ReturnType<typeof startWorkload>>;
  let client: WorkloadClient;
  const userAgent = 'node-red-contrib-azure-iot-module/0.1.0(20.20.0;Linux 6.1 #1;x64)';

  const newClient = (extra: Partial<ConstructorParameters<typeof WorkloadClient>[0]> = {}): WorkloadClient =>
    new WorkloadClient({
      workloadUri: workload.uri,
      apiVersion: '2019-01-30',
      moduleId: 'mod/ü 1',
      generationId: 'gen1',
      userAgent,
      ...extra,
    });

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workload-test-'));
    workload = await startWorkload(path.join(dir, 'workload.sock'));
  });
  after(async () => {
    await workload.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    workload.seen.length = 0;
    workload.override = undefined;
    client = newClient();
  });
  afterEach(() => client.close());

  it("fetches the trust bundle over the Unix socket with the Python SDK's request", async () => {
    assert.equal(await client.getTrustBundle(), CA_PEM);
    const [req] = workload.seen;
    assert.equal(req?.method, 'GET');
    assert.equal(req?.url, '/trust-bundle?api-version=2019-01-30');
    assert.equal(
      req?.headers['user-agent'],
      'node-red-contrib-azure-iot-module%2F0.1.0%2820.20.0%3BLinux+6.1+%231%3Bx64%29',
    );
  });

  it('signs: POST modules/{quote(moduleId)}/genid/{genId}/sign with base64 UTF-8 data, returns the digest', async () => {
    const stringToSign = 'hub.azure-devices.net%2Fdevices%2Fd%2Fmodules%2Fm\n1700003600 ü';
    const digest = await client.sign(stringToSign);
    assert.equal(
      digest,
      createHmac('sha256', Buffer.from(MODULE_KEY, 'base64')).update(stringToSign, 'utf8').digest('base64'),
    );
    const [req] = workload.seen;
    assert.equal(req?.method, 'POST');
    assert.equal(req?.url, '/modules/mod%2F%C3%BC%201/genid/gen1/sign?api-version=2019-01-30');
    assert.deepEqual(JSON.parse(req?.body ?? ''), {
      keyId: 'primary',
      algo: 'HMACSHA256',
      data: Buffer.from(stringToSign, 'utf8').toString('base64'),
    });
    // The Python SDK encodes the sign User-Agent with quote (space → %20), unlike the trust-bundle one.
    assert.equal(
      req?.headers['user-agent'],
      'node-red-contrib-azure-iot-module%2F0.1.0%2820.20.0%3BLinux%206.1%20%231%3Bx64%29',
    );
  });

  it('keeps one connection for several calls and closes it on close()', async () => {
    const before = workload.connections();
    await client.getTrustBundle();
    await client.sign('a');
    await client.sign('b');
    assert.equal(workload.connections() - before, 1);
    await client.close();
    await client.close();
  });

  const bad: Array<[string, (res: http.ServerResponse) => void, number]> = [
    [
      'a non-2xx status',
      (res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"module not found"}'),
      404,
    ],
    ['a body that is not JSON', (res) => res.writeHead(200).end('certificate: yes'), 200],
    [
      'a JSON body without the field',
      (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"cert":"x","digest":""}'),
      200,
    ],
    [
      'a JSON body that is not an object',
      (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('"text"'),
      200,
    ],
  ];
  for (const [label, answer, status] of bad) {
    it(`reports ${label} as ClientError "Unexpected failure in IoTEdge" (both calls)`, async () => {
      workload.override = (_req, res) => {
        answer(res);
        return true;
      };
      for (const call of [() => client.getTrustBundle(), () => client.sign('x')]) {
        await assert.rejects(call(), (err: unknown) => {
          assert.ok(err instanceof ClientError && !(err instanceof ConnectionFailedError), String(err));
          assert.equal(err.message, 'Unexpected failure in IoTEdge');
          assert.equal(err.code, 'client-error');
          assert.equal(err.statusCode, status);
          assert.ok(err.cause instanceof Error);
          return true;
        });
      }
    });
  }

  it('reports a missing socket as ConnectionFailedError', async () => {
    const missing = newClient({ workloadUri: `unix://${path.join(dir, 'nothing-here.sock')}` });
    try {
      await assert.rejects(
        missing.getTrustBundle(),
        (err: unknown) =>
          err instanceof ConnectionFailedError && (err.cause as NodeJS.ErrnoException).code === 'ENOENT',
      );
    } finally {
      await missing.close();
    }
  });

  it('gives up after its time limit with OperationTimeout', async () => {
    const slow = newClient({ timeoutMs: 200 });
    workload.override = () => true;
    try {
      await assert.rejects(slow.sign('x'), OperationTimeout);
    } finally {
      await slow.close();
    }
  });

  it('works over http://host:port/prefix too (base URL given a trailing /)', async () => {
    const tcp = await startWorkload(0);
    const overTcp = new WorkloadClient({
      workloadUri: tcp.uri,
      apiVersion: '2019-01-30',
      moduleId: 'm',
      generationId: 'g',
      userAgent: 'ua',
    });
    try {
      assert.equal(await overTcp.getTrustBundle(), CA_PEM);
      assert.equal(typeof (await overTcp.sign('s')), 'string');
      assert.deepEqual(
        tcp.seen.map((r) => r.url),
        ['/prefix/trust-bundle?api-version=2019-01-30', '/prefix/modules/m/genid/g/sign?api-version=2019-01-30'],
      );
    } finally {
      await overTcp.close();
      await tcp.close();
    }
  });
});

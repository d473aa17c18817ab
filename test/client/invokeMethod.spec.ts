// invokeMethodOverHttp (module-to-module direct methods through edgeHub) against a local HTTPS server: request shape,
// error mapping, timeout, TLS, proxies.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import https from 'node:https';
import type { ServerResponse } from 'node:http';
import net from 'node:net';
import { ClientError, ConnectionFailedError, CredentialError, OperationTimeout } from '../../src/client/errors';
import { invokeMethodOverHttp, type InvokeMethodOverHttpArgs } from '../../src/client/transport/http';
import { parseIotHubErrorCode } from '../../src/client/errorMapping';
import { quote, quotePlus } from '../../src/client/transport/properties';
import { recordRequest, startProxy, testPki, type ProxyKind, type SeenRequest } from '../helpers/proxies';
import { until } from '../helpers/until';

type Responder = (req: SeenRequest, res: ServerResponse) => void;

/** An HTTPS server (test PKI) whose answer each test chooses. */
async function startHttpsServer(host = '127.0.0.1'): Promise<{
  port: number;
  seen: SeenRequest[];
  respond(r: Responder): void;
  openSockets(): number;
  close(): Promise<void>;
}> {
  const { serverCert, serverKey } = await testPki();
  const seen: SeenRequest[] = [];
  const sockets = new Set<net.Socket>();
  let responder: Responder = (_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":200,"payload":null}');
  const server = https.createServer({ cert: serverCert, key: serverKey }, (req, res) => {
    recordRequest(req, (record) => {
      seen.push(record);
      responder(record, res);
    });
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    respond(r) {
      responder = r;
    },
    openSockets: () => sockets.size,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

describe('quote / quotePlus (Python parity)', () => {
  const vectors: Array<[string, string, string]> = [
    ['a b', 'a%20b', 'a+b'],
    ['dev/ice', 'dev%2Fice', 'dev%2Fice'],
    ['$+%&#?', '%24%2B%25%26%23%3F', '%24%2B%25%26%23%3F'],
    ["!*'()~_.-", '%21%2A%27%28%29~_.-', '%21%2A%27%28%29~_.-'],
    ['ünï', '%C3%BC%6E%C3%AF'.replace('%6E', 'n'), '%C3%BCn%C3%AF'],
    [
      'agent/1.0(20.20.0;Linux 6.1;x64)prod',
      'agent%2F1.0%2820.20.0%3BLinux%206.1%3Bx64%29prod',
      'agent%2F1.0%2820.20.0%3BLinux+6.1%3Bx64%29prod',
    ],
  ];
  for (const [input, q, qp] of vectors) {
    it(`encodes ${JSON.stringify(input)}`, () => {
      assert.equal(quote(input), q);
      assert.equal(quotePlus(input), qp);
    });
  }
});

describe('parseIotHubErrorCode', () => {
  const vectors: Array<[string, number | undefined]> = [
    ['{"errorCode":404103,"message":"Timed out waiting for device to connect."}', 404103],
    ['{"ErrorCode":"504101"}', 504101],
    [
      '{"Message":"ErrorCode:DeviceNotOnline;Timed out waiting for device to connect.","ExceptionMessage":"Tracking ID:x"}',
      404103,
    ],
    [
      '{"Message":"ErrorCode:GatewayTimeout;Timed out waiting for the response from device.","ExceptionMessage":""}',
      504101,
    ],
    [
      '{"Message":"{\\"errorCode\\":504101,\\"trackingId\\":\\"t\\",\\"message\\":\\"Timed out\\"}","ExceptionMessage":""}',
      504101,
    ],
    ['{"Message":"ErrorCode:IotHubUnauthorizedAccess;Unauthorized"}', 401002],
    ['ErrorCode:ThrottlingException;too many', 429001],
    ['{"message":"nothing here"}', undefined],
    ['', undefined],
    ['[1,2]', undefined],
  ];
  for (const [body, expected] of vectors) {
    it(`finds ${expected} in ${body.slice(0, 60)}`, () => assert.equal(parseIotHubErrorCode(body), expected));
  }
});

describe('invokeMethodOverHttp against a local HTTPS gateway', function () {
  this.timeout(20000);
  let server: Awaited<ReturnType<typeof startHttpsServer>>;
  let ca: string;
  const userAgent = 'node-red-contrib-azure-iot-module/0.1.0(20.20.0;Linux 6.1.0-1 #1 SMP;x64)';

  const args = (extra: Partial<InvokeMethodOverHttpArgs> = {}): InvokeMethodOverHttpArgs => ({
    gatewayHostname: `localhost:${server.port}`,
    ca,
    deviceId: 'target device',
    moduleId: 'target/module',
    ownDeviceId: 'my-device',
    ownModuleId: 'my-module',
    userAgent,
    productInfo: 'my product!',
    sastoken: 'SharedAccessSignature sr=hub%2Fdevices%2Fmy-device%2Fmodules%2Fmy-module&sig=abc%3D&se=1',
    methodParams: {
      methodName: 'reboot',
      payload: { delay: 5, text: 'ü' },
      responseTimeoutInSeconds: 30,
      connectTimeoutInSeconds: 0,
    },
    timeoutMs: 5000,
    ...extra,
  });

  before(async () => {
    ca = (await testPki()).caCert;
    server = await startHttpsServer();
  });
  after(() => server.close());
  beforeEach(() => {
    server.seen.length = 0;
    server.respond((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":201,"payload":{"ok":true}}'),
    );
  });

  it("POSTs the Python SDK's invoke_method request and returns the parsed body", async () => {
    const result = await invokeMethodOverHttp(args());
    assert.deepEqual(result, { status: 201, payload: { ok: true } });
    const [req] = server.seen;
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/twins/target+device/modules/target%2Fmodule/methods?api-version=2019-10-01');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-ms-edge-moduleid'], 'my-device/my-module');
    assert.equal(
      req.headers['user-agent'],
      'node-red-contrib-azure-iot-module%2F0.1.0%2820.20.0%3BLinux+6.1.0-1+%231+SMP%3Bx64%29my+product%21',
    );
    assert.equal(req.headers.authorization, args().sastoken);
    assert.equal(req.headers.host, `localhost:${server.port}`);
    assert.equal(req.body, JSON.stringify(args().methodParams));
    assert.equal(Number(req.headers['content-length']), Buffer.byteLength(req.body));
  });

  it('addresses a device when no module id is given, encoding ids with quote_plus', async () => {
    await invokeMethodOverHttp(args({ deviceId: 'd $+%&#?ü', moduleId: undefined }));
    assert.equal(server.seen[0]?.url, '/twins/d+%24%2B%25%26%23%3F%C3%BC/methods?api-version=2019-10-01');
  });

  it('returns null for an empty 2xx body', async () => {
    server.respond((_req, res) => res.writeHead(200).end());
    assert.equal(await invokeMethodOverHttp(args()), null);
  });

  it('closes its connection after the call', async () => {
    await invokeMethodOverHttp(args());
    await until(() => server.openSockets() === 0, 'the gateway socket to close');
  });

  const failures: Array<[string, number, string, { code: string; errorCode?: number; retryable: boolean }]> = [
    [
      'device not online (Message form)',
      404,
      '{"Message":"ErrorCode:DeviceNotOnline;Timed out waiting for device to connect.","ExceptionMessage":""}',
      { code: 'device-not-online', errorCode: 404103, retryable: true },
    ],
    [
      'gateway timeout (errorCode form)',
      504,
      '{"errorCode":504101,"message":"Timed out waiting for the response from device."}',
      { code: 'gateway-timeout', errorCode: 504101, retryable: true },
    ],
    [
      'unauthorized',
      401,
      '{"Message":"ErrorCode:IotHubUnauthorizedAccess;Unauthorized"}',
      { code: 'unauthorized', errorCode: 401002, retryable: false },
    ],
    [
      'not found',
      404,
      '{"errorCode":404010,"message":"module not found"}',
      { code: 'not-found', errorCode: 404010, retryable: false },
    ],
    ['throttled', 429, '{"errorCode":429001}', { code: 'throttled', errorCode: 429001, retryable: true }],
    ['bad request', 400, 'not json at all', { code: 'bad-request', retryable: false }],
    ['server error', 500, '', { code: 'service-error', retryable: true }],
    ['a redirect', 302, '', { code: 'service-error', retryable: false }],
  ];
  for (const [label, status, body, expected] of failures) {
    it(`maps ${status} ${label} to ClientError ${expected.code}`, async () => {
      server.respond((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
      await assert.rejects(invokeMethodOverHttp(args()), (err: unknown) => {
        assert.ok(err instanceof ClientError, String(err));
        assert.equal(err.code, expected.code);
        assert.equal(err.statusCode, status);
        assert.equal(err.errorCode, expected.errorCode);
        assert.equal(err.retryable, expected.retryable);
        return true;
      });
    });
  }

  it('a 2xx body that is not JSON → ClientError service-error', async () => {
    server.respond((_req, res) => res.writeHead(200).end('<html>'));
    await assert.rejects(
      invokeMethodOverHttp(args()),
      (err: unknown) => err instanceof ClientError && err.code === 'service-error' && err.cause instanceof SyntaxError,
    );
  });

  it('a gateway that does not answer in time → OperationTimeout', async () => {
    server.respond(() => undefined);
    const started = Date.now();
    await assert.rejects(invokeMethodOverHttp(args({ timeoutMs: 300 })), OperationTimeout);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 3000, `took ${elapsed} ms`);
    await until(() => server.openSockets() === 0, 'the abandoned socket to close');
  });

  it('a gateway that accepts TCP but never completes the TLS handshake → OperationTimeout, socket closed', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      // Read (and ignore) the ClientHello so that the client's FIN is seen.
      s.resume();
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const port = (silent.address() as net.AddressInfo).port;
      await assert.rejects(
        invokeMethodOverHttp(args({ gatewayHostname: `127.0.0.1:${port}`, timeoutMs: 300 })),
        OperationTimeout,
      );
      await until(() => sockets.size === 0, 'the half-open TLS socket to close');
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('a server certificate from another CA → ClientError tls-error', async () => {
    const { otherCaCert } = await testPki();
    await assert.rejects(
      invokeMethodOverHttp(args({ ca: otherCaCert })),
      (err: unknown) => err instanceof ClientError && err.code === 'tls-error',
    );
    assert.equal(server.seen.length, 0);
  });

  it('an address the certificate does not name → ClientError tls-error', async () => {
    // The test certificate names localhost and 127.0.0.1 only; 127.0.0.2 is loopback too on Linux.
    const other = await startHttpsServer('127.0.0.2');
    try {
      await assert.rejects(
        invokeMethodOverHttp(args({ gatewayHostname: `127.0.0.2:${other.port}` })),
        (err: unknown) =>
          err instanceof ClientError &&
          err.code === 'tls-error' &&
          (err.cause as { code?: string }).code === 'ERR_TLS_CERT_ALTNAME_INVALID',
      );
      assert.equal(other.seen.length, 0);
    } finally {
      await other.close();
    }
  });

  it('a gateway that is not listening → ConnectionFailedError', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await assert.rejects(
      invokeMethodOverHttp(args({ gatewayHostname: `127.0.0.1:${port}` })),
      (err: unknown) =>
        err instanceof ConnectionFailedError && (err.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED',
    );
  });

  it('honours a cipher list and rejects an impossible one', async () => {
    assert.deepEqual(await invokeMethodOverHttp(args({ cipher: 'ECDHE-RSA-AES128-GCM-SHA256' })), {
      status: 201,
      payload: { ok: true },
    });
    await assert.rejects(
      invokeMethodOverHttp(args({ cipher: 'NO-SUCH-CIPHER' })),
      (err: unknown) => err instanceof ClientError && err.code === 'tls-error',
    );
  });

  for (const kind of ['HTTP', 'SOCKS4', 'SOCKS5'] as ProxyKind[]) {
    it(`goes through a ${kind} proxy (with credentials)`, async () => {
      const credentials = kind === 'SOCKS4' ? { username: 'me' } : { username: 'me', password: 's3cret' };
      const proxy = await startProxy(kind, credentials);
      try {
        assert.deepEqual(await invokeMethodOverHttp(args({ proxy: proxy.options(credentials) })), {
          status: 201,
          payload: { ok: true },
        });
        assert.equal(proxy.counters.tunnels, 1);
        assert.deepEqual(proxy.targets, [{ host: 'localhost', port: server.port }]);
        assert.equal(server.seen.length, 1);
      } finally {
        await proxy.close();
      }
    });
  }

  it('surfaces a proxy credential refusal as CredentialError', async () => {
    const proxy = await startProxy('HTTP', { username: 'me', password: 'right' });
    try {
      await assert.rejects(
        invokeMethodOverHttp(args({ proxy: proxy.options({ username: 'me', password: 'wrong' }) })),
        (err: unknown) => err instanceof CredentialError && err.code === 'proxy-error',
      );
      assert.equal(server.seen.length, 0);
    } finally {
      await proxy.close();
    }
  });
});

// openProxyTunnel through real local HTTP CONNECT, SOCKS4/4a and SOCKS5 proxies to a TLS echo server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { ClientError, ConnectionFailedError, CredentialError } from '../../src/client/errors';
import { openProxyTunnel, type ProxyOptions } from '../../src/client/transport/proxy';
import {
  echoRoundTrip,
  startProxy,
  startTcpEchoServer,
  startTlsEchoServer,
  testPki,
  type ProxyKind,
  type TestProxy,
  type TestServer,
} from '../helpers/proxies';
import { until } from '../helpers/until';

async function tlsOver(raw: net.Socket, ca: string, servername = 'localhost'): Promise<tls.TLSSocket> {
  const socket = tls.connect({ socket: raw, ca, servername });
  await once(socket, 'secureConnect', { signal: AbortSignal.timeout(5000) });
  return socket;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fake proxy that answers every connection with `reply` (or nothing) and counts connections. */
async function startFakeProxy(
  reply?: Buffer | string,
  thenClose = false,
): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    if (reply !== undefined) socket.once('data', () => (thenClose ? socket.end(reply) : socket.write(reply)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

describe('openProxyTunnel', function () {
  this.timeout(20000);
  let echo: TestServer;
  let ca: string;

  before(async () => {
    ca = (await testPki()).caCert;
    echo = await startTlsEchoServer();
  });
  after(() => echo.close());

  for (const kind of ['HTTP', 'SOCKS4', 'SOCKS5'] as ProxyKind[]) {
    describe(`${kind} proxy`, () => {
      let proxy: TestProxy;
      let authProxy: TestProxy;
      const credentials =
        kind === 'SOCKS4' ? { username: 'userid ü' } : { username: 'us:er ü', password: 'p@ss w/ord%' };

      before(async () => {
        proxy = await startProxy(kind);
        authProxy = await startProxy(kind, credentials);
      });
      after(async () => {
        await proxy.close();
        await authProxy.close();
      });

      it('tunnels TLS to a host name (proxy-side resolution) and the bytes round-trip', async () => {
        const raw = await openProxyTunnel(proxy.options(), 'localhost', echo.port);
        const socket = await tlsOver(raw, ca);
        try {
          assert.equal(await echoRoundTrip(socket, 'hello through the proxy ✓'), 'hello through the proxy ✓');
          assert.deepEqual(proxy.targets.at(-1), { host: 'localhost', port: echo.port });
        } finally {
          socket.destroy();
        }
      });

      it('tunnels to an IPv4 address', async () => {
        const raw = await openProxyTunnel(proxy.options(), '127.0.0.1', echo.port);
        const socket = await tlsOver(raw, ca);
        try {
          assert.equal(await echoRoundTrip(socket, 'x'.repeat(100000)), 'x'.repeat(100000));
          assert.deepEqual(proxy.targets.at(-1), { host: '127.0.0.1', port: echo.port });
        } finally {
          socket.destroy();
        }
      });

      it('authenticates with the configured credentials', async () => {
        const raw = await openProxyTunnel(authProxy.options(credentials), 'localhost', echo.port);
        const socket = await tlsOver(raw, ca);
        try {
          assert.equal(await echoRoundTrip(socket, 'authenticated'), 'authenticated');
          const seen = authProxy.credentialsSeen.at(-1);
          if (kind === 'HTTP') assert.equal(seen, `Basic ${Buffer.from('us:er ü:p@ss w/ord%').toString('base64')}`);
          else if (kind === 'SOCKS4') assert.equal(seen, 'userid ü');
          else assert.equal(seen, 'us:er ü:p@ss w/ord%');
        } finally {
          socket.destroy();
        }
      });

      it('reports refused credentials as CredentialError and closes the socket', async () => {
        const before = authProxy.counters.authFailures;
        const wrong =
          kind === 'SOCKS4' ? { username: 'intruder' } : { username: credentials.username, password: 'wrong' };
        await assert.rejects(
          openProxyTunnel(authProxy.options(wrong), 'localhost', echo.port),
          (err: unknown) =>
            err instanceof CredentialError &&
            err.code === 'proxy-error' &&
            err.retryable === false &&
            err.cause instanceof Error,
        );
        assert.equal(authProxy.counters.authFailures, before + 1);
      });

      it('reports an unreachable target as ConnectionFailedError with code proxy-error', async () => {
        const port = await closedPort();
        await assert.rejects(openProxyTunnel(proxy.options(), '127.0.0.1', port), (err: unknown) => {
          assert.ok(err instanceof ConnectionFailedError, String(err));
          assert.equal(err.code, 'proxy-error');
          assert.equal(err.retryable, true);
          if (kind === 'HTTP') assert.equal(err.statusCode, 502);
          return true;
        });
      });
    });
  }

  it('SOCKS5 without credentials against a proxy that demands them → CredentialError', async () => {
    const proxy = await startProxy('SOCKS5', { username: 'u', password: 'p' });
    try {
      await assert.rejects(openProxyTunnel(proxy.options(), 'localhost', echo.port), CredentialError);
    } finally {
      await proxy.close();
    }
  });

  it('HTTP without credentials against a proxy that demands them → CredentialError with statusCode 407', async () => {
    const proxy = await startProxy('HTTP', { username: 'u', password: 'p' });
    try {
      await assert.rejects(
        openProxyTunnel(proxy.options(), 'localhost', echo.port),
        (err: unknown) => err instanceof CredentialError && err.statusCode === 407,
      );
    } finally {
      await proxy.close();
    }
  });

  it('SOCKS5 with credentials falls back to no-auth when the proxy chooses it', async () => {
    const proxy = await startProxy('SOCKS5');
    try {
      const raw = await openProxyTunnel(proxy.options({ username: 'u', password: 'p' }), 'localhost', echo.port);
      const socket = await tlsOver(raw, ca);
      assert.equal(await echoRoundTrip(socket, 'no auth'), 'no auth');
      socket.destroy();
      assert.deepEqual(proxy.credentialsSeen, []);
    } finally {
      await proxy.close();
    }
  });

  for (const kind of ['HTTP', 'SOCKS4', 'SOCKS5'] as ProxyKind[]) {
    it(`${kind}: a proxy that is not listening → ConnectionFailedError proxy-error with the socket error as cause`, async () => {
      const port = await closedPort();
      const options: ProxyOptions = { proxyType: kind, proxyAddress: '127.0.0.1', proxyPort: port };
      await assert.rejects(openProxyTunnel(options, 'localhost', echo.port), (err: unknown) => {
        assert.ok(err instanceof ConnectionFailedError);
        assert.equal(err.code, 'proxy-error');
        assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
        return true;
      });
    });
  }

  const garbage: Array<[ProxyKind, string | Buffer]> = [
    ['HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['SOCKS4', Buffer.from([0x05, 0x5a, 0, 0, 0, 0, 0, 0])],
    ['SOCKS5', Buffer.from([0x04, 0x00])],
  ];
  for (const [kind, reply] of garbage) {
    it(`${kind}: a malformed proxy reply → ClientError proxy-error (not retryable)`, async () => {
      const fake = await startFakeProxy(reply);
      try {
        await assert.rejects(
          openProxyTunnel({ proxyType: kind, proxyAddress: '127.0.0.1', proxyPort: fake.port }, 'localhost', 443),
          (err: unknown) => {
            assert.ok(err instanceof ClientError && !(err instanceof ConnectionFailedError), String(err));
            assert.equal(err.code, 'proxy-error');
            assert.equal(err.retryable, false);
            return true;
          },
        );
      } finally {
        await fake.close();
      }
    });
  }

  it('a proxy that closes mid-handshake → ConnectionFailedError proxy-error', async () => {
    // Half a SOCKS5 method reply, then the proxy ends the connection.
    const fake = await startFakeProxy(Buffer.from([0x05]), true);
    try {
      const attempt = openProxyTunnel(
        { proxyType: 'SOCKS5', proxyAddress: '127.0.0.1', proxyPort: fake.port },
        'localhost',
        443,
      );
      await assert.rejects(
        attempt,
        (err: unknown) =>
          err instanceof ConnectionFailedError &&
          err.code === 'proxy-error' &&
          /closed the connection/.test(err.message),
      );
      assert.equal(fake.connections(), 1);
    } finally {
      await fake.close();
    }
  });

  it('aborts a handshake the proxy never answers, rejecting with the signal reason', async () => {
    const fake = await startFakeProxy();
    try {
      const controller = new AbortController();
      const attempt = openProxyTunnel(
        { proxyType: 'HTTP', proxyAddress: '127.0.0.1', proxyPort: fake.port },
        'localhost',
        443,
        controller.signal,
      );
      await until(() => fake.connections() > 0, 'the proxy to accept the connection', 5000);
      const reason = new Error('stop now');
      controller.abort(reason);
      await assert.rejects(attempt, (err: unknown) => err === reason);
    } finally {
      await fake.close();
    }
  });

  it('rejects at once when the signal is already aborted', async () => {
    const fake = await startFakeProxy();
    try {
      await assert.rejects(
        openProxyTunnel(
          { proxyType: 'SOCKS5', proxyAddress: '127.0.0.1', proxyPort: fake.port },
          'localhost',
          443,
          AbortSignal.abort(new Error('early')),
        ),
        /early/,
      );
      assert.equal(fake.connections(), 0);
    } finally {
      await fake.close();
    }
  });

  it('keeps bytes the proxy sends right after its reply (unshifted into the returned socket)', async () => {
    const plain = await startTcpEchoServer();
    const fake = await startFakeProxy('HTTP/1.1 200 OK\r\nVia: test\r\n\r\nEARLY');
    try {
      const socket = await openProxyTunnel(
        { proxyType: 'HTTP', proxyAddress: '127.0.0.1', proxyPort: fake.port },
        '127.0.0.1',
        plain.port,
      );
      const data = once(socket, 'data', { signal: AbortSignal.timeout(5000) });
      socket.resume();
      assert.equal(String((await data)[0]), 'EARLY');
      socket.destroy();
    } finally {
      await fake.close();
      await plain.close();
    }
  });

  describe('IPv6 targets', () => {
    let echo6: TestServer;
    before(async () => {
      echo6 = await startTcpEchoServer('::1');
    });
    after(() => echo6.close());

    const cases: Array<[ProxyKind, string, string]> = [
      ['SOCKS5', '::1', '0:0:0:0:0:0:0:1'],
      ['HTTP', '::1', '::1'],
      ['HTTP', '[::1]', '::1'],
    ];
    for (const [kind, given, seen] of cases) {
      it(`${kind} reaches ${given} (address sent as an IPv6 address)`, async () => {
        const proxy = await startProxy(kind);
        try {
          const socket = await openProxyTunnel(proxy.options(), given, echo6.port);
          assert.equal(await echoRoundTrip(socket, 'v6'), 'v6');
          socket.destroy();
          assert.deepEqual(proxy.targets, [{ host: seen, port: echo6.port }]);
        } finally {
          await proxy.close();
        }
      });
    }

    it('SOCKS4 cannot express an IPv6 target → ClientError proxy-error, nothing asked of the proxy', async () => {
      const proxy = await startProxy('SOCKS4');
      try {
        await assert.rejects(
          openProxyTunnel(proxy.options(), '::1', echo6.port),
          (err: unknown) => err instanceof ClientError && err.code === 'proxy-error' && /IPv6/.test(err.message),
        );
        assert.deepEqual(proxy.targets, []);
      } finally {
        await proxy.close();
      }
    });
  });

  it('HTTP: a reply head that never ends → ClientError proxy-error instead of unbounded buffering', async () => {
    const fake = await startFakeProxy(`HTTP/1.1 200 OK\r\nX-Filler: ${'a'.repeat(20000)}`);
    try {
      await assert.rejects(
        openProxyTunnel({ proxyType: 'HTTP', proxyAddress: '127.0.0.1', proxyPort: fake.port }, 'localhost', 443),
        (err: unknown) => err instanceof ClientError && err.code === 'proxy-error' && /longer than/.test(err.message),
      );
    } finally {
      await fake.close();
    }
  });
});

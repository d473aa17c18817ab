// Test helpers: small hand-written HTTP CONNECT, SOCKS4/4a and SOCKS5 proxies, a freezable TCP forwarder, a test PKI
// and TLS/HTTPS targets, and a request recorder for test HTTP(S) servers.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { type KeyUsage, issueCertificate } from '../../src/hub/x509';
import type { ProxyOptions } from '../../src/client/transport/proxy';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

export type ProxyKind = 'HTTP' | 'SOCKS4' | 'SOCKS5';

export interface TestProxyOptions {
  /** Credentials the proxy demands (HTTP Basic, SOCKS4 user id, SOCKS5 RFC 1929). None = open proxy. */
  username?: string;
  password?: string;
  /** SOCKS5 only: also accept clients that offer no authentication even when credentials are configured. */
  allowAnonymous?: boolean;
}

export interface TestProxy {
  readonly kind: ProxyKind;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** TCP connections accepted by the proxy. */
  readonly counters: { connections: number; tunnels: number; authFailures: number; refused: number };
  /** Targets asked for, exactly as the client sent them (host name or address). */
  readonly targets: Array<{ host: string; port: number }>;
  /** Authorization values seen (HTTP: the Proxy-Authorization header; SOCKS: `user:password`). */
  readonly credentialsSeen: string[];
  /** ProxyOptions pointing at this proxy, with the given credentials (default: none). */
  options(credentials?: { username?: string; password?: string }): ProxyOptions;
  /** Closes the listener and every open connection (both sides of every tunnel). */
  close(): Promise<void>;
}

/** Starts a proxy of the given kind on 127.0.0.1, port 0. */
export function startProxy(kind: ProxyKind, opts: TestProxyOptions = {}): Promise<TestProxy> {
  const handler = kind === 'HTTP' ? handleHttp : kind === 'SOCKS4' ? handleSocks4 : handleSocks5;
  return listen(kind, opts, handler);
}

type Handler = (client: net.Socket, state: ProxyState) => Promise<void>;

interface ProxyState {
  opts: TestProxyOptions;
  proxy: TestProxy;
  sockets: Set<net.Socket>;
  connectTarget(host: string, port: number): Promise<net.Socket | undefined>;
}

async function listen(kind: ProxyKind, opts: TestProxyOptions, handler: Handler): Promise<TestProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  };
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const proxy: TestProxy = {
    kind,
    host: '127.0.0.1',
    port,
    counters: { connections: 0, tunnels: 0, authFailures: 0, refused: 0 },
    targets: [],
    credentialsSeen: [],
    options(credentials = {}) {
      return {
        proxyType: kind,
        proxyAddress: '127.0.0.1',
        proxyPort: port,
        ...(credentials.username !== undefined ? { proxyUsername: credentials.username } : {}),
        ...(credentials.password !== undefined ? { proxyPassword: credentials.password } : {}),
      };
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  const state: ProxyState = {
    opts,
    proxy,
    sockets,
    async connectTarget(host, targetPort) {
      proxy.targets.push({ host, port: targetPort });
      const upstream = net.connect({ host, port: targetPort });
      track(upstream);
      try {
        await once(upstream, 'connect');
        return upstream;
      } catch {
        proxy.counters.refused += 1;
        return undefined;
      }
    },
  };
  server.on('connection', (client) => {
    proxy.counters.connections += 1;
    track(client);
    handler(client, state).catch(() => client.destroy());
  });
  return proxy;
}

/** Pipes both ways after the handshake, first replaying bytes the client sent early. */
function splice(client: net.Socket, upstream: net.Socket, early: Buffer, proxy: TestProxy): void {
  proxy.counters.tunnels += 1;
  if (early.length > 0) upstream.write(early);
  client.pipe(upstream);
  upstream.pipe(client);
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
}

/** Reads from a socket by length or delimiter during a handshake. */
class Reader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private ended = false;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.once('close', () => {
      this.ended = true;
      this.waiting?.();
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.waiting?.();
  };

  private async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.ended) throw new Error('client went away');
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  async read(n: number): Promise<Buffer> {
    await this.until(() => this.buffer.length >= n);
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  async readUntil(delimiter: string | number): Promise<Buffer> {
    await this.until(() => this.buffer.indexOf(delimiter) >= 0);
    return this.read(this.buffer.indexOf(delimiter) + (typeof delimiter === 'string' ? delimiter.length : 1));
  }

  /** Stops reading and returns whatever arrived beyond the handshake. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }
}

async function handleHttp(client: net.Socket, state: ProxyState): Promise<void> {
  const reader = new Reader(client);
  const head = (await reader.readUntil('\r\n\r\n')).toString('latin1');
  const [requestLine, ...headerLines] = head.split('\r\n');
  const match = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]$/.exec(requestLine ?? '');
  if (!match) {
    client.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const headers = new Map(
    headerLines
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  const authorization = headers.get('proxy-authorization');
  if (authorization !== undefined) state.proxy.credentialsSeen.push(authorization);
  if (state.opts.username !== undefined) {
    const expected = `Basic ${Buffer.from(`${state.opts.username}:${state.opts.password ?? ''}`).toString('base64')}`;
    if (authorization !== expected) {
      state.proxy.counters.authFailures += 1;
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
  }
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  const upstream = await state.connectTarget(host, Number(match[2]));
  if (!upstream) {
    client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  splice(client, upstream, reader.detach(), state.proxy);
}

async function handleSocks4(client: net.Socket, state: ProxyState): Promise<void> {
  const reader = new Reader(client);
  const header = await reader.read(8);
  if (header[0] !== 4 || header[1] !== 1) {
    client.end(Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
    return;
  }
  const port = header.readUInt16BE(2);
  const userId = (await reader.readUntil(0)).subarray(0, -1).toString('utf8');
  state.proxy.credentialsSeen.push(userId);
  let host = `${header[4]}.${header[5]}.${header[6]}.${header[7]}`;
  // SOCKS4a: 0.0.0.x with x ≠ 0 means a host name follows the user id.
  if (header[4] === 0 && header[5] === 0 && header[6] === 0 && header[7] !== 0)
    host = (await reader.readUntil(0)).subarray(0, -1).toString('utf8');
  if (state.opts.username !== undefined && userId !== state.opts.username) {
    state.proxy.counters.authFailures += 1;
    client.end(Buffer.from([0, 0x5d, 0, 0, 0, 0, 0, 0]));
    return;
  }
  const upstream = await state.connectTarget(host, port);
  if (!upstream) {
    client.end(Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0]));
    return;
  }
  client.write(Buffer.from([0, 0x5a, 0, 0, 0, 0, 0, 0]));
  splice(client, upstream, reader.detach(), state.proxy);
}

async function handleSocks5(client: net.Socket, state: ProxyState): Promise<void> {
  const reader = new Reader(client);
  const [version, count] = await reader.read(2);
  if (version !== 5) {
    client.destroy();
    return;
  }
  const methods = [...(await reader.read(count!))];
  const needAuth = state.opts.username !== undefined;
  let method = 0xff;
  if (needAuth && methods.includes(0x02)) method = 0x02;
  else if ((!needAuth || state.opts.allowAnonymous) && methods.includes(0x00)) method = 0x00;
  client.write(Buffer.from([0x05, method]));
  if (method === 0xff) {
    state.proxy.counters.authFailures += 1;
    client.end();
    return;
  }
  if (method === 0x02) {
    const [, ulen] = await reader.read(2);
    const user = (await reader.read(ulen!)).toString('utf8');
    const [plen] = await reader.read(1);
    const pass = (await reader.read(plen!)).toString('utf8');
    state.proxy.credentialsSeen.push(`${user}:${pass}`);
    if (user !== state.opts.username || pass !== (state.opts.password ?? '')) {
      state.proxy.counters.authFailures += 1;
      client.end(Buffer.from([0x01, 0x01]));
      return;
    }
    client.write(Buffer.from([0x01, 0x00]));
  }
  const [, cmd, , atyp] = await reader.read(4);
  let host: string;
  if (atyp === 0x01) host = [...(await reader.read(4))].join('.');
  else if (atyp === 0x03) host = (await reader.read((await reader.read(1))[0]!)).toString('utf8');
  else if (atyp === 0x04) {
    const raw = await reader.read(16);
    host = Array.from({ length: 8 }, (_, i) => raw.readUInt16BE(i * 2).toString(16)).join(':');
  } else {
    client.end(Buffer.from([0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    return;
  }
  const port = (await reader.read(2)).readUInt16BE(0);
  if (cmd !== 0x01) {
    client.end(Buffer.from([0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    return;
  }
  const upstream = await state.connectTarget(host, port);
  if (!upstream) {
    client.end(Buffer.from([0x05, 0x05, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    return;
  }
  // Bound address as a domain name, to exercise the variable-length reply parsing.
  const bound = Buffer.from('proxy.test');
  client.write(Buffer.concat([Buffer.from([0x05, 0x00, 0x00, 0x03, bound.length]), bound, Buffer.from([0x12, 0x34])]));
  splice(client, upstream, reader.detach(), state.proxy);
}

/** A CA and a server certificate it signed, valid for `localhost` and `127.0.0.1`. */
export interface TestPki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** A second, unrelated CA (for "untrusted server" tests). */
  otherCaCert: string;
}

let pki: Promise<TestPki> | undefined;

/** Generates (once per process) a small PKI for TLS tests. */
export function testPki(): Promise<TestPki> {
  pki ??= (async () => {
    const caTemplate = { ca: true, keyUsage: ['keyCertSign', 'cRLSign', 'digitalSignature'] as KeyUsage[] };
    const ca = await issueCertificate({ commonName: 'Periphery Test CA', ...caTemplate }, { keyType: 'rsa' });
    const other = await issueCertificate({ commonName: 'Other Test CA', ...caTemplate }, { keyType: 'rsa' });
    const server = await issueCertificate(
      {
        commonName: 'localhost',
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        extKeyUsage: ['serverAuth'],
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
      },
      { keyType: 'rsa', issuer: ca },
    );
    return { caCert: ca.cert, caKey: ca.key, serverCert: server.cert, serverKey: server.key, otherCaCert: other.cert };
  })();
  return pki;
}

export interface TestServer {
  readonly port: number;
  /** Connections accepted. */
  readonly counters: { connections: number };
  close(): Promise<void>;
}

/** Tracks sockets so `close()` ends everything (mocha runs without --exit). */
async function trackedListen(server: net.Server, host = '127.0.0.1'): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const counters = { connections: 0 };
  server.on('connection', (socket: net.Socket) => {
    counters.connections += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    counters,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A TLS server (test PKI) that echoes back every byte. */
export async function startTlsEchoServer(): Promise<TestServer> {
  const { serverCert, serverKey } = await testPki();
  const server = tls.createServer({ cert: serverCert, key: serverKey }, (socket) => {
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  server.on('tlsClientError', () => undefined);
  return trackedListen(server);
}

/** A plain TCP server that echoes back every byte (on 127.0.0.1 unless told, e.g. `::1`). */
export async function startTcpEchoServer(host = '127.0.0.1'): Promise<TestServer> {
  const server = net.createServer((socket) => socket.pipe(socket));
  return trackedListen(server, host);
}

/** Writes `data` and reads until as many bytes came back (for echo servers). */
export async function echoRoundTrip(
  socket: net.Socket,
  data: string,
  signal = AbortSignal.timeout(5000),
): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  const expected = Buffer.byteLength(data);
  const done = new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= expected) {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }
    });
    socket.once('error', reject);
  });
  // A tunnel from openProxyTunnel comes back paused (so nothing is lost before its user attaches).
  socket.resume();
  socket.write(data);
  await done;
  return Buffer.concat(chunks).toString('utf8');
}

/** A TCP forwarder to a target whose open connections can be frozen (a silent peer) or cut. */
export interface TcpForwarder {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** From now on the open connections carry nothing in either direction, yet stay open (new ones still flow). */
  freezeOpen(): void;
  /** Destroys every open connection (both sides), like a network cut. */
  cutOpen(): void;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

/** Starts a forwarder on 127.0.0.1, port 0, to `targetHost:targetPort`. */
export async function startForwarder(targetHost: string, targetPort: number): Promise<TcpForwarder> {
  const open = new Set<{ inbound: net.Socket; outbound: net.Socket; frozen: boolean }>();
  let connections = 0;
  const server = net.createServer((inbound) => {
    connections += 1;
    const outbound = net.connect(targetPort, targetHost);
    const pair = { inbound, outbound, frozen: false };
    open.add(pair);
    // Bytes of a frozen pair are read and dropped: the peer sees silence, not back-pressure or a close.
    inbound.on('data', (chunk) => {
      if (!pair.frozen) outbound.write(chunk);
    });
    outbound.on('data', (chunk) => {
      if (!pair.frozen) inbound.write(chunk);
    });
    const end = (): void => {
      open.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    for (const s of [inbound, outbound]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const cutOpen = (): void => {
    for (const pair of [...open]) {
      pair.inbound.destroy();
      pair.outbound.destroy();
    }
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    freezeOpen() {
      for (const pair of open) pair.frozen = true;
    },
    cutOpen,
    async close() {
      const closed = once(server, 'close');
      server.close();
      cutOpen();
      await closed;
    },
  };
}

/** What a test HTTP(S) server records of each request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Reads a request's whole body (UTF-8), then hands `done` its record. */
export function recordRequest(req: IncomingMessage, done: (record: SeenRequest) => void): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => done({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body }));
}

// Raw TCP tunnels through HTTP CONNECT, SOCKS4/4a and SOCKS5 proxies (hand-written), and proxy option validation.
import net from 'node:net';
import { ClientError, ConnectionFailedError, CredentialError, ValueError } from '../errors';

/**
 * How to reach the proxy (the Python SDK's `ProxyOptions(proxy_type, proxy_addr, proxy_port, proxy_username,
 * proxy_password)`).
 */
export interface ProxyOptions {
  proxyType: 'HTTP' | 'SOCKS4' | 'SOCKS5';
  proxyAddress: string;
  proxyPort: number;
  /** HTTP: Basic credentials; SOCKS4: the user id; SOCKS5: RFC 1929 username. */
  proxyUsername?: string;
  /** HTTP: Basic credentials; SOCKS5: RFC 1929 password; ignored by SOCKS4 (it has no password). */
  proxyPassword?: string;
}

const PROXY_TYPES = ['HTTP', 'SOCKS4', 'SOCKS5'] as const;
const PROXY_KEYS = new Set(['proxyType', 'proxyAddress', 'proxyPort', 'proxyUsername', 'proxyPassword']);
/** Longest HTTP CONNECT response head we accept before calling the proxy broken. */
const MAX_HTTP_HEAD = 16 * 1024;

/**
 * Checks and normalises proxy options. Proxy types are accepted in any case (`'socks5'` → `'SOCKS5'`); a port may
 * be a number or a string of decimal digits.
 * @throws TypeError when `value` is not an object, has unknown keys, or a field has the wrong type.
 * @throws ValueError when a field has a bad value (unknown proxy type, empty address, port outside 1..65535,
 *   password without username, SOCKS5 credentials longer than 255 bytes).
 */
export function validateProxyOptions(value: unknown): ProxyOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('proxyOptions must be an object');
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!PROXY_KEYS.has(key)) throw new TypeError(`Unknown proxy option: ${key}`);
  }

  const { proxyType, proxyAddress, proxyPort, proxyUsername, proxyPassword } = record;
  if (typeof proxyType !== 'string') throw new TypeError('proxyOptions.proxyType must be a string');
  const type = PROXY_TYPES.find((t) => t === proxyType.trim().toUpperCase());
  if (type === undefined)
    throw new ValueError(`Invalid proxyOptions.proxyType "${proxyType}": use HTTP, SOCKS4 or SOCKS5`);

  if (typeof proxyAddress !== 'string') throw new TypeError('proxyOptions.proxyAddress must be a string');
  const address = proxyAddress.trim();
  if (address === '' || /\s/.test(address))
    throw new ValueError('proxyOptions.proxyAddress must be a host name or IP address');

  let port: number;
  if (typeof proxyPort === 'number') port = proxyPort;
  else if (typeof proxyPort === 'string' && /^\s*\d+\s*$/.test(proxyPort)) port = Number(proxyPort);
  else if (typeof proxyPort === 'string') throw new ValueError(`Invalid proxyOptions.proxyPort "${proxyPort}"`);
  else throw new TypeError('proxyOptions.proxyPort must be a number');
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ValueError(`proxyOptions.proxyPort ${port} is outside 1..65535`);

  const result: ProxyOptions = { proxyType: type, proxyAddress: address, proxyPort: port };
  if (proxyUsername !== undefined && proxyUsername !== null) {
    if (typeof proxyUsername !== 'string') throw new TypeError('proxyOptions.proxyUsername must be a string');
    if (proxyUsername !== '') result.proxyUsername = proxyUsername;
  }
  if (proxyPassword !== undefined && proxyPassword !== null) {
    if (typeof proxyPassword !== 'string') throw new TypeError('proxyOptions.proxyPassword must be a string');
    if (proxyPassword !== '') result.proxyPassword = proxyPassword;
  }
  if (result.proxyPassword !== undefined && result.proxyUsername === undefined) {
    throw new ValueError('proxyOptions.proxyPassword needs a proxyUsername');
  }
  if (type === 'SOCKS5') {
    // RFC 1929 carries each field with a one-byte length.
    if (result.proxyUsername !== undefined && Buffer.byteLength(result.proxyUsername) > 255)
      throw new ValueError('proxyOptions.proxyUsername is longer than 255 bytes (SOCKS5)');
    if (result.proxyPassword !== undefined && Buffer.byteLength(result.proxyPassword) > 255)
      throw new ValueError('proxyOptions.proxyPassword is longer than 255 bytes (SOCKS5)');
  }
  if (type === 'SOCKS4' && result.proxyUsername?.includes('\0'))
    throw new ValueError('proxyOptions.proxyUsername must not contain NUL (SOCKS4)');
  return result;
}

/**
 * Opens a raw TCP connection to `targetHost:targetPort` through the proxy; the caller adds TLS / WebSocket on top.
 * The returned socket is paused, has no listeners of ours left, and holds any bytes the proxy sent after its
 * handshake reply (unshifted back into the stream).
 * @param signal aborts the handshake: the socket is destroyed and the promise rejects with `signal.reason`.
 * @throws ConnectionFailedError (code `proxy-error`, retryable) when the proxy cannot be reached, drops the
 *   connection, or reports that the target could not be reached (HTTP status on `statusCode`).
 * @throws CredentialError (code `proxy-error`, so that it is not mistaken for the hub refusing the SAS token or
 *   certificate) when the proxy refuses the credentials (HTTP 407, SOCKS5 method/auth refusal, SOCKS4 identd refusal).
 * @throws ClientError (code `proxy-error`) when the proxy's answer is malformed or the request cannot be expressed
 *   in its protocol (IPv6 target through SOCKS4, host name longer than 255 bytes through SOCKS5).
 */
export async function openProxyTunnel(
  proxy: ProxyOptions,
  targetHost: string,
  targetPort: number,
  signal?: AbortSignal,
): Promise<net.Socket> {
  signal?.throwIfAborted();
  const host = stripBrackets(targetHost);
  const socket = net.connect({ host: proxy.proxyAddress, port: proxy.proxyPort });
  const reader = new HandshakeReader(socket, `${proxy.proxyType} proxy ${proxy.proxyAddress}:${proxy.proxyPort}`);
  const onAbort = (): void =>
    reader.fail(
      signal?.reason instanceof Error ? signal.reason : new Error('Proxy tunnel aborted', { cause: signal?.reason }),
    );
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await reader.connected();
    if (proxy.proxyType === 'HTTP') await httpConnect(reader, proxy, host, targetPort);
    else if (proxy.proxyType === 'SOCKS4') await socks4Connect(reader, proxy, host, targetPort);
    else await socks5Connect(reader, proxy, host, targetPort);
    reader.release();
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function protocolError(what: string, detail: string): ClientError {
  return new ClientError(`${what}: ${detail}`, { code: 'proxy-error', cause: new Error(detail) });
}

/** Buffers what the proxy sends during the handshake and hands it out by length or delimiter. */
class HandshakeReader {
  private buffer: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private isConnected = false;

  constructor(
    private readonly socket: net.Socket,
    readonly what: string,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.once('connect', this.onConnect);
  }

  private readonly onConnect = (): void => {
    this.isConnected = true;
    this.poke();
  };

  private readonly onData = (chunk: Buffer): void => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.poke();
  };

  private readonly onError = (err: Error): void => {
    this.fail(new ConnectionFailedError(`${this.what}: ${err.message}`, { code: 'proxy-error', cause: err }));
  };

  private readonly onEnd = (): void => {
    this.fail(
      new ConnectionFailedError(`${this.what} closed the connection during the handshake`, {
        code: 'proxy-error',
        cause: new Error('Connection closed by proxy'),
      }),
    );
  };

  fail(err: Error): void {
    this.failure ??= err;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async waitFor(ready: () => boolean): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (ready()) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  connected(): Promise<void> {
    return this.waitFor(() => this.isConnected);
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  async read(n: number): Promise<Buffer> {
    await this.waitFor(() => this.buffer.length >= n);
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Reads through `delimiter` (inclusive); more than `max` bytes without it is a protocol error. */
  async readUntil(delimiter: string, max: number): Promise<Buffer> {
    let index = -1;
    await this.waitFor(() => {
      index = this.buffer.indexOf(delimiter);
      if (index < 0 && this.buffer.length > max) throw protocolError(this.what, `reply head longer than ${max} bytes`);
      return index >= 0;
    });
    return this.read(index + delimiter.length);
  }

  /** Stops reading, removes our listeners and puts back what arrived after the handshake. */
  release(): void {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    if (this.buffer.length > 0) this.socket.unshift(this.buffer);
    this.buffer = Buffer.alloc(0);
  }
}

function authority(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

async function httpConnect(reader: HandshakeReader, proxy: ProxyOptions, host: string, port: number): Promise<void> {
  const target = authority(host, port);
  let request = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  if (proxy.proxyUsername !== undefined) {
    const credentials = Buffer.from(`${proxy.proxyUsername}:${proxy.proxyPassword ?? ''}`, 'utf8').toString('base64');
    request += `Proxy-Authorization: Basic ${credentials}\r\n`;
  }
  reader.write(`${request}\r\n`);

  const head = (await reader.readUntil('\r\n\r\n', MAX_HTTP_HEAD)).toString('latin1');
  const statusLine = head.slice(0, head.indexOf('\r\n'));
  const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!match) throw protocolError(reader.what, `not an HTTP reply: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const status = Number(match[1]);
  if (status >= 200 && status < 300) return;
  const cause = new Error(statusLine);
  if (status === 407)
    throw new CredentialError(`${reader.what} refused the credentials (${statusLine})`, {
      code: 'proxy-error',
      statusCode: status,
      cause,
    });
  throw new ConnectionFailedError(`${reader.what} refused CONNECT ${target} (${statusLine})`, {
    code: 'proxy-error',
    statusCode: status,
    cause,
  });
}

const SOCKS4_REPLIES: Record<number, string> = {
  0x5b: 'request rejected or failed',
  0x5c: 'identd not reachable',
  0x5d: 'identd could not confirm the user id',
};

async function socks4Connect(reader: HandshakeReader, proxy: ProxyOptions, host: string, port: number): Promise<void> {
  if (net.isIPv6(host)) throw protocolError(reader.what, 'SOCKS4 cannot reach an IPv6 address');
  const user = Buffer.from(proxy.proxyUsername ?? '', 'utf8');
  const header = Buffer.alloc(8);
  header[0] = 0x04; // version
  header[1] = 0x01; // CONNECT
  header.writeUInt16BE(port, 2);
  const parts: Buffer[] = [header, user, Buffer.from([0])];
  if (net.isIPv4(host)) {
    host.split('.').forEach((octet, i) => (header[4 + i] = Number(octet)));
  } else {
    // SOCKS4a: the address 0.0.0.x (x ≠ 0) asks the proxy to resolve the host name sent after the user id.
    header.writeUInt32BE(1, 4);
    parts.push(Buffer.from(host, 'utf8'), Buffer.from([0]));
  }
  reader.write(Buffer.concat(parts));

  const reply = await reader.read(8);
  // The reply version is 0 per the protocol; some servers echo 4.
  if (reply[0] !== 0x00 && reply[0] !== 0x04)
    throw protocolError(reader.what, `unexpected SOCKS4 reply version ${reply[0]}`);
  const code = reply[1]!;
  if (code === 0x5a) return;
  const text = SOCKS4_REPLIES[code] ?? `unknown reply 0x${code.toString(16)}`;
  const cause = new Error(`SOCKS4 reply 0x${code.toString(16)}: ${text}`);
  if (code === 0x5c || code === 0x5d)
    throw new CredentialError(`${reader.what} refused the user id (${text})`, { code: 'proxy-error', cause });
  if (code === 0x5b)
    throw new ConnectionFailedError(`${reader.what} could not connect to ${authority(host, port)} (${text})`, {
      code: 'proxy-error',
      cause,
    });
  throw protocolError(reader.what, text);
}

const SOCKS5_REPLIES: Record<number, string> = {
  0x01: 'general SOCKS server failure',
  0x02: 'connection not allowed by ruleset',
  0x03: 'network unreachable',
  0x04: 'host unreachable',
  0x05: 'connection refused',
  0x06: 'TTL expired',
  0x07: 'command not supported',
  0x08: 'address type not supported',
};
/** Reply codes that mean "the target could not be reached right now" rather than "this request can never work". */
const SOCKS5_TRANSIENT = new Set([0x01, 0x03, 0x04, 0x05, 0x06]);

async function socks5Connect(reader: HandshakeReader, proxy: ProxyOptions, host: string, port: number): Promise<void> {
  const withAuth = proxy.proxyUsername !== undefined;
  // Offer "no authentication" always, and RFC 1929 username/password when we have credentials.
  reader.write(Buffer.from(withAuth ? [0x05, 0x02, 0x00, 0x02] : [0x05, 0x01, 0x00]));
  const choice = await reader.read(2);
  if (choice[0] !== 0x05) throw protocolError(reader.what, `unexpected SOCKS version ${choice[0]} in method reply`);
  const method = choice[1]!;
  if (method === 0xff) {
    throw new CredentialError(
      `${reader.what} accepts none of the offered authentication methods ` +
        `(${withAuth ? 'none, username/password' : 'none'})`,
      { code: 'proxy-error', cause: new Error('SOCKS5 method 0xFF') },
    );
  }
  if (method === 0x02 && withAuth) {
    const user = Buffer.from(proxy.proxyUsername ?? '', 'utf8');
    const pass = Buffer.from(proxy.proxyPassword ?? '', 'utf8');
    reader.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
    const status = await reader.read(2);
    if (status[1] !== 0x00)
      throw new CredentialError(`${reader.what} refused the username/password`, {
        code: 'proxy-error',
        cause: new Error(`SOCKS5 auth status 0x${status[1]!.toString(16)}`),
      });
  } else if (method !== 0x00) {
    throw protocolError(
      reader.what,
      `proxy chose an authentication method that was not offered (0x${method.toString(16)})`,
    );
  }

  let address: Buffer;
  if (net.isIPv4(host)) {
    address = Buffer.from([0x01, ...host.split('.').map(Number)]);
  } else if (net.isIPv6(host)) {
    address = Buffer.concat([Buffer.from([0x04]), ipv6Bytes(host)]);
  } else {
    // Domain-name addressing: the proxy resolves the name (no DNS leak on the client side).
    const name = Buffer.from(host, 'utf8');
    if (name.length > 255) throw protocolError(reader.what, 'host name longer than 255 bytes');
    address = Buffer.concat([Buffer.from([0x03, name.length]), name]);
  }
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  reader.write(Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), address, portBytes]));

  const head = await reader.read(4);
  if (head[0] !== 0x05) throw protocolError(reader.what, `unexpected SOCKS version ${head[0]} in connect reply`);
  const rep = head[1]!;
  if (rep !== 0x00) {
    const text = SOCKS5_REPLIES[rep] ?? `unknown reply 0x${rep.toString(16)}`;
    const cause = new Error(`SOCKS5 reply 0x${rep.toString(16)}: ${text}`);
    const message = `${reader.what} could not connect to ${authority(host, port)} (${text})`;
    if (SOCKS5_TRANSIENT.has(rep)) throw new ConnectionFailedError(message, { code: 'proxy-error', cause });
    throw new ClientError(message, { code: 'proxy-error', cause });
  }
  // Skip the bound address and port; their length depends on the address type.
  const atyp = head[3];
  if (atyp === 0x01) await reader.read(4 + 2);
  else if (atyp === 0x04) await reader.read(16 + 2);
  else if (atyp === 0x03) await reader.read((await reader.read(1))[0]! + 2);
  else throw protocolError(reader.what, `unknown address type ${atyp} in connect reply`);
}

/** The 16 bytes of an IPv6 address (handles `::` and an embedded IPv4 tail). */
function ipv6Bytes(address: string): Buffer {
  let text = address.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    text =
      text.slice(0, -v4[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [left, right] = text.includes('::') ? text.split('::') : [text, undefined];
  const head = left ? left.split(':') : [];
  const tail = right ? right.split(':') : [];
  const groups =
    right === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

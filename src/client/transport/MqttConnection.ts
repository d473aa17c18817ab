// One MQTT 3.1.1 network connection to the hub (TLS or WSS, optional proxy, SAS or X.509): the only mqtt.js user.
// Each (re)connect is a fresh connection built from the current settings; the client layer owns retry and resend.
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import { MqttClient, type IClientOptions } from 'mqtt';
import WebSocket from 'ws';
import type { Duplex } from 'node:stream';
import { openProxyTunnel, type ProxyOptions } from './proxy';
import { ConnectionDroppedError, OperationCancelled, OperationTimeout } from '../errors';
import { mapTransportError } from '../errorMapping';
import { clientTlsOptions, type ClientTlsSettings } from './tlsOptions';

/** Everything needed to open one connection. */
export interface MqttConnectionSettings {
  /** The host dialled (gateway if set) and its port. */
  host: string;
  port: number;
  websockets: boolean;
  clientId: string;
  username: string;
  /** SAS token; absent for X.509. */
  password?: string;
  /** Seconds. */
  keepAlive: number;
  /** PEM; when given the ONLY trust anchor, else the system CAs. */
  ca?: string;
  /** OpenSSL cipher list (already normalised); '' = Node's default. */
  cipher?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
  proxy?: ProxyOptions;
  /** CONNACK watchdog, ms. */
  connectTimeoutMs: number;
}

/** Events of a live connection. */
export interface MqttConnectionEvents {
  message: [topic: string, payload: Buffer];
  /** The connection is gone (for good: open a new one). `error` is absent for a close we asked for. */
  close: [error: Error | undefined];
}

/** TLS options shared by MQTT/TLS and WSS (the one builder is in tlsOptions.ts). */
export function tlsOptions(s: MqttConnectionSettings): tls.ConnectionOptions {
  const settings: ClientTlsSettings = { host: s.host, port: s.port };
  if (s.ca) settings.ca = s.ca;
  if (s.cipher) settings.cipher = s.cipher;
  if (s.cert) settings.cert = s.cert;
  if (s.key) settings.key = s.key;
  if (s.passphrase) settings.passphrase = s.passphrase;
  if (s.websockets) settings.alpn = ['http/1.1'];
  return clientTlsOptions(settings);
}

function openTls(s: MqttConnectionSettings, tunnel: net.Socket | undefined): tls.TLSSocket {
  const options = tlsOptions(s);
  if (tunnel) options.socket = tunnel;
  const socket = tls.connect(options);
  // Nagle off: twin and method-response publishes are small and latency-bound; with Nagle on they wait ~40 ms
  // for the hub's delayed ACK. Throughput does not suffer: mqtt.js writes whole packets.
  socket.setNoDelay(true);
  return socket;
}

/**
 * Opens the byte stream MQTT runs over. `onOpen` is called once the TLS handshake (and for WSS the WebSocket
 * upgrade) is done: from then on the CONNECT is on its way and a close is a dropped connection, not a failed one.
 */
function openStream(
  s: MqttConnectionSettings,
  tunnel: net.Socket | undefined,
  onRawError: (e: Error) => void,
  onOpen: () => void,
): Duplex {
  if (!s.websockets) {
    const socket = openTls(s, tunnel);
    socket.on('error', onRawError);
    socket.once('secureConnect', onOpen);
    return socket;
  }
  const hostPart = net.isIPv6(s.host) ? `[${s.host}]` : s.host;
  const url = `wss://${hostPart}:${s.port}/$iothub/websocket`;
  let tlsSocket: tls.TLSSocket | undefined;
  const ws = new WebSocket(url, ['mqtt'], {
    perMessageDeflate: false,
    handshakeTimeout: s.connectTimeoutMs,
    // Our own TLS socket (possibly over the proxy tunnel) so trust, SNI, ciphers and client cert are ours.
    createConnection: () => {
      tlsSocket = openTls(s, tunnel);
      tlsSocket.on('error', onRawError);
      return tlsSocket;
    },
  });
  ws.on('error', onRawError);
  ws.once('open', onOpen);
  const stream = WebSocket.createWebSocketStream(ws, {});
  // One frame per flush: mqtt-packet writes a packet in pieces between cork and uncork, and the ws stream would send
  // each piece as a frame of its own. (Writable converts strings to Buffers before _writev.)
  stream._writev = (chunks, done) =>
    stream._write(Buffer.concat(chunks.map(({ chunk }) => chunk as Buffer)), 'binary', done);
  // ws's stream only ends when the hub closes the WebSocket (it never emits 'close' by itself), and mqtt.js waits for
  // 'close': without this a drop over WSS went unnoticed until the keep-alive or the connect timeout.
  stream.once('end', () => stream.destroy());
  stream.on('close', () => tlsSocket?.destroy());
  return stream;
}

interface Pending {
  reject: (e: Error) => void;
}

const PUBLISH_QOS1 = { qos: 1 as const };

function noop(): void {
  // mqtt.js debug output switched off
}

/**
 * The error of a connection that closed before its CONNACK. Once the stream was open the CONNECT had gone out: a
 * close or reset then is a ConnectionDroppedError, as the Python SDK reports a connection lost while a connect is
 * pending. Before that (refused, unreachable, TLS failure) it is mapped as a failed connect.
 */
function closedBeforeConnack(cause: Error | undefined, streamOpen: boolean): Error {
  if (cause === undefined) {
    return streamOpen
      ? new ConnectionDroppedError('Connection closed by the hub before CONNACK')
      : mapTransportError(new Error('Connection closed before CONNACK'), true);
  }
  if (streamOpen && mapTransportError(cause) instanceof ConnectionDroppedError) {
    return new ConnectionDroppedError('Connection lost before CONNACK', { cause });
  }
  return mapTransportError(cause, true);
}

/** A live MQTT connection. Create with {@link MqttConnection.open}. */
export class MqttConnection extends EventEmitter<MqttConnectionEvents> {
  private closed = false;
  private closing = false;
  private readonly pending = new Set<Pending>();
  private lastRawError: Error | undefined;
  /** Publishes sent minus PUBACKs received (counted without a closure per publish). */
  private unacked = 0;

  private constructor(private readonly client: MqttClient) {
    super();
  }

  /**
   * Opens the network connection (proxy tunnel, TLS / WebSocket), sends CONNECT and waits for CONNACK.
   * @throws CredentialError / ConnectionFailedError / ClientError mapped from the failure (errorMapping.ts);
   * OperationTimeout when no CONNACK arrives in time; OperationCancelled when `signal` aborts.
   */
  static async open(s: MqttConnectionSettings, signal?: AbortSignal): Promise<MqttConnection> {
    if (signal?.aborted) throw new OperationCancelled('Connect cancelled');
    const watchdog = AbortSignal.timeout(s.connectTimeoutMs);
    const both = signal ? AbortSignal.any([signal, watchdog]) : watchdog;
    let tunnel: net.Socket | undefined;
    if (s.proxy) {
      try {
        tunnel = await openProxyTunnel(s.proxy, s.host, s.port, both);
      } catch (err) {
        if (signal?.aborted) throw new OperationCancelled('Connect cancelled', { cause: err });
        if (watchdog.aborted) throw new OperationTimeout('Timed out connecting through the proxy', { cause: err });
        throw mapTransportError(err, true);
      }
    }
    let rawError: Error | undefined;
    let streamOpen = false;
    const options: IClientOptions = {
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      clientId: s.clientId,
      username: s.username,
      keepalive: s.keepAlive,
      reconnectPeriod: 0,
      connectTimeout: s.connectTimeoutMs * 2,
      resubscribe: false,
      queueQoSZero: false,
      manualConnect: true,
      // Per-packet costs we do not need (about 1.5 µs of CPU per publish together): re-arming the ping timer on
      // every packet (PINGREQ then simply goes every keepalive period), and mqtt.js's debug logging unless asked
      // for with DEBUG=mqttjs*.
      reschedulePings: false,
    };
    if (!/mqttjs/.test(process.env.DEBUG ?? '')) options.log = noop;
    if (s.password !== undefined) options.password = s.password;
    const client = new MqttClient(
      () =>
        openStream(
          s,
          tunnel,
          (e) => (rawError ??= e),
          () => (streamOpen = true),
        ),
      options,
    );
    const connection = new MqttConnection(client);
    // An mqtt.js client must always have an 'error' listener, or a reset kills the process.
    client.on('error', (e) => {
      connection.lastRawError ??= e;
      // mqtt.js reports a malformed packet (bad remaining length, reserved flags, invalid SUBACK code…) or an
      // acknowledgement of the wrong type but keeps the connection, whose byte stream can then no longer be trusted.
      // A protocol violation closes the network connection (MQTT-4.8.0-1); the session reconnects.
      if (!connection.closing && !connection.closed) client.end(true);
    });
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        client.removeListener('connect', onConnect);
        client.removeListener('close', onClose);
        both.removeEventListener('abort', onAbort);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(closedBeforeConnack(connection.lastRawError ?? rawError, streamOpen));
      };
      const onAbort = (): void => {
        cleanup();
        client.end(true);
        if (signal?.aborted) reject(new OperationCancelled('Connect cancelled'));
        else reject(new OperationTimeout(`No CONNACK within ${s.connectTimeoutMs} ms`));
      };
      client.on('connect', onConnect);
      client.on('close', onClose);
      both.addEventListener('abort', onAbort, { once: true });
      try {
        client.connect();
      } catch (err) {
        // tls.connect throws synchronously for bad options (e.g. a cipher list that matches nothing).
        cleanup();
        tunnel?.destroy();
        reject(mapTransportError(err, true));
      }
    });
    connection.lastRawError = undefined;
    rawError = undefined;
    client.on('message', (topic, payload) => connection.emit('message', topic, payload));
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback' && connection.unacked > 0) connection.unacked -= 1;
    });
    client.on('close', () => connection.onClosed(connection.lastRawError ?? rawError));
    return connection;
  }

  private onClosed(raw: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    const error = this.closing
      ? undefined
      : raw
        ? mapTransportError(raw)
        : new ConnectionDroppedError('Connection lost');
    const dropped = error ?? new ConnectionDroppedError('Connection closed');
    const failure =
      dropped instanceof ConnectionDroppedError
        ? dropped
        : new ConnectionDroppedError('Connection lost', { cause: dropped });
    const pending = [...this.pending];
    this.pending.clear();
    for (const p of pending) p.reject(failure);
    // With clean=false and no reconnect, mqtt.js keeps unacknowledged publishes (and their callbacks) forever;
    // fail them now, like its own _flush() does for clean sessions, so the caller can resend them.
    const outgoing = this.client.outgoing;
    for (const id of Object.keys(outgoing)) {
      const entry = outgoing[Number(id)];
      delete outgoing[Number(id)];
      if (entry && typeof entry.cb === 'function') entry.cb(failure, undefined);
    }
    this.client.end(true);
    this.emit('close', error);
  }

  get isOpen(): boolean {
    return !this.closed && !this.closing;
  }

  /** Number of publishes / subscribes waiting for their acknowledgement. */
  get inFlight(): number {
    return this.pending.size + this.unacked;
  }

  private track<T>(start: (done: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
    if (!this.isOpen) return Promise.reject(new ConnectionDroppedError('Connection is closed'));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const entry: Pending = {
        reject: (e) => {
          if (settled) return;
          settled = true;
          reject(e);
        },
      };
      this.pending.add(entry);
      start((err, value) => {
        if (settled) return;
        settled = true;
        this.pending.delete(entry);
        if (err)
          reject(this.closed ? new ConnectionDroppedError('Connection lost', { cause: err }) : mapTransportError(err));
        else resolve(value as T);
      });
    });
  }

  /**
   * QoS 1 PUBLISH; resolves on PUBACK.
   * @throws ConnectionDroppedError when the connection goes away before PUBACK (the caller may resend).
   */
  publish(topic: string, payload: Buffer | string): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.publishCb(topic, payload, (err) => (err ? reject(this.publishError(err)) : resolve())),
    );
  }

  /**
   * Callback form of {@link publish} for the hot path (no promise per message). `done` is called exactly once:
   * without an error on PUBACK, with ConnectionDroppedError when the connection goes away first.
   */
  publishCb(topic: string, payload: Buffer | string, done: (err?: Error) => void): void {
    if (!this.isOpen) {
      done(new ConnectionDroppedError('Connection is closed'));
      return;
    }
    // No bookkeeping or closure of our own per publish (hot path): mqtt.js keeps `done` in `client.outgoing` until
    // PUBACK and onClosed() fails whatever is left there. Raw mqtt.js errors reach `done` unmapped: map them with
    // {@link MqttConnection.publishError}.
    this.unacked += 1;
    this.client.publish(topic, payload, PUBLISH_QOS1, done);
  }

  /** Maps an error passed to a {@link publishCb} callback: ConnectionDroppedError once the connection is gone. */
  publishError(err: Error): Error {
    if (err instanceof ConnectionDroppedError) return err;
    return this.closed || this.closing
      ? new ConnectionDroppedError('Connection lost', { cause: err })
      : mapTransportError(err);
  }

  /**
   * SUBSCRIBE (QoS 1) to every topic in one packet; resolves with the granted QoS per topic (128 = refused).
   * @throws ConnectionDroppedError when the connection goes away before SUBACK.
   */
  subscribe(topics: string[]): Promise<number[]> {
    const map: Record<string, { qos: 1 }> = {};
    for (const t of topics) map[t] = { qos: 1 };
    return this.track<number[]>((done) =>
      this.client.subscribe(map, (err, granted) => {
        if (err) {
          // mqtt.js turns a SUBACK with a failure code (0x80) into an error; its SUBACK still has one code per topic
          // (in SUBSCRIBE order), which is what the caller needs to disable just the refused features.
          const codes = (err as { packet?: { granted?: unknown } }).packet?.granted;
          if (Array.isArray(codes) && codes.length === topics.length) {
            return done(
              null,
              codes.map((c) => (typeof c === 'number' && c < 0x80 ? c : 128)),
            );
          }
          return done(err);
        }
        const byTopic = new Map((granted ?? []).map((g) => [g.topic, g.qos]));
        done(
          null,
          topics.map((t) => byTopic.get(t) ?? 128),
        );
      }),
    );
  }

  /** UNSUBSCRIBE; resolves on UNSUBACK. */
  unsubscribe(topics: string[]): Promise<void> {
    return this.track<void>((done) => this.client.unsubscribe(topics, (err) => done(err ?? null)));
  }

  /**
   * Closes the connection. Graceful: waits (at most `timeoutMs`) for outstanding acknowledgements, then sends
   * DISCONNECT; otherwise (or on timeout) the socket is destroyed. Outstanding operations then fail with
   * ConnectionDroppedError so the caller can resend them on the next connection.
   */
  async close(graceful: boolean, timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    const gone = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (graceful) {
      const deadline = Date.now() + timeoutMs;
      if (this.inFlight > 0 && !this.closed) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            this.client.removeListener('packetreceive', check);
            this.removeListener('close', done);
            resolve();
          };
          const check = (): void => {
            if (this.inFlight === 0) done();
          };
          const t = setTimeout(done, timeoutMs);
          this.client.on('packetreceive', check);
          this.once('close', done);
        });
      }
      if (!this.closed) {
        if (this.inFlight === 0) {
          const t = setTimeout(() => this.client.end(true), Math.max(0, deadline - Date.now()) + 100);
          this.client.end(false, {}, () => clearTimeout(t));
        } else this.client.end(true);
      }
    } else this.client.end(true);
    await gone;
  }
}

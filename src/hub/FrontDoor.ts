// The local hub's front door: the TLS port or ports (MQTT over TLS, MQTT over WSS and HTTPS told apart by the first
// byte), the optional plain MQTT port, and tracking of every socket so stop() can close them.
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { ConnectRecord } from './types';

/** How a connection reached the hub: written here, read when its CONNECT is decided. */
export interface ConnectionInfo {
  transport: ConnectRecord['transport'];
  /** The TLS socket underneath (for the client certificate), for `mqtts` and `wss`. */
  tlsSocket?: tls.TLSSocket;
}

/** Connection info by the stream aedes is given (the socket, or the WebSocket stream). */
export type ConnectionTable = WeakMap<object, ConnectionInfo>;

/** What the front door needs. */
export interface FrontDoorOptions {
  serverCert: string;
  serverKey: string;
  bindAddress: string;
  /** Whether to open the plain-TCP MQTT port too. */
  plainMqtt: boolean;
  /** Serves HTTPS requests (service REST API, module-to-module methods). */
  http: http.RequestListener;
  /** Takes an MQTT connection (after its info is in `connections`). */
  mqtt(conn: Duplex, req?: http.IncomingMessage): void;
  connections: ConnectionTable;
  /** How long the TLS handshake, then the first byte, may take before the connection is closed. */
  silenceTimeoutMs: number;
}

/** The listeners and every socket they accepted. */
export class FrontDoor {
  /** One TLS server per TLS port (two on the standard ports), all serving everything. */
  private readonly tlsServers: tls.Server[] = [];
  private readonly plainServer: net.Server | undefined;
  private readonly httpServer: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly options: FrontDoorOptions) {
    this.httpServer = http.createServer(options.http);
    this.wss = new WebSocketServer({
      noServer: true,
      // IoT Hub's WebSocket endpoint speaks the `mqtt` subprotocol.
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
    });
    this.httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    if (options.plainMqtt) {
      this.plainServer = net.createServer((socket) => {
        this.track(socket);
        options.connections.set(socket, { transport: 'mqtt' });
        options.mqtt(socket);
      });
    }
  }

  private createTlsServer(): tls.Server {
    const server = tls.createServer({
      cert: this.options.serverCert,
      key: this.options.serverKey,
      minVersion: 'TLSv1.2',
      handshakeTimeout: this.options.silenceTimeoutMs,
      // Ask for a client certificate so X.509 identities can authenticate; SAS clients send none.
      requestCert: true,
      rejectUnauthorized: false,
    });
    server.on('secureConnection', (socket) => this.onTlsSocket(socket));
    // With a listener attached Node leaves the socket open (a handshake timeout included): close it.
    server.on('tlsClientError', (_err, socket) => socket.destroy());
    server.on('connection', (socket: net.Socket) => this.onTcpSocket(socket));
    return server;
  }

  /**
   * Listens on the TLS ports (and the plain MQTT port when there is one and `plainPort` is given); 0 = any free port.
   * Every TLS port serves MQTT, WSS and HTTPS alike: the standard ports are two (8883 and 443), the default one.
   * @returns the ports listened on, in the order given.
   * @throws when a port cannot be listened on (ports already listening stay so: {@link stopListening} closes them).
   */
  async listen(tlsPorts: number[], plainPort: number | undefined): Promise<{ tlsPorts: number[]; plainPort?: number }> {
    const listenOn = (server: net.Server, p: number): Promise<number> =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(p, this.options.bindAddress, () => {
          server.off('error', onError);
          resolve((server.address() as net.AddressInfo).port);
        });
      });
    while (this.tlsServers.length < tlsPorts.length) this.tlsServers.push(this.createTlsServer());
    const ports: { tlsPorts: number[]; plainPort?: number } = { tlsPorts: [] };
    for (const [i, port] of tlsPorts.entries()) ports.tlsPorts.push(await listenOn(this.tlsServers[i]!, port));
    if (this.plainServer && plainPort !== undefined) ports.plainPort = await listenOn(this.plainServer, plainPort);
    return ports;
  }

  /**
   * Stops accepting connections on every port that listens (so a start that failed half-way still releases its
   * ports). Resolves once the servers are closed, which needs {@link destroyConnections}.
   */
  stopListening(): Promise<void> {
    const closing = [...this.tlsServers, this.plainServer]
      .filter((server): server is net.Server => !!server?.listening)
      .map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    return Promise.all(closing).then(() => undefined);
  }

  /** Destroys every socket still open and terminates every WebSocket. */
  destroyConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    for (const ws of this.wss.clients) ws.terminate();
  }

  /** Releases the WebSocket server for good. */
  close(): void {
    this.wss.close();
  }

  private track(socket: net.Socket): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    // Nagle off, as on IoT Hub's front ends: with it on, every request/response exchange (twin, method) stalls
    // ~40 ms waiting for the peer's delayed ACK.
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /**
   * A TCP connection to the TLS port. Node's handshake timeout only runs once a ClientHello has begun, so a peer that
   * connects and sends nothing is closed here.
   */
  private onTcpSocket(socket: net.Socket): void {
    this.track(socket);
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, this.options.silenceTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  /**
   * One TLS port for everything: after the handshake the first byte tells MQTT (CONNECT = 0x10) from HTTP
   * (a request line, or the WebSocket upgrade that then carries MQTT).
   */
  private onTlsSocket(socket: tls.TLSSocket): void {
    this.track(socket);
    // A peer that completes the handshake and then says nothing would hold the socket forever.
    socket.setTimeout(this.options.silenceTimeoutMs, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === 0x10) {
        this.options.connections.set(socket, { transport: 'mqtts', tlsSocket: socket });
        this.options.mqtt(socket);
      } else {
        this.httpServer.emit('connection', socket);
      }
      socket.resume();
    });
  }

  /** MQTT over WebSocket lives at `/$iothub/websocket` (as on IoT Hub); any other upgrade gets 404. */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== '/$iothub/websocket' && pathname !== '/%24iothub/websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = framePerFlush(createWebSocketStream(ws));
      stream.on('error', () => undefined);
      this.options.connections.set(stream, { transport: 'wss', tlsSocket: req.socket as tls.TLSSocket });
      this.options.mqtt(stream, req);
    });
  }
}

/**
 * Sends what is written in one flush as one WebSocket frame. mqtt-packet writes a packet in pieces between cork and
 * uncork, and ws's stream would send each piece as a frame of its own (a CONNACK as four 1-byte frames).
 */
function framePerFlush(stream: Duplex): Duplex {
  stream._writev = (chunks, done) =>
    stream._write(Buffer.concat(chunks.map(({ chunk }) => chunk as Buffer)), 'binary', done);
  return stream;
}

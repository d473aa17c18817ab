// A test-only TLS MQTT 3.1.1 server that answers like a broker (CONNACK, SUBACK, PUBACK, PINGRESP) but lets a test
// send the client anything: hostile publishes, wrong acknowledgements, malformed bytes, a close mid-packet.
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import * as mqttPacket from 'mqtt-packet';
import { generateHubTls, type HubTlsMaterial } from '../../src/hub/certs';
import { publishPacket } from '../helpers/mqttWire';

/** How the server answers; every field may be changed between (and during) tests. */
export interface Behaviour {
  /** CONNACK return code, 'none' to never answer the CONNECT, 'close' to close the connection instead. */
  connack: number | 'none' | 'close';
  /** SUBACK codes for the topics of a SUBSCRIBE, or 'none' to never answer it. Default: grant QoS 1 to each. */
  suback: (topics: string[]) => number[] | 'none';
  /** Whether client publishes (QoS 1) are acknowledged. */
  puback: boolean;
  /** Whether PINGREQs are answered. */
  pingresp: boolean;
  /** Called for every publish the client sends, after the PUBACK (answer twin requests here). */
  onPublish: (peer: Peer, packet: mqttPacket.IPublishPacket) => void;
}

/** The default twin document the server answers GETs with. */
export const DEFAULT_TWIN = { desired: { $version: 1 }, reported: { $version: 1 } };

/** `$rid` of a request topic (`…/?$rid=…`), undefined when absent. */
export function ridOf(topic: string): string | undefined {
  const match = /[?&]\$rid=([^&]*)/.exec(topic);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

function defaults(): Behaviour {
  return {
    connack: 0,
    suback: (topics) => topics.map(() => 1),
    puback: true,
    pingresp: true,
    onPublish: (peer, packet) => {
      const rid = ridOf(packet.topic);
      if (packet.topic.startsWith('$iothub/twin/GET/') && rid !== undefined) {
        peer.publish(`$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify(DEFAULT_TWIN));
      } else if (packet.topic.startsWith('$iothub/twin/PATCH/properties/reported/') && rid !== undefined) {
        peer.publish(`$iothub/twin/res/204/?$rid=${rid}&$version=2`, '');
      }
    },
  };
}

/** One client connection as the server sees it. */
export class Peer extends EventEmitter<{ packet: [mqttPacket.Packet]; close: [] }> {
  /** PUBLISH packets the client sent, in order. */
  readonly published: mqttPacket.IPublishPacket[] = [];
  /** SUBSCRIBE packets received. */
  readonly subscribes: mqttPacket.ISubscribePacket[] = [];
  connect: mqttPacket.IConnectPacket | undefined;
  closed = false;
  private nextId = 1;

  constructor(
    readonly socket: tls.TLSSocket,
    private readonly behaviour: () => Behaviour,
  ) {
    super();
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet) => this.handle(packet));
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  /** Sends a generated packet. */
  send(packet: mqttPacket.Packet): void {
    this.raw(mqttPacket.generate(packet));
  }

  /** Writes raw bytes. */
  raw(bytes: Buffer): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(bytes);
  }

  /** Publishes to the client (QoS 1 unless told otherwise; the client's PUBACK is not awaited). */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): void {
    const packet: mqttPacket.IPublishPacket = { cmd: 'publish', topic, payload, qos, dup: false, retain: false };
    if (qos > 0) packet.messageId = this.allocateId();
    this.send(packet);
  }

  /** A QoS 1 PUBLISH encoded by hand, so that the topic may be any bytes (e.g. invalid UTF-8). */
  publishRawTopic(topic: Buffer, payload: Buffer): void {
    this.raw(publishPacket(topic, payload, 1, this.allocateId()));
  }

  /** Destroys the connection without DISCONNECT. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves with the next client publish matching `match`, or rejects after `timeoutMs`. */
  nextPublish(match: (p: mqttPacket.IPublishPacket) => boolean, timeoutMs = 5000): Promise<mqttPacket.IPublishPacket> {
    const seen = this.published.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.removeListener('packet', onPacket);
        reject(new Error('timed out waiting for a client publish'));
      }, timeoutMs);
      const onPacket = (p: mqttPacket.Packet): void => {
        if (p.cmd !== 'publish' || !match(p)) return;
        clearTimeout(timer);
        this.removeListener('packet', onPacket);
        resolve(p);
      };
      this.on('packet', onPacket);
    });
  }

  private allocateId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId % 65535) + 1;
    return id;
  }

  private handle(packet: mqttPacket.Packet): void {
    const b = this.behaviour();
    switch (packet.cmd) {
      case 'connect':
        this.connect = packet;
        if (b.connack === 'close') this.destroy();
        else if (b.connack !== 'none') this.send({ cmd: 'connack', returnCode: b.connack, sessionPresent: false });
        break;
      case 'subscribe': {
        this.subscribes.push(packet);
        const codes = b.suback(packet.subscriptions.map((s) => s.topic));
        if (codes !== 'none') this.send({ cmd: 'suback', messageId: packet.messageId!, granted: codes as never });
        break;
      }
      case 'unsubscribe':
        this.send({ cmd: 'unsuback', messageId: packet.messageId!, granted: [] });
        break;
      case 'pingreq':
        if (b.pingresp) this.send({ cmd: 'pingresp' });
        break;
      case 'publish':
        this.published.push(packet);
        if (packet.qos > 0 && b.puback) this.send({ cmd: 'puback', messageId: packet.messageId! });
        b.onPublish(this, packet);
        break;
      default:
        break;
    }
    this.emit('packet', packet);
  }
}

/** The hostile server: one TLS listener on 127.0.0.1 (port 0), trusted through {@link HostileServer.caCert}. */
export class HostileServer {
  behaviour: Behaviour = defaults();
  readonly peers: Peer[] = [];
  private readonly emitter = new EventEmitter<{ peer: [Peer] }>();

  private constructor(
    private readonly server: tls.Server,
    private readonly material: HubTlsMaterial,
  ) {
    server.on('secureConnection', (socket) => {
      const peer = new Peer(socket, () => this.behaviour);
      this.peers.push(peer);
      peer.once('packet', () => this.emitter.emit('peer', peer));
    });
    server.on('tlsClientError', () => undefined);
  }

  static async start(material?: HubTlsMaterial): Promise<HostileServer> {
    const tlsMaterial = material ?? (await generateHubTls('Hostile'));
    const server = tls.createServer({ key: tlsMaterial.serverKey, cert: tlsMaterial.serverCert });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new HostileServer(server, tlsMaterial);
  }

  get caCert(): string {
    return this.material.caCert;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Back to broker-like answers, and every connection closed. */
  reset(): void {
    this.behaviour = defaults();
    for (const p of this.peers.splice(0)) p.destroy();
  }

  /** Resolves with the `index`-th connection (0-based, since the last reset) once its CONNECT arrived. */
  nextPeer(index: number, timeoutMs = 5000): Promise<Peer> {
    const ready = this.peers.filter((p) => p.connect);
    if (ready.length > index) return Promise.resolve(ready[index]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.emitter.removeListener('peer', onPeer);
        reject(new Error('timed out waiting for a client connection'));
      }, timeoutMs);
      const onPeer = (): void => {
        const now = this.peers.filter((p) => p.connect);
        if (now.length <= index) return;
        clearTimeout(timer);
        this.emitter.removeListener('peer', onPeer);
        resolve(now[index]!);
      };
      this.emitter.on('peer', onPeer);
    });
  }

  async close(): Promise<void> {
    for (const p of this.peers.splice(0)) p.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// A raw MQTT connection over TLS that writes hand-made packets and records every packet the hub sends back.
import { once } from 'node:events';
import tls from 'node:tls';
import { splitPackets, type WirePacket } from './mqttWire';

/** A raw MQTT connection over TLS that records every packet the hub sends. */
export class RawMqtt {
  readonly packets: WirePacket[] = [];
  private pending: Buffer = Buffer.alloc(0);
  private closedFlag = false;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      const { packets, rest } = splitPackets(Buffer.concat([this.pending, chunk]));
      this.pending = rest;
      this.packets.push(...packets);
      socket.emit('packets');
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.closedFlag = true;
      socket.emit('packets');
    });
  }

  /** Opens TLS to `port` (trusting `ca`), handshake done. */
  static async open(port: number, ca: string): Promise<RawMqtt> {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const raw = new RawMqtt(socket);
    await once(socket, 'secureConnect', { signal: AbortSignal.timeout(5000) });
    return raw;
  }

  /** Whether the hub closed the connection. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Writes bytes (one write: the hub reads them together). */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The first recorded packet that `match` accepts, waiting up to `ms` for it. */
  async next(match: (p: WirePacket) => boolean, what: string, ms = 5000): Promise<WirePacket> {
    const signal = AbortSignal.timeout(ms);
    for (;;) {
      const found = this.packets.find(match);
      if (found) return found;
      if (this.closedFlag) throw new Error(`connection closed before ${what}`);
      try {
        await once(this.socket, 'packets', { signal });
      } catch {
        throw new Error(`timed out waiting for ${what}`);
      }
    }
  }

  /** Closes the connection and waits for it to be gone. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    const gone = once(this.socket, 'close');
    this.socket.destroy();
    await gone;
  }
}

// Typed access to the few aedes internals the local hub relies on (they are not in aedes' public typings).
import type { Aedes, Client } from 'aedes';
import type { EventEmitter } from 'node:events';

/** A packet aedes keeps in a persistent session's outgoing queue. */
export interface StoredPacket {
  topic: string;
  payload: Buffer;
  messageId?: number;
  /** Absolute expiry (ms) the hub stamps on input messages; survives aedes' packet copies. */
  messageExpiry?: number;
}

/** The parts of aedes' persistence the hub uses: stored subscriptions and outgoing queues of sessions. */
export interface SessionStore {
  subscriptionsByClient(client: { id: string }): Promise<Array<{ topic: string; qos: number }>>;
  outgoingStream(client: { id: string }): AsyncIterable<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: StoredPacket): Promise<unknown>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
}

/** The subscription a live client holds for exactly this filter, or undefined. */
export function subscriptionOf(client: Client, filter: string): { qos: number } | undefined {
  return (client as unknown as { subscriptions: Record<string, { qos: number } | undefined> }).subscriptions[filter];
}

/** Whether aedes has written this client's CONNACK (its `connackSent` flag). */
export function connackWritten(client: Client): boolean {
  return (client as unknown as { connackSent?: boolean }).connackSent === true;
}

/** The broker's session store (subscriptions and queued messages of every session, online or not). */
export function sessionStoreOf(broker: Aedes): SessionStore {
  return (broker as unknown as { persistence: SessionStore }).persistence;
}

/** Every client the broker holds a connection for. */
export function connectedClientsOf(broker: Aedes): Client[] {
  return Object.values((broker as unknown as { clients: Record<string, Client> }).clients);
}

/**
 * Caps the QoS a client requests in its SUBSCRIBEs at 1, as each packet is parsed.
 * IoT Hub grants at most QoS 1; aedes computes the SUBACK from the requested QoS before authorizeSubscribe runs,
 * so the cap must happen before aedes sees the packet. The original request stays in `requestedQos` for the
 * observation log.
 */
export function capSubscribeQos(client: Client): void {
  const parser = (client as unknown as { _parser?: EventEmitter })._parser;
  parser?.prependListener('packet', (packet: { cmd: string; subscriptions?: Array<{ qos: number; requestedQos?: number }> }) => {
    if (packet.cmd !== 'subscribe') return;
    for (const sub of packet.subscriptions ?? []) {
      if (sub.qos <= 1) continue;
      sub.requestedQos = sub.qos;
      sub.qos = 1;
    }
  });
}

/** The parts of mqtt-packet's parser {@link limitPacketSize} works with. */
interface PacketParser {
  packet: { length: number };
  _parseLength(): boolean;
  _emitError(err: Error): void;
}

/**
 * Makes the client's MQTT parser refuse a packet whose remaining length is over `maxBytes` as soon as its fixed
 * header is read, which closes the connection (aedes closes on a parser error).
 * Why: mqtt-packet has no size limit and buffers a whole packet before aedes sees it, so without this a peer that
 * declares a 256 MiB packet holds its connection (and the memory it streams) until it stops sending; IoT Hub closes
 * the connection on any packet over its limit.
 */
export function limitPacketSize(client: Client, maxBytes: number): void {
  const parser = (client as unknown as { _parser?: PacketParser })._parser;
  // A future mqtt-packet without these internals keeps working, only without the early limit.
  if (typeof parser?._parseLength !== 'function' || typeof parser._emitError !== 'function') return;
  const parseLength = parser._parseLength;
  parser._parseLength = function (this: PacketParser): boolean {
    const done = parseLength.call(this);
    if (done && this.packet.length > maxBytes) {
      this._emitError(new Error(`MQTT packet of ${this.packet.length} bytes is over the ${maxBytes}-byte limit`));
      return false;
    }
    return done;
  };
}

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
  parser?.prependListener(
    'packet',
    (packet: { cmd: string; subscriptions?: Array<{ qos: number; requestedQos?: number }> }) => {
      if (packet.cmd !== 'subscribe') return;
      for (const sub of packet.subscriptions ?? []) {
        if (sub.qos <= 1) continue;
        sub.requestedQos = sub.qos;
        sub.qos = 1;
      }
    },
  );
}

/** The parts of mqtt-packet's parser {@link limitPacketSize} works with. */
interface PacketParser {
  packet: { length: number };
  _parseLength: (this: PacketParser) => boolean;
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

/** A packet as mqtt-packet parsed it, with the fields the hub may rewrite before aedes handles it. */
export interface ParsedPacket {
  cmd: string;
  topic?: string;
  subscriptions?: Array<{ topic: string; qos: number }>;
  unsubscriptions?: string[];
}

/** The parts of an aedes client {@link handlePacketsInOrder} works with. */
interface BatchingClient {
  _parser?: EventEmitter;
  /** aedes' "a packet is handled" callback: when none is left in flight it reads the next batch from the socket. */
  _nextBatch?: (err?: Error | null) => void;
  /** Packets of the current batch still being handled. */
  _parsingBatch?: number;
}

/** Packets that change what later packets see: handled alone, after every packet before them and before any after. */
const ORDERING_PACKETS = new Set(['connect', 'subscribe', 'unsubscribe']);

/**
 * Makes aedes handle this client's packets in the order they arrived where the order matters: a CONNECT, SUBSCRIBE
 * or UNSUBSCRIBE is handled once every packet before it is done, and the packets after it wait until it is done;
 * other packets (publishes, acknowledgements) are handled as they come, as aedes does.
 * Why: aedes hands every packet of a read to its handlers at once and a SUBSCRIBE completes asynchronously (the
 * session store saves it first), so a PUBLISH sent right after a SUBSCRIBE, without waiting for the SUBACK (the
 * Python SDK does this), could be handled before the subscription exists. IoT Hub handles a connection's packets in
 * order. Each waiting packet holds aedes' batch count, so the socket is not read further until all are handled.
 * @param prepare runs on each packet just before aedes handles it (after the CONNECT was handled).
 */
export function handlePacketsInOrder(client: Client, prepare: (packet: ParsedPacket) => void = () => undefined): void {
  const c = client as unknown as BatchingClient;
  const parser = c._parser;
  const nextBatch = c._nextBatch;
  // A future aedes without these internals keeps working, only without the ordering.
  if (!parser || typeof nextBatch !== 'function' || typeof c._parsingBatch !== 'number') return;
  const handlers = parser.listeners('packet') as Array<(packet: unknown) => void>;
  parser.removeAllListeners('packet');
  const waiting: ParsedPacket[] = [];
  let inFlight = 0;
  let orderingInFlight = false;
  let pumping = false;
  const pump = (): void => {
    // A packet handled synchronously calls back into pump: the loop below goes on with the next one instead.
    if (pumping) return;
    pumping = true;
    while (waiting.length > 0 && !orderingInFlight) {
      const packet = waiting[0]!;
      const ordering = ORDERING_PACKETS.has(packet.cmd);
      if (ordering && inFlight > 0) break;
      waiting.shift();
      inFlight++;
      if (ordering) orderingInFlight = true;
      prepare(packet);
      // Give back the hold taken when it was queued: aedes' handler counts the packet itself.
      c._parsingBatch!--;
      for (const handler of handlers) handler.call(parser, packet);
    }
    pumping = false;
  };
  parser.on('packet', (packet: ParsedPacket) => {
    c._parsingBatch!++;
    waiting.push(packet);
    pump();
  });
  c._nextBatch = (err?: Error | null): void => {
    inFlight--;
    if (inFlight <= 0) {
      inFlight = 0;
      orderingInFlight = false;
    }
    if (err) {
      // aedes closes the client on a handler error: drop what was waiting.
      waiting.length = 0;
      nextBatch(err);
      return;
    }
    pump();
    nextBatch();
  };
}

/**
 * The packet aedes' `authorizeForward` should forward, with another topic. Delivering live, aedes forwards a copy of
 * what the hook returns (the packet given is shared by every subscriber: copy it); replaying a session's queue after
 * CONNACK it writes the packet it gave the hook (a fresh one for this client, with a `writeCallback`: change it).
 */
export function forwardWithTopic<T extends { topic: string }>(packet: T, topic: string): T {
  if ('writeCallback' in packet) {
    packet.topic = topic;
    return packet;
  }
  return { ...packet, topic };
}

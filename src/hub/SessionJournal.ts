// The broker's MQTT sessions in a state directory: aedes' own in-memory session store (aedes-persistence, the one the
// in-memory hub uses) answers the broker, and every change that must survive a restart — subscriptions, the queues
// of QoS 1 messages to persistent sessions, wills — is also recorded in LevelDB, written behind in batches. The
// broker never waits on the disk for a read, and a queued message that is delivered and acknowledged before its
// batch is written is never written at all.
import { Readable } from 'node:stream';
import memoryPersistence from 'aedes-persistence';
import { WriteBehind, type BatchTarget } from './WriteBehind';

/** A client as the session store sees it. */
interface SessionClient {
  id: string;
}

/** A subscription as aedes stores it. */
interface StoredSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: number;
  nl?: number;
}

/** A QoS 1 message in a session's outgoing queue (an aedes-packet Packet). */
interface QueuedPacket {
  topic: string;
  payload: Buffer;
  qos: number;
  brokerId: string;
  brokerCounter: number;
  messageId?: number;
  [field: string]: unknown;
}

/** The aedes persistence methods the journal delegates to aedes' in-memory store (its promise forms). */
interface MemorySessions {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: { topic: string; payload: Buffer }): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  addSubscriptions(client: SessionClient, subs: StoredSubscription[]): Promise<void>;
  removeSubscriptions(client: SessionClient, topics: string[]): Promise<void>;
  subscriptionsByClient(client: SessionClient): Promise<StoredSubscription[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(topic: string): Promise<unknown[]>;
  cleanSubscriptions(client: SessionClient): Promise<void>;
  incomingStorePacket(client: SessionClient, packet: unknown): Promise<void>;
  incomingGetPacket(client: SessionClient, packet: unknown): Promise<unknown>;
  incomingDelPacket(client: SessionClient, packet: unknown): Promise<void>;
  cleanIncoming(client: SessionClient): Promise<void>;
  putWill(client: SessionClient, packet: { brokerId?: string }): Promise<void>;
  getWill(client: SessionClient): Promise<unknown>;
  delWill(client: SessionClient): Promise<unknown>;
  streamWill(brokers?: object): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;
}

/** The journal's database: a sublevel whose values are stored as given (the hub gives it a structured-clone codec). */
export interface JournalDb extends BatchTarget<unknown> {
  iterator(): AsyncIterable<[string, unknown]>;
}

/** aedes-packet's Packet, as aedes-persistence exports it: the copy of a message each session queues. */
const Packet = (memoryPersistence as unknown as { Packet: new (packet: QueuedPacket) => QueuedPacket }).Packet;

const SUBSCRIPTION = 'sub:';
const OUTGOING = 'out:';
const WILL = 'will:';
const RETAINED = 'ret:';

/** Client ids may hold any character but `:` is the separator after them: percent-encoded, ids never hold one. */
const clientKey = (prefix: string, clientId: string): string => `${prefix}${encodeURIComponent(clientId)}:`;
const subscriptionKey = (clientId: string, topic: string): string => `${clientKey(SUBSCRIPTION, clientId)}${topic}`;
/** Queue records sort in the order enqueued, whatever the broker's id (a new one at every start). */
const outgoingKey = (clientId: string, seq: number): string =>
  `${clientKey(OUTGOING, clientId)}${seq.toString().padStart(16, '0')}`;

/** The client id and the rest of a key made by {@link clientKey}. */
function splitKey(key: string, prefix: string): [string, string] {
  const end = key.indexOf(':', prefix.length);
  return [decodeURIComponent(key.slice(prefix.length, end)), key.slice(end + 1)];
}

/** A queued message and its record. */
interface QueueEntry {
  key: string;
  packet: QueuedPacket;
}

/**
 * An aedes persistence for a hub with a state directory. Reads are answered by aedes' in-memory store (or, for the
 * outgoing queues, by the journal's own queues, which follow aedes-persistence's rules); changes are recorded
 * behind. The calls whose result a client is told (a subscription granted — SUBACK, a will stored — CONNACK) resolve
 * once their record is in the database; queue changes resolve at once, and the hub waits for {@link settled} before
 * it acknowledges a message it put in a session (the PUBACK of a routed message, an HTTP response). A queue change
 * lost in a crash before its batch is written is a message delivered again (at least once), never one lost: its
 * enqueue is written before the hub acknowledged it. QoS 2 state (incoming) is not recorded: the hub refuses QoS 2
 * publishes, as IoT Hub does.
 */
export class SessionJournal {
  private readonly memory = memoryPersistence() as unknown as MemorySessions;
  private readonly journal: WriteBehind<unknown>;
  private readonly stored = new Set<string>();
  private readonly queues = new Map<string, QueueEntry[]>();
  private nextSeq = 1;

  constructor(
    private readonly db: JournalDb,
    onError: (err: Error) => void,
  ) {
    this.journal = new WriteBehind(db, onError, this.stored);
  }

  /** Resolves once every change recorded before this call is in the database (never rejects). */
  settled(): Promise<void> {
    return this.journal.settled();
  }

  /** Writes what is pending; later changes (a broker still closing its clients) are not written. */
  close(): Promise<void> {
    return this.journal.close();
  }

  /** aedes calls this once, before it accepts clients: the sessions recorded in an earlier run are restored. */
  async setup(broker: unknown): Promise<void> {
    await this.memory.setup(broker);
    const subscriptions = new Map<string, StoredSubscription[]>();
    for await (const [key, value] of this.db.iterator()) {
      this.stored.add(key);
      if (key.startsWith(SUBSCRIPTION)) {
        const [clientId, topic] = splitKey(key, SUBSCRIPTION);
        const list = subscriptions.get(clientId) ?? [];
        list.push({ ...(value as Omit<StoredSubscription, 'topic'>), topic });
        subscriptions.set(clientId, list);
      } else if (key.startsWith(OUTGOING)) {
        const [clientId, seq] = splitKey(key, OUTGOING);
        this.queueOf(clientId).push({ key, packet: value as QueuedPacket });
        this.nextSeq = Math.max(this.nextSeq, Number(seq) + 1);
      } else if (key.startsWith(WILL)) {
        const will = value as { brokerId?: string };
        const brokerId = will.brokerId;
        await this.memory.putWill({ id: decodeURIComponent(key.slice(WILL.length)) }, will);
        // The will keeps the id of the broker that died with its client, so that aedes publishes it.
        will.brokerId = brokerId;
      } else if (key.startsWith(RETAINED)) {
        await this.memory.storeRetained(value as { topic: string; payload: Buffer });
      }
    }
    for (const [id, subs] of subscriptions) await this.memory.addSubscriptions({ id }, subs);
  }

  // ---- subscriptions: stored before the SUBACK ----------------------------------------------------------------

  async addSubscriptions(client: SessionClient, subs: StoredSubscription[]): Promise<void> {
    await this.memory.addSubscriptions(client, subs);
    for (const { topic, qos, rh, rap, nl } of subs)
      this.journal.put(subscriptionKey(client.id, topic), { qos, rh, rap, nl });
    await this.journal.settled();
  }

  async removeSubscriptions(client: SessionClient, topics: string[]): Promise<void> {
    await this.memory.removeSubscriptions(client, topics);
    for (const topic of topics) this.journal.del(subscriptionKey(client.id, topic));
    await this.journal.settled();
  }

  async cleanSubscriptions(client: SessionClient): Promise<void> {
    const subs = await this.memory.subscriptionsByClient(client);
    await this.memory.cleanSubscriptions(client);
    for (const { topic } of subs) this.journal.del(subscriptionKey(client.id, topic));
    await this.journal.settled();
  }

  subscriptionsByClient(client: SessionClient): Promise<StoredSubscription[]> {
    return this.memory.subscriptionsByClient(client);
  }

  subscriptionsByTopic(topic: string): Promise<unknown[]> {
    return this.memory.subscriptionsByTopic(topic);
  }

  countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return this.memory.countOffline();
  }

  getClientList(topic: string): Readable {
    return this.memory.getClientList(topic);
  }

  // ---- outgoing queues: aedes-persistence's rules, each change recorded ----------------------------------------

  async outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void> {
    this.enqueue(sub.clientId, packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: QueuedPacket): Promise<void> {
    for (const sub of subs) this.enqueue(sub.clientId, packet);
  }

  /**
   * Records the packet id a queued message was sent with: the entry from the same broker and counter, or (a message
   * of an earlier run being sent again) the one from another broker with that packet id, is the one updated.
   * @throws Error 'no such packet' (as aedes-persistence) when none is.
   */
  async outgoingUpdate(client: SessionClient, packet: QueuedPacket): Promise<void> {
    for (const entry of this.queues.get(client.id) ?? []) {
      const queued = entry.packet;
      if (queued.brokerId === packet.brokerId) {
        if (queued.brokerCounter !== packet.brokerCounter) continue;
        queued.messageId = packet.messageId;
      } else if (queued.messageId === packet.messageId) {
        // aedes' packet being sent carries its write callback: the queue keeps a copy of the message alone.
        entry.packet = new Packet(packet);
        entry.packet.messageId = packet.messageId;
      } else {
        continue;
      }
      this.journal.put(entry.key, entry.packet);
      return;
    }
    throw new Error('no such packet');
  }

  /** Removes the queued message with this packet id (acknowledged) and returns it. */
  async outgoingClearMessageId(
    client: SessionClient,
    packet: { messageId?: number },
  ): Promise<QueuedPacket | undefined> {
    const queue = this.queues.get(client.id) ?? [];
    const i = queue.findIndex((entry) => entry.packet.messageId === packet.messageId);
    if (i === -1) return undefined;
    const [entry] = queue.splice(i, 1);
    if (queue.length === 0) this.queues.delete(client.id);
    this.journal.del(entry!.key);
    return entry!.packet;
  }

  outgoingStream(client: SessionClient): Readable {
    return Readable.from((this.queues.get(client.id) ?? []).map((entry) => entry.packet));
  }

  // ---- wills and retained messages: stored before they are acknowledged ---------------------------------------

  async putWill(client: SessionClient, packet: { brokerId?: string }): Promise<void> {
    await this.memory.putWill(client, packet);
    this.journal.put(`${WILL}${encodeURIComponent(client.id)}`, packet);
    await this.journal.settled();
  }

  getWill(client: SessionClient): Promise<unknown> {
    return this.memory.getWill(client);
  }

  async delWill(client: SessionClient): Promise<unknown> {
    const will = await this.memory.delWill(client);
    this.journal.del(`${WILL}${encodeURIComponent(client.id)}`);
    await this.journal.settled();
    return will;
  }

  streamWill(brokers?: object): Readable {
    return this.memory.streamWill(brokers);
  }

  /** The hub clears RETAIN on every publish (IoT Hub ignores it); kept for the persistence contract. */
  async storeRetained(packet: { topic: string; payload: Buffer }): Promise<void> {
    await this.memory.storeRetained(packet);
    if (packet.payload.length === 0) this.journal.del(`${RETAINED}${packet.topic}`);
    else this.journal.put(`${RETAINED}${packet.topic}`, { ...packet });
    await this.journal.settled();
  }

  createRetainedStream(pattern: string): Readable {
    return this.memory.createRetainedStream(pattern);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.memory.createRetainedStreamCombi(patterns);
  }

  // ---- QoS 2 (refused by the hub): in memory only ----------------------------------------------------------------

  incomingStorePacket(client: SessionClient, packet: unknown): Promise<void> {
    return this.memory.incomingStorePacket(client, packet);
  }

  incomingGetPacket(client: SessionClient, packet: unknown): Promise<unknown> {
    return this.memory.incomingGetPacket(client, packet);
  }

  incomingDelPacket(client: SessionClient, packet: unknown): Promise<void> {
    return this.memory.incomingDelPacket(client, packet);
  }

  cleanIncoming(client: SessionClient): Promise<void> {
    return this.memory.cleanIncoming(client);
  }

  destroy(): Promise<void> {
    return this.memory.destroy();
  }

  private enqueue(clientId: string, packet: QueuedPacket): void {
    // A copy per session, as aedes-persistence keeps (the broker's packet is shared by every subscriber).
    const entry: QueueEntry = { key: outgoingKey(clientId, this.nextSeq++), packet: new Packet(packet) };
    this.queueOf(clientId).push(entry);
    this.journal.put(entry.key, entry.packet);
  }

  private queueOf(clientId: string): QueueEntry[] {
    let queue = this.queues.get(clientId);
    if (!queue) {
      queue = [];
      this.queues.set(clientId, queue);
    }
    return queue;
  }
}

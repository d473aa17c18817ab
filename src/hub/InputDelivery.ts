// Delivery to module inputs with edgeHub's store-and-forward (held until the module subscribes, dropped after the
// time to live).
import type { Aedes, AedesPublishPacket, Client, Subscription } from 'aedes';
import { connackWritten, sessionStoreOf, subscriptionOf } from './aedesInternals';
import type { ClientSender } from './ClientSender';
import type { ClientTable } from './ClientTable';
import { inputTopic, inputsFilter, type HubIdentity } from './hubTopics';
import type { HubReport } from './hubReport';
import type { HubMessage } from './types';

/** A message kept by the hub for a module input until the module subscribes (or it expires). */
export interface QueuedInput {
  topic: string;
  payload: Buffer;
  expiresAtMs: number;
  /** Its record in the hub's state directory, when it has one. */
  stateKey?: string;
}

/**
 * Where held messages are kept (the hub's state directory): `kept` records one and resolves once it is stored,
 * `released` forgets one that was delivered, expired or discarded.
 */
export interface HeldInputSink {
  kept(target: string, item: QueuedInput): Promise<void>;
  released(item: QueuedInput): void;
}

/**
 * aedes `authorizeForward`, the store-and-forward TTL (edgeHub: 7200 s): a queued input message past its expiry is
 * dropped, not delivered.
 */
export function forwardUnlessExpired(_client: Client | null, packet: AedesPublishPacket): AedesPublishPacket | null {
  const expiry = (packet as { messageExpiry?: number }).messageExpiry;
  return expiry !== undefined && expiry <= Date.now() ? null : packet;
}

/**
 * Delivers messages to module inputs at QoS 1 (edgeHub store-and-forward): through the broker when the module is
 * subscribed (live, or offline with a persistent session), else in the hub's own per-module queue until it
 * subscribes. Messages older than the time to live are dropped, not delivered.
 */
export class InputDelivery {
  private readonly queues = new Map<string, QueuedInput[]>();
  private sink: HeldInputSink | undefined;

  constructor(
    private readonly broker: Aedes,
    private readonly sender: ClientSender,
    private readonly clients: Pick<ClientTable, 'get'>,
    private readonly report: HubReport,
    private readonly ttlMs: number,
  ) {}

  /**
   * Delivers to `devices/{d}/modules/{m}/inputs/{i}/{bag}` at QoS 1: live when the module is subscribed, through
   * its persistent session when it is offline but subscribed, else kept in a per-module queue (TTL) until it
   * subscribes to its inputs.
   */
  /** Puts back messages held in an earlier run (in order), then reports every held message to `sink`. */
  restore(held: Array<{ target: string; item: QueuedInput }>, sink: HeldInputSink): void {
    for (const { target, item } of held) {
      const queue = this.queues.get(target) ?? [];
      queue.push(item);
      this.queues.set(target, queue);
    }
    this.sink = sink;
  }

  async deliver(deviceId: string, moduleId: string, inputName: string, message: HubMessage): Promise<void> {
    const topic = inputTopic(deviceId, moduleId, inputName, message);
    const target = `${deviceId}/${moduleId}`;
    this.report.observed.counters.routed++;
    this.report.events.emit('routed', { target, inputName, message });
    this.report.log(`${target} input ${inputName} <- ${message.body.length} bytes`);
    const filter = inputsFilter(deviceId, moduleId);
    const live = this.clients.get(target);
    const expiresAtMs = Date.now() + this.ttlMs;
    // Behind messages already held for this module a new one waits its turn (they go out in order at the flush).
    if ((live && !connackWritten(live)) || this.queues.get(target)?.length)
      return this.hold(target, topic, message.body, expiresAtMs);
    if (live && subscriptionOf(live, filter)) {
      await this.publish(target, topic, message.body, expiresAtMs);
      return;
    }
    let stored: boolean;
    try {
      const subs = await sessionStoreOf(this.broker).subscriptionsByClient({ id: target });
      stored = subs.some((s) => s.topic === filter && s.qos > 0);
    } catch {
      stored = false;
    }
    const nowLive = this.clients.get(target);
    if (nowLive && !connackWritten(nowLive)) return this.hold(target, topic, message.body, expiresAtMs);
    if (stored || (nowLive && subscriptionOf(nowLive, filter))) {
      await this.publish(target, topic, message.body, expiresAtMs);
      return;
    }
    await this.hold(target, topic, message.body, expiresAtMs);
  }

  /**
   * Keeps a message in the module's queue until it is ready and subscribed. Also used while the module is between
   * its CONNECT and its CONNACK: a publish through the broker then reaches the session twice (aedes writes it to the
   * new connection and again when it replays the session's queue after the CONNACK), so it waits for
   * {@link onClientReady} instead.
   */
  private hold(target: string, topic: string, payload: Buffer, expiresAtMs: number): Promise<void> {
    const now = Date.now();
    const queue: QueuedInput[] = [];
    for (const q of this.queues.get(target) ?? []) {
      if (q.expiresAtMs > now) queue.push(q);
      else this.sink?.released(q);
    }
    const item: QueuedInput = { topic, payload, expiresAtMs };
    queue.push(item);
    this.queues.set(target, queue);
    return this.sink ? this.sink.kept(target, item) : Promise.resolve();
  }

  /** Messages stored for a module that had never subscribed go out once it has (a restored session counts). */
  onClientReady(client: Client, identity: HubIdentity): void {
    if (identity.moduleId !== undefined && subscriptionOf(client, inputsFilter(identity.deviceId, identity.moduleId))) {
      this.flush(client.id);
    }
  }

  /** Sends the module's queued messages when it has just been granted its inputs subscription. */
  onSubscribed(client: Client, identity: HubIdentity, subs: Subscription[]): void {
    if (identity.moduleId === undefined) return;
    const filter = inputsFilter(identity.deviceId, identity.moduleId);
    if (subs.some((s) => s.topic === filter && (s.qos as number) !== 0x80)) this.flush(client.id);
  }

  /**
   * Takes back a message the broker had queued in a session that is being cleared, to deliver once the module
   * subscribes again; one without an expiry gets the full time to live from now.
   */
  keep(target: string, topic: string, payload: Buffer, expiresAtMs?: number): void {
    const queue = this.queues.get(target) ?? [];
    const item: QueuedInput = { topic, payload, expiresAtMs: expiresAtMs ?? Date.now() + this.ttlMs };
    queue.push(item);
    this.queues.set(target, queue);
    void this.sink?.kept(target, item);
  }

  /** Drops everything queued for a module (its identity was removed). */
  discard(target: string): void {
    for (const item of this.queues.get(target) ?? []) this.sink?.released(item);
    this.queues.delete(target);
  }

  /** Publishes the held messages; each is released from the state directory once the broker has taken it. */
  private flush(target: string): void {
    const queue = this.queues.get(target);
    if (!queue) return;
    this.queues.delete(target);
    const now = Date.now();
    for (const item of queue) {
      if (item.expiresAtMs <= now) {
        this.sink?.released(item);
        continue;
      }
      void this.publish(target, item.topic, item.payload, item.expiresAtMs).then(() => this.sink?.released(item));
    }
  }

  /**
   * Publishes an input message through the broker (live subscribers, and the offline queue of persistent sessions).
   * `messageExpiry` (absolute ms) survives aedes' packet copies and is checked in the broker's `authorizeForward`.
   */
  private publish(clientId: string, topic: string, payload: Buffer, expiresAtMs: number): Promise<void> {
    return this.sender.inOrder(
      clientId,
      () =>
        new Promise<void>((resolve) => {
          const packet = {
            cmd: 'publish' as const,
            topic,
            payload,
            qos: 1 as const,
            retain: false,
            dup: false,
            messageExpiry: expiresAtMs,
          };
          this.broker.publish(packet, () => resolve());
        }),
    );
  }
}

// Sending to clients: per-client ordered sends (publishes, twin and method answers) through the broker.
import type { Client, PublishPacket } from 'aedes';
import { connackWritten, subscriptionOf } from './aedesInternals';
import type { HubReport } from './hubReport';

/** Publishes to clients one send at a time per client, in the order asked. */
export class ClientSender {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly report: Pick<HubReport, 'log'>) {}

  /**
   * Runs sends to one client one after the other, each awaiting its callback (aedes can drop a QoS 1 publish that
   * is followed at once by a QoS 0 one to the same persistent session).
   */
  inOrder(clientId: string, send: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(clientId) ?? Promise.resolve();
    const next = prev.then(send, send);
    this.chains.set(clientId, next);
    void next.then(() => {
      if (this.chains.get(clientId) === next) this.chains.delete(clientId);
    });
    return next;
  }

  /**
   * Publishes to one client only, at the QoS it subscribed `filter` with (at most 1). Like IoT Hub, nothing is sent
   * to a client that has not subscribed (method requests, desired patches).
   */
  send(client: Client, filter: string, topic: string, payload: Buffer): Promise<void> {
    return this.publishTo(client, filter, topic, payload, false);
  }

  /**
   * Answers a client's own request (a twin GET or reported PATCH) on that connection: at the QoS it subscribed
   * `filter` with, or at QoS 0 when it has not subscribed. IoT Hub answers a connection's own twin request whether
   * or not it subscribed to `$iothub/twin/res/#`: the Python SDK's first twin GET after connecting relies on it.
   */
  answer(client: Client, filter: string, topic: string, payload: Buffer): Promise<void> {
    return this.publishTo(client, filter, topic, payload, true);
  }

  private publishTo(
    client: Client,
    filter: string,
    topic: string,
    payload: Buffer,
    unsubscribed: boolean,
  ): Promise<void> {
    return this.inOrder(
      client.id,
      () =>
        new Promise<void>((resolve) => {
          const sub = subscriptionOf(client, filter);
          // Before its CONNACK is written a client is not online yet (a PUBLISH must not precede the CONNACK).
          if (client.closed || !connackWritten(client) || (!sub && !unsubscribed)) {
            this.report.log(`${client.id}: not online or not subscribed to ${filter}, ${topic} not sent`);
            return resolve();
          }
          const qos = Math.min(sub?.qos ?? 0, 1) as 0 | 1;
          const packet: PublishPacket = { cmd: 'publish', topic, payload, qos, retain: false, dup: false };
          client.publish(packet, () => resolve());
        }),
    );
  }
}

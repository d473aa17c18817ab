// Losing the MQTT sessions on an edgeHub-style restart, while keeping the messages queued for module inputs.
import type { SessionStore, StoredPacket } from './aedesInternals';
import { parseClientId } from './auth';
import type { InputDelivery } from './InputDelivery';
import { identityPrefix } from './hubTopics';

/**
 * Clears the broker sessions of these client ids: their subscriptions are forgotten (clients must subscribe again)
 * and their outgoing queues emptied; queued module-input messages move to the hub's own store-and-forward queue,
 * to be delivered once the module subscribes again.
 */
export async function clearSessions(
  store: SessionStore,
  clientIds: Iterable<string>,
  inputs: Pick<InputDelivery, 'keep'>,
): Promise<void> {
  for (const id of clientIds) {
    const client = { id };
    const queued: StoredPacket[] = [];
    for await (const packet of store.outgoingStream(client)) queued.push(packet as StoredPacket);
    const inputsPrefix = `${identityPrefix(parseClientId(id) ?? { deviceId: id })}/inputs/`;
    for (const packet of queued) {
      await store.outgoingClearMessageId(client, packet);
      if (!packet.topic.startsWith(inputsPrefix)) continue;
      inputs.keep(id, packet.topic, packet.payload, packet.messageExpiry);
    }
    await store.cleanSubscriptions(client);
  }
}

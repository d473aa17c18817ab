// What the local hub saw (B9): CONNECTs, publishes, subscriptions, $upstream messages and counters, for tests.
import type { ConnectRecord, HubMessage, HubObservations, PublishRecord, SubscriptionRecord } from './types';

type Counters = HubObservations['counters'];

function zero(): Counters {
  return { connects: 0, refused: 0, disconnects: 0, publishes: 0, upstream: 0, routed: 0, methodCalls: 0 };
}

/** The observation log; arrays and counters grow until `clear()`. */
export class Observations implements HubObservations {
  readonly connects: ConnectRecord[] = [];
  readonly publishes: PublishRecord[] = [];
  readonly subscriptions: SubscriptionRecord[] = [];
  readonly upstream: HubMessage[] = [];
  readonly counters: Counters = zero();

  clear(): void {
    this.connects.length = 0;
    this.publishes.length = 0;
    this.subscriptions.length = 0;
    this.upstream.length = 0;
    Object.assign(this.counters, zero());
  }
}

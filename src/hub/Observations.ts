// What the local hub saw (a local-hub-only test aid): CONNECTs, publishes, subscriptions, $upstream messages and
// counters, for tests.
import type { ConnectRecord, HubMessage, HubObservations, PublishRecord, SubscriptionRecord } from './types';

type Counters = HubObservations['counters'];

function zero(): Counters {
  return { connects: 0, refused: 0, disconnects: 0, publishes: 0, upstream: 0, routed: 0, methodCalls: 0 };
}

/** Default of `LocalHubOptions.observationLimit`: far above what a test records, low enough for a hub left running. */
export const DEFAULT_OBSERVATION_LIMIT = 10_000;

type ListName = 'connects' | 'publishes' | 'subscriptions' | 'upstream';

/**
 * The observation log: counters grow until `clear()`; each array keeps its newest `limit` entries (a hub left running
 * for days — the CLI, `npm start` — must not keep every publish and its payload).
 *
 * Recording is on the hub's hot path (every publish), so the oldest entries are dropped in batches: a list may hold up
 * to twice `limit` entries internally, and is cut to exactly `limit` when read. Dropping one entry per publish from
 * the front of a full 10,000-entry array moved the whole array each time (≈17 % of the hub's CPU under load).
 */
export class Observations implements HubObservations {
  private readonly lists: { [K in ListName]: Array<HubObservations[K][number]> } = {
    connects: [],
    publishes: [],
    subscriptions: [],
    upstream: [],
  };
  readonly counters: Counters = zero();
  private readonly limit: number;

  /** @param limit entries kept per array (oldest dropped first); at least 1. */
  constructor(limit: number = DEFAULT_OBSERVATION_LIMIT) {
    this.limit = Math.max(1, Math.floor(limit));
  }

  get connects(): ConnectRecord[] {
    return this.read('connects');
  }
  get publishes(): PublishRecord[] {
    return this.read('publishes');
  }
  get subscriptions(): SubscriptionRecord[] {
    return this.read('subscriptions');
  }
  get upstream(): HubMessage[] {
    return this.read('upstream');
  }

  /** Appends to one of the arrays; its oldest entries beyond the limit are dropped (in batches, see above). */
  record<K extends ListName>(list: K, entry: HubObservations[K][number]): void {
    const target = this.lists[list] as Array<HubObservations[K][number]>;
    target.push(entry);
    if (target.length >= 2 * this.limit) target.splice(0, target.length - this.limit);
  }

  clear(): void {
    for (const list of Object.values(this.lists)) list.length = 0;
    Object.assign(this.counters, zero());
  }

  private read<K extends ListName>(list: K): HubObservations[K] {
    const target = this.lists[list] as HubObservations[K];
    if (target.length > this.limit) target.splice(0, target.length - this.limit);
    return target;
  }
}

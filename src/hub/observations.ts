// What the local hub saw (B9): CONNECTs, publishes, subscriptions, $upstream messages and counters, for tests; and
// the one place the hub's parts report to (log line, event, observation).
import type { EventEmitter } from 'node:events';
import type { ConnectRecord, HubEvents, HubMessage, HubObservations, PublishRecord, SubscriptionRecord } from './types';

type Counters = HubObservations['counters'];

function zero(): Counters {
  return { connects: 0, refused: 0, disconnects: 0, publishes: 0, upstream: 0, routed: 0, methodCalls: 0 };
}

/** Default of `LocalHubOptions.observationLimit`: far above what a test records, low enough for a hub left running. */
export const DEFAULT_OBSERVATION_LIMIT = 10_000;

/**
 * The observation log: counters grow until `clear()`; each array keeps its newest `limit` entries (a hub left running
 * for days — the CLI, `npm start` — must not keep every publish and its payload).
 */
export class Observations implements HubObservations {
  readonly connects: ConnectRecord[] = [];
  readonly publishes: PublishRecord[] = [];
  readonly subscriptions: SubscriptionRecord[] = [];
  readonly upstream: HubMessage[] = [];
  readonly counters: Counters = zero();

  /** @param limit entries kept per array (oldest dropped first); at least 1. */
  constructor(private readonly limit: number = DEFAULT_OBSERVATION_LIMIT) {
    this.limit = Math.max(1, Math.floor(limit));
  }

  /** Appends to one of the arrays, dropping its oldest entries beyond the limit. */
  record<K extends 'connects' | 'publishes' | 'subscriptions' | 'upstream'>(list: K, entry: this[K][number]): void {
    const target = this[list] as Array<this[K][number]>;
    target.push(entry);
    if (target.length > this.limit) target.splice(0, target.length - this.limit);
  }

  clear(): void {
    this.connects.length = 0;
    this.publishes.length = 0;
    this.subscriptions.length = 0;
    this.upstream.length = 0;
    Object.assign(this.counters, zero());
  }
}

/** Where the hub's parts report what happens: the optional log, the public events and the observation log. */
export interface HubReport {
  /** One human-readable line; never throws. */
  log(line: string): void;
  readonly events: EventEmitter<HubEvents>;
  readonly observed: Observations;
}

/** The hub's report: `log` forwards to the optional logger and swallows its failures (a failing logger must not break the hub). */
export function createHubReport(log: ((line: string) => void) | undefined, events: EventEmitter<HubEvents>, observed: Observations): HubReport {
  return {
    log(line: string): void {
      try {
        log?.(line);
      } catch {
        // A failing logger must not break the hub.
      }
    },
    events,
    observed,
  };
}

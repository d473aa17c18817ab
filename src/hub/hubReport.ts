// The one place the local hub's parts report to: a log line, a public event, an observation.
import type { EventEmitter } from 'node:events';
import type { Observations } from './Observations';
import type { HubEvents } from './types';

/** Where the hub's parts report what happens: the optional log, the public events and the observation log. */
export interface HubReport {
  /** One human-readable line; never throws. */
  log(line: string): void;
  readonly events: EventEmitter<HubEvents>;
  readonly observed: Observations;
}

/**
 * The hub's report: `log` forwards to the optional logger and swallows its failures (a failing logger must not break
 * the hub).
 */
export function createHubReport(
  log: ((line: string) => void) | undefined,
  events: EventEmitter<HubEvents>,
  observed: Observations,
): HubReport {
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

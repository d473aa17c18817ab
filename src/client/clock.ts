// An injectable clock (time + timers) so renewal and back-off can be tested without waiting.

/** Time source and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** `keepAlive`: the timer keeps the process alive (default: it does not). */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Node's own clock. Timers are unref'd unless asked otherwise: a pending renewal or operation deadline never keeps
 * the process alive by itself (the socket does while connected); a reconnect wait does.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms, keepAlive = false) => {
    const t = setTimeout(fn, ms);
    if (!keepAlive) t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Largest delay Node's setTimeout accepts (about 24.8 days); longer waits are re-armed in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

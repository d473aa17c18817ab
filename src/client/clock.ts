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

/** A one-shot alarm at an absolute time, re-armed in steps when further away than {@link MAX_TIMER_MS}. */
export class Alarm {
  private handle: unknown;
  private armed = false;

  constructor(private readonly clock: Clock) {}

  /** Arms the alarm for absolute time `atMs` (replacing any armed one). A time in the past fires at once (async). */
  set(atMs: number, fn: () => void): void {
    this.cancel();
    this.armed = true;
    const step = (): void => {
      const wait = atMs - this.clock.now();
      if (wait > MAX_TIMER_MS) {
        this.handle = this.clock.setTimeout(step, MAX_TIMER_MS);
        return;
      }
      this.handle = this.clock.setTimeout(
        () => {
          this.armed = false;
          this.handle = undefined;
          fn();
        },
        Math.max(0, wait),
      );
    };
    step();
  }

  get isArmed(): boolean {
    return this.armed;
  }

  cancel(): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.handle = undefined;
    this.armed = false;
  }
}

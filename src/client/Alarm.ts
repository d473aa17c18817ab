// A one-shot alarm at an absolute time on an injectable clock (SAS token renewal, back-off waits).
import { MAX_TIMER_MS, type Clock } from './clock';

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

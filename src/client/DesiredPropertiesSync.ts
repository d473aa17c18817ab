// ensureDesiredProperties (the Python SDK's ensure_desired_properties, with the twin-response subscription made first):
// while desired patches are watched, remember the desired `$version` last seen and, after every (re)connect, re-read
// the twin and deliver the whole desired document when the version moved — patches sent while the client was away are
// otherwise lost.
import { twinDocument } from './incoming';
import type { TwinReply } from './TwinLedger';
import type { MqttConnection } from './transport/MqttConnection';

/** What the sync reads and where it delivers. */
export interface DesiredPropertiesSyncDeps {
  /** The live connection (undefined while not connected). */
  live(): MqttConnection | undefined;
  /** GETs the twin through the twin ledger. */
  readTwin(): Promise<TwinReply>;
  /** Hands a desired document or patch to the handler / inbox. */
  deliver(desired: Record<string, unknown>, full: boolean): void;
  /** Reports a failed re-read nobody awaits. */
  report(error: Error): void;
}

/** The desired-properties bookkeeping of one client. */
export class DesiredPropertiesSync {
  /** The desired `$version` last seen; -1 before any; null while desired patches are not watched. */
  private lastVersion: number | null = null;
  private running = false;

  constructor(
    private readonly enabled: boolean,
    private readonly deps: DesiredPropertiesSyncDeps,
  ) {}

  /** Desired patches are watched from now on; `subscribed` when they already were (the version is kept then). */
  watch(subscribed: boolean): void {
    if (!subscribed) this.lastVersion = -1;
  }

  /** Desired patches are no longer watched. */
  unwatch(): void {
    this.lastVersion = null;
  }

  /** A desired patch arrived: remember its version and deliver it. */
  patchReceived(patch: Record<string, unknown>): void {
    const version = patch.$version;
    if (typeof version === 'number' && this.lastVersion !== null) this.lastVersion = version;
    this.deps.deliver(patch, false);
  }

  /** After a (re)connect with the desired subscription in place: GET the twin, deliver the whole doc if it moved. */
  afterConnect(): void {
    if (!this.enabled || this.lastVersion === null || this.running) return;
    this.running = true;
    const connection = this.deps.live();
    this.deps
      .readTwin()
      .then(({ body }) => {
        const twin = twinDocument(body);
        const version = twin.desired.$version;
        if (this.lastVersion === null) return;
        if (version !== this.lastVersion) {
          this.lastVersion = version;
          this.deps.deliver(twin.desired, true);
        }
      })
      .catch((err: Error) => {
        // A failure because the connection went away again is not news: the next connect re-reads.
        if (connection && this.deps.live() === connection) this.deps.report(err);
      })
      .finally(() => {
        this.running = false;
      });
  }
}

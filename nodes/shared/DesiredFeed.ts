// The desired-properties feed of one client for the twin nodes: the full twin read once per client lifetime at the
// first connect (shared by every twin node), and desired patches passed on exactly once, in version order.
import type { IoTHubModuleClient, TwinDocument } from '../../src/index';

export class DesiredFeed {
  private twinOnce: Promise<TwinDocument> | null = null;
  private desiredVersion: number | undefined;

  /** Forgets the twin and the last version seen (a new client starts a new feed). */
  reset(): void {
    this.twinOnce = null;
    this.desiredVersion = undefined;
  }

  /** The full twin, read once per client (again after a failed read). */
  initialTwin(client: IoTHubModuleClient): Promise<TwinDocument> {
    let once = this.twinOnce;
    if (!once) {
      once = client.getTwin().then((doc: TwinDocument) => {
        this.desiredVersion = doc.desired.$version;
        return doc;
      });
      const current = once;
      current.catch(() => {
        if (this.twinOnce === current) this.twinOnce = null;
      });
      this.twinOnce = once;
    }
    return once;
  }

  /**
   * A desired patch (or, `info.full`, the whole desired document) from `client`; `deliver` runs at most once per
   * version, never for a version the twin nodes already have.
   */
  received(
    client: IoTHubModuleClient | null,
    patch: Record<string, unknown>,
    info: { full: boolean },
    deliver: () => void,
  ): void {
    const version = typeof patch.$version === 'number' ? patch.$version : undefined;
    const pass = (): void => {
      // The library re-delivers the whole desired document after a (re)connect; the twin nodes already got it
      // in the twin read at connect when the version has not moved.
      if (info.full && version !== undefined && version === this.desiredVersion) return;
      // Desired versions only grow: a patch at or below the last version seen is a re-delivery (QoS 1 after a
      // reconnect) and would reach the flow twice.
      if (!info.full && version !== undefined && this.desiredVersion !== undefined && version <= this.desiredVersion)
        return;
      if (version !== undefined) this.desiredVersion = version;
      deliver();
    };
    if (!info.full) return pass();
    // Order the full document after the connect-time twin read (starting it if the twin nodes have not yet), so
    // that the version comparison is deterministic.
    const twin = this.twinOnce ?? (client ? this.initialTwin(client) : null);
    if (twin) twin.then(pass, pass);
    else pass();
  }
}

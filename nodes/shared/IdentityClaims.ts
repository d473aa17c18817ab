// One connection per module identity in this Node-RED: IoT Hub (and edgeHub) close a module's connection when
// another one with the same identity connects (error 400027), so two config nodes of one identity would drop each
// other in turn for as long as both run. The first config node to make its client holds the identity; another one
// waits, saying which node holds it, and takes it when that node lets go (removed, or its flow nodes are).
import type { ClientIdentity } from '../../src/index';

/** The identities held by the config nodes of this Node-RED. */
export class IdentityClaims {
  /** Identity key → the config node holding it. */
  private readonly holders = new Map<string, { owner: string; label: string }>();
  private readonly waiting = new Set<() => void>();

  /** The key of an identity: IoT Hub host names are case-insensitive, device and module ids are not. */
  static keyOf(identity: ClientIdentity): string {
    return `${identity.hostname.toLowerCase()}/${identity.deviceId}/${identity.moduleId}`;
  }

  /**
   * Takes `identity` for config node `owner` (also when it already holds it).
   * @returns undefined when taken, else the label of the config node that holds it.
   */
  claim(identity: ClientIdentity, owner: string, label: string): string | undefined {
    const key = IdentityClaims.keyOf(identity);
    const holder = this.holders.get(key);
    if (holder && holder.owner !== owner) return holder.label;
    this.holders.set(key, { owner, label });
    return undefined;
  }

  /** Lets go of every identity `owner` holds; the config nodes waiting for one try again. */
  release(owner: string): void {
    let released = false;
    for (const [key, holder] of this.holders)
      if (holder.owner === owner) {
        this.holders.delete(key);
        released = true;
      }
    if (!released) return;
    for (const retry of [...this.waiting]) retry();
  }

  /**
   * Calls `retry` after each release until the returned function is called (a config node waiting for an identity
   * stops waiting when it closes).
   */
  whenReleased(retry: () => void): () => void {
    this.waiting.add(retry);
    return () => this.waiting.delete(retry);
  }

  /** How many config nodes wait for an identity (a redeploy must not leave waiters behind). */
  get waiters(): number {
    return this.waiting.size;
  }
}

/** The claims of this Node-RED (the pack's modules are loaded once per runtime). */
export const identityClaims = new IdentityClaims();

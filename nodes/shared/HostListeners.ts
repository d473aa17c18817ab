// The config node's listener registry: what each flow node asked to hear (connection state, input messages, method
// requests, desired-property changes), kept per owning node so that a redeploy removes exactly that node's listeners.
import type { Message, MethodRequest } from '../../src/index';
import type { NodeStatus } from './red';

/** A method-request node's registration. */
export interface MethodListener {
  /** '' = every method. */
  methodName: string;
  autoAnswerMs: number;
  autoAnswerStatus: number;
  emit(request: MethodRequest, requestId: string): void;
  warnExpired(requestId: string, err?: unknown): void;
}

/** What a flow node can listen to, and the listener each takes. */
export interface HostEvents {
  state: (status: NodeStatus, connected: boolean) => void;
  message: (message: Message) => void;
  method: MethodListener;
  desired: (patch: Record<string, unknown>, info: { full: boolean }) => void;
}

export type HostEvent = keyof HostEvents;

/** Listeners by event, each list in registration order, each entry remembering its owner. */
export class HostListeners {
  private readonly byEvent: { [E in HostEvent]: Array<{ owner: string; listener: HostEvents[E] }> } = {
    state: [],
    message: [],
    method: [],
    desired: [],
  };

  add<E extends HostEvent>(owner: string, event: E, listener: HostEvents[E]): void {
    this.byEvent[event].push({ owner, listener });
  }

  /** Removes every listener `owner` added. */
  removeOwner(owner: string): void {
    for (const event of Object.keys(this.byEvent) as HostEvent[]) this.drop(event, (entry) => entry.owner !== owner);
  }

  clear(): void {
    for (const event of Object.keys(this.byEvent) as HostEvent[]) this.drop(event, () => false);
  }

  /** The listeners of `event`, oldest first (a snapshot: a listener may remove others while they are called). */
  of<E extends HostEvent>(event: E): Array<HostEvents[E]> {
    return this.byEvent[event].map((entry) => entry.listener);
  }

  /** Whether anyone listens to `event`. */
  has(event: HostEvent): boolean {
    return this.byEvent[event].length > 0;
  }

  get size(): number {
    let n = 0;
    for (const event of Object.keys(this.byEvent) as HostEvent[]) n += this.byEvent[event].length;
    return n;
  }

  private drop(event: HostEvent, keep: (entry: { owner: string }) => boolean): void {
    const list = this.byEvent[event];
    for (let i = list.length - 1; i >= 0; i--) if (!keep(list[i]!)) list.splice(i, 1);
  }
}

// Delivery of incoming input messages, method requests and desired patches to the user: handler mode (callbacks,
// errors caught and logged) or the deprecated receive* mode (inboxes), exclusive per client, as in the Python SDK.
import { ClientError } from './errors';
import type { Message } from './models/Message';
import type { MethodRequest } from './models/MethodRequest';
import { callUser, type Log } from './userCode';

export type MessageHandler = (message: Message) => void | Promise<void>;
export type MethodHandler = (request: MethodRequest) => void | Promise<void>;
export type DesiredHandler = (patch: Record<string, unknown>, info: { full: boolean }) => void | Promise<void>;
export type HandlerKind = 'message' | 'method' | 'desired';

/** Items kept for a handler that is not set yet (handler mode, persistent session), per kind. */
const HELD_LIMIT = 1000;

/** A FIFO of received items with waiting receivers (the deprecated receive APIs). */
class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve: (v: T) => void; reject: (e: Error) => void }> = [];

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.items.push(item);
  }

  /** The next item, now or when it arrives. */
  next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    return new Promise<T>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  cancel(error: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(error);
  }
}

/** Routes incoming items to handlers or inboxes; never lets a user exception escape. */
export class Dispatcher {
  private mode: 'none' | 'handler' | 'api' = 'none';
  private handlers: { message: MessageHandler | null; method: MethodHandler | null; desired: DesiredHandler | null } = {
    message: null,
    method: null,
    desired: null,
  };
  private held: { message: Message[]; method: MethodRequest[]; desired: Array<[Record<string, unknown>, boolean]> } = {
    message: [],
    method: [],
    desired: [],
  };
  private readonly inputInboxes = new Map<string, Inbox<Message>>();
  private readonly methodInboxes = new Map<string, Inbox<MethodRequest>>();
  private readonly desiredInbox = new Inbox<Record<string, unknown>>();

  constructor(private readonly log: Log) {}

  handler(kind: 'message'): MessageHandler | null;
  handler(kind: 'method'): MethodHandler | null;
  handler(kind: 'desired'): DesiredHandler | null;
  handler(kind: HandlerKind): MessageHandler | MethodHandler | DesiredHandler | null {
    return this.handlers[kind];
  }

  /**
   * Sets or clears a handler, then hands it what arrived while none was set.
   * @throws TypeError for a non-function; ClientError 'receive-mode-conflict' after a receive API was used.
   */
  setHandler(kind: HandlerKind, fn: unknown): void {
    if (fn !== null && typeof fn !== 'function') throw new TypeError('handler must be a function or null');
    if (fn !== null && this.mode === 'api') {
      throw new ClientError('Cannot set a handler after using a receive API', { code: 'receive-mode-conflict' });
    }
    (this.handlers as Record<HandlerKind, unknown>)[kind] = fn;
    if (fn === null) return;
    this.mode = 'handler';
    if (kind === 'message') for (const m of this.held.message.splice(0)) this.message(m);
    else if (kind === 'method') for (const r of this.held.method.splice(0)) this.method(r);
    else for (const [p, full] of this.held.desired.splice(0)) this.desired(p, full);
  }

  /** @throws ClientError 'receive-mode-conflict' when a handler was set. */
  enterApiMode(): void {
    if (this.mode === 'handler') {
      throw new ClientError('Cannot use a receive API after setting a handler', { code: 'receive-mode-conflict' });
    }
    this.mode = 'api';
  }

  /** The inbox of one input (created on first use; input messages for inputs nobody asked for are dropped). */
  inputInbox(inputName: string): Inbox<Message> {
    let inbox = this.inputInboxes.get(inputName);
    if (!inbox) {
      inbox = new Inbox<Message>();
      this.inputInboxes.set(inputName, inbox);
    }
    return inbox;
  }

  /** The inbox of one method name ('' = every method without its own inbox), taking matching held requests. */
  methodInbox(methodName: string): Inbox<MethodRequest> {
    let inbox = this.methodInboxes.get(methodName);
    if (!inbox) {
      inbox = new Inbox<MethodRequest>();
      this.methodInboxes.set(methodName, inbox);
      const keep: MethodRequest[] = [];
      for (const r of this.held.method) {
        if (methodName === '' || r.name === methodName) inbox.push(r);
        else keep.push(r);
      }
      this.held.method = keep;
    }
    return inbox;
  }

  desiredPatches(): Inbox<Record<string, unknown>> {
    return this.desiredInbox;
  }

  message(message: Message): void {
    const handler = this.handlers.message;
    if (handler) return callUser(this.log, 'onMessageReceived handler', () => handler(message));
    if (this.mode === 'api') {
      const inbox = this.inputInboxes.get(message.inputName ?? '');
      if (inbox) inbox.push(message);
      else this.log('warn', `dropped an input message for ${message.inputName}: nobody receives it`);
      return;
    }
    this.hold(this.held.message, message);
  }

  method(request: MethodRequest): void {
    const handler = this.handlers.method;
    if (handler) return callUser(this.log, 'onMethodRequestReceived handler', () => handler(request));
    if (this.mode === 'api') {
      const inbox = this.methodInboxes.get(request.name) ?? this.methodInboxes.get('');
      if (inbox) return inbox.push(request);
    }
    this.hold(this.held.method, request);
  }

  desired(patch: Record<string, unknown>, full: boolean): void {
    const handler = this.handlers.desired;
    if (handler)
      return callUser(this.log, 'onTwinDesiredPropertiesPatchReceived handler', () => handler(patch, { full }));
    if (this.mode === 'api') return this.desiredInbox.push(patch);
    this.hold(this.held.desired, [patch, full]);
  }

  /** Method requests waiting for a handler are dropped on disconnect (the hub re-sends them; as the Python SDK). */
  purgeMethods(): void {
    this.held.method = [];
  }

  /** Rejects every waiting receiver and forgets the handlers (shutdown). */
  close(error: Error): void {
    for (const inbox of this.inputInboxes.values()) inbox.cancel(error);
    for (const inbox of this.methodInboxes.values()) inbox.cancel(error);
    this.desiredInbox.cancel(error);
    this.handlers = { message: null, method: null, desired: null };
  }

  private hold<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > HELD_LIMIT) {
      list.shift();
      this.log('warn', 'dropped an incoming item held for a handler (limit reached)');
    }
  }
}

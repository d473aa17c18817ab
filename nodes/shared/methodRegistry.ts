// The runtime-wide table of direct method requests awaiting an answer: request id → the config node that
// received it, so a method-response node can answer through the right client (correlation by id, never by name).
import { ValueError } from '../../src/index';
import { NodeError } from './errors';
import { valueText } from './fields';

/** Answers a request on the client that received it. */
export type Responder = (hubRequestId: string, status: number, payload: unknown) => Promise<void>;

interface Pending {
  hubRequestId: string;
  /** The config node that received the request (for dropping its requests on close). */
  ownerId: string;
  methodName: string;
  respond: Responder;
  timer?: NodeJS.Timeout;
}

const pending = new Map<string, Pending>();
/** Ids that were answered or expired recently, so a late answer gets a precise error. Bounded. */
const finished = new Map<string, 'already-responded' | 'request-expired'>();
const FINISHED_LIMIT = 1000;

function remember(id: string, why: 'already-responded' | 'request-expired'): void {
  finished.set(id, why);
  if (finished.size > FINISHED_LIMIT) finished.delete(finished.keys().next().value as string);
}

let connections = 0;

/**
 * A tag for one hub connection, unique in this runtime. IoT Hub numbers method requests (`$rid`) per connection, so
 * after a reconnect, a redeploy (a new config node with the same id) or a restarted hub the same `$rid` comes again:
 * the tag keeps a late answer meant for the earlier request from answering the new one.
 */
export function newConnectionTag(): string {
  connections += 1;
  return connections.toString(36);
}

/**
 * The id flows see as `msg.requestId`: the hub's `$rid` qualified by the receiving config node and its connection,
 * because hubs number requests per connection and several config nodes may share a runtime.
 */
export function flowRequestId(ownerId: string, connection: string, hubRequestId: string): string {
  return `${hubRequestId}@${ownerId}/${connection}`;
}

/** Records a request; after `autoAnswer.afterMs` it is answered with `autoAnswer.status` and `onExpire` runs. */
export function addPendingRequest(args: {
  ownerId: string;
  /** The connection that received the request (from `newConnectionTag`). */
  connection: string;
  hubRequestId: string;
  methodName: string;
  respond: Responder;
  autoAnswer?: { afterMs: number; status: number; payload: unknown; onExpire: (err?: unknown) => void };
}): string {
  const id = flowRequestId(args.ownerId, args.connection, args.hubRequestId);
  const entry: Pending = {
    hubRequestId: args.hubRequestId,
    ownerId: args.ownerId,
    methodName: args.methodName,
    respond: args.respond,
  };
  finished.delete(id);
  pending.set(id, entry);
  const auto = args.autoAnswer;
  if (auto) {
    entry.timer = setTimeout(() => {
      if (pending.get(id) !== entry) return;
      pending.delete(id);
      remember(id, 'request-expired');
      entry.respond(entry.hubRequestId, auto.status, auto.payload).then(
        () => auto.onExpire(),
        (err: unknown) => auto.onExpire(err),
      );
    }, auto.afterMs);
  }
  return id;
}

/** A pending request taken for answering (see {@link takePendingRequest}). */
export interface TakenRequest {
  methodName: string;
  /** Sends the flow's answer; uses the request up once the client has taken it. */
  respond(status: number, payload: unknown): Promise<void>;
  /** Answers 500 with `payload` (the reason the flow's answer could not be sent) and uses the request up. */
  refuse(payload: unknown): Promise<void>;
}

/**
 * Finds a pending request for answering. Answering uses it up once the client has taken the answer; an answer the
 * client refuses before sending anything (too large, not encodable: a ValueError or TypeError rejection) leaves it
 * pending, for {@link answerPendingRequest} to answer 500 instead.
 * @throws NodeError `invalid-request-id`, `unknown-request-id`, `already-responded` or `request-expired`.
 */
export function takePendingRequest(requestId: unknown): TakenRequest {
  if (typeof requestId !== 'string' || requestId === '') throw new NodeError('invalid-request-id', 'msg.requestId');
  const entry = pending.get(requestId);
  if (!entry) throw new NodeError(finished.get(requestId) ?? 'unknown-request-id', valueText(requestId));
  const useUp = (): void => {
    if (pending.get(requestId) === entry) pending.delete(requestId);
    if (entry.timer) clearTimeout(entry.timer);
    remember(requestId, 'already-responded');
  };
  return {
    methodName: entry.methodName,
    respond: (status, payload) => {
      if (pending.get(requestId) !== entry)
        return Promise.reject(new NodeError(finished.get(requestId) ?? 'unknown-request-id', valueText(requestId)));
      const sent = entry.respond(entry.hubRequestId, status, payload);
      pending.delete(requestId);
      remember(requestId, 'already-responded');
      return sent.then(
        () => {
          if (entry.timer) clearTimeout(entry.timer);
        },
        (err: unknown) => {
          // The client rejects an answer it refuses to send in the same tick (before any timer can fire): the
          // request is pending again, and its automatic answer still armed.
          if ((err instanceof ValueError || err instanceof TypeError) && !pending.has(requestId)) {
            pending.set(requestId, entry);
            finished.delete(requestId);
          } else if (entry.timer) clearTimeout(entry.timer);
          throw err;
        },
      );
    },
    refuse: (payload) => {
      useUp();
      return entry.respond(entry.hubRequestId, 500, payload);
    },
  };
}

/** Whether a failed answer was refused by the client before anything went to the hub (so the request is still open). */
function refusedBeforeSending(err: unknown): boolean {
  return err instanceof ValueError || err instanceof TypeError;
}

/**
 * Answers `requestId` with what `answer()` builds. When the answer cannot be sent — `answer()` throws (a bad status
 * code or payload) or the client refuses it before sending (too large) — the caller is answered at once with status
 * 500 and `reasonOf(err)` as payload, as a module whose handler failed answers, rather than waiting for the automatic
 * answer at the node's time-out; the error is then thrown so the flow sees it.
 * @throws (rejects with) the error of `answer()`, the id errors of {@link takePendingRequest}, or the client's error.
 */
export async function answerPendingRequest(
  requestId: unknown,
  answer: () => { status: number; payload: unknown },
  reasonOf: (err: unknown) => unknown,
): Promise<void> {
  let built: { status: number; payload: unknown };
  try {
    built = answer();
  } catch (err) {
    let request: TakenRequest | undefined;
    try {
      request = takePendingRequest(requestId);
    } catch {
      // no open request behind this msg: there is nobody to answer
    }
    if (request) await request.refuse(reasonOf(err)).catch(() => undefined);
    throw err;
  }
  const request = takePendingRequest(requestId);
  let sent: Promise<void>;
  try {
    sent = request.respond(built.status, built.payload);
  } catch (err) {
    await request.refuse(reasonOf(err)).catch(() => undefined);
    throw err;
  }
  try {
    await sent;
  } catch (err) {
    if (refusedBeforeSending(err)) await request.refuse(reasonOf(err)).catch(() => undefined);
    throw err;
  }
}

/** Forgets every request a config node holds (on close): the hub times them out itself. */
export function dropRequestsOf(ownerId: string): number {
  let count = 0;
  for (const [id, entry] of pending) {
    if (entry.ownerId !== ownerId) continue;
    if (entry.timer) clearTimeout(entry.timer);
    pending.delete(id);
    remember(id, 'request-expired');
    count++;
  }
  return count;
}

/** Number of requests awaiting an answer (for tests and status). */
export function pendingCount(ownerId?: string): number {
  if (ownerId === undefined) return pending.size;
  let n = 0;
  for (const entry of pending.values()) if (entry.ownerId === ownerId) n++;
  return n;
}

// The twin request ledger keyed by `$rid`: each GET / reported PATCH waits for the response with its `$rid`,
// times out, and is re-sent once after a reconnect when its response may have been lost with the old connection.
import crypto from 'node:crypto';
import { ClientError, ConnectionDroppedError, OperationTimeout } from './errors';
import { errorFromServiceBody } from './errorMapping';
import type { Expirable } from './DeadlineQueue';
import { TimedOperations } from './TimedOperations';
import type { MqttConnection } from './transport/MqttConnection';

/** A successful twin response. */
export interface TwinReply {
  status: number;
  body: Buffer;
}

/** A twin request in the ledger. */
class TwinRequest implements Expirable {
  settled = false;
  /** The connection it was last published on (undefined = not yet). */
  sentOn: MqttConnection | undefined;
  /** Its single re-send after a reconnect was spent. */
  resent = false;
  constructor(
    readonly rid: string,
    readonly topic: string,
    readonly payload: string,
    readonly deadline: number,
    private readonly onDone: (err: Error | undefined, reply?: TwinReply) => void,
    private readonly expiryError: (timedOut: () => Error) => Error,
  ) {}
  finish(err: Error | undefined, reply?: TwinReply): void {
    if (this.settled) return;
    this.settled = true;
    this.onDone(err, reply);
  }
  expire(): void {
    this.finish(this.expiryError(() => new OperationTimeout('Twin request not answered in time')));
  }
}

/** Pending twin requests of one client, by `$rid`. */
export class TwinLedger extends TimedOperations {
  private readonly requests = new Map<string, TwinRequest>();
  private readonly expiryOf = (timedOut: () => Error): Error => this.expiryError(timedOut);

  get pending(): boolean {
    return this.requests.size > 0;
  }

  /**
   * Publishes a twin request under a fresh `$rid` (now, or after the next connect) and waits for its response.
   * The caller makes sure the `$iothub/twin/res/#` subscription exists first.
   * @throws ClientError from the status of a response ≥ 300; OperationTimeout (connected, no answer in time);
   *   ConnectionFailedError (no connection within the time limit); connection errors.
   */
  request(topicFor: (rid: string) => string, payload: string): Promise<TwinReply> {
    return new Promise((resolve, reject) => {
      const rid = crypto.randomUUID();
      const request = new TwinRequest(
        rid,
        topicFor(rid),
        payload,
        this.deadlineFromNow(),
        (err, reply) => {
          this.requests.delete(rid);
          if (err) reject(err);
          else resolve(reply!);
        },
        this.expiryOf,
      );
      this.requests.set(rid, request);
      this.deadlines.add(request);
      this.send(request);
    });
  }

  /** Settles the request with `rid`; false when none is pending (a late or foreign response, dropped). */
  answer(rid: string, status: number, body: Buffer): boolean {
    const request = this.requests.get(rid);
    if (!request) return false;
    // A status that is not a number (`$iothub/twin/res/abc/`) would otherwise pass as a success.
    if (!Number.isFinite(status))
      request.finish(new ClientError('Twin response without a numeric status', { code: 'protocol-error' }));
    else if (status >= 300) request.finish(errorFromServiceBody(status, body.toString('utf8')));
    else request.finish(undefined, { status, body });
    return true;
  }

  /** After a reconnect: send requests not yet sent, and re-send once those whose answer was lost. */
  resume(connection: MqttConnection): void {
    for (const request of [...this.requests.values()]) {
      if (request.settled || request.sentOn === connection) continue;
      if (request.sentOn !== undefined) {
        if (request.resent) continue; // its single re-send was already spent: it now only waits for its timeout
        request.resent = true;
      }
      this.send(request);
    }
  }

  failWaiting(error: Error): void {
    for (const request of [...this.requests.values()]) if (!request.sentOn) request.finish(error);
  }

  cancelAll(reason: Error): void {
    for (const request of [...this.requests.values()]) request.finish(reason);
    this.requests.clear();
    this.deadlines.clear();
  }

  private send(request: TwinRequest): void {
    const connection = this.link.live;
    if (!connection) {
      try {
        this.link.requireConnection();
      } catch (err) {
        request.finish(err as Error);
      }
      return; // sent by resume() after the connect
    }
    request.sentOn = connection;
    connection.publish(request.topic, request.payload).catch((err: Error) => {
      if (!(err instanceof ConnectionDroppedError)) request.finish(err);
      // dropped: resume() sends it again after the reconnect
    });
  }
}

// The operations the client tracks until they finish: QoS 1 publishes (resent after a drop) and twin requests (the
// `$rid` ledger). Both expire through a DeadlineQueue with OperationTimeout.
import { OperationTimeout } from './errors';
import type { Expirable } from './deadlines';
import type { MqttConnection } from './transport/mqttConnection';

/** A QoS 1 publish waiting to be sent or acknowledged. */
export class PublishOp implements Expirable {
  settled = false;
  constructor(
    readonly topic: string,
    readonly payload: Buffer | string,
    readonly deadline: number,
    private readonly resolve: () => void,
    private readonly reject: (err: Error) => void,
  ) {}
  finish(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    if (err) this.reject(err);
    else this.resolve();
  }
  expire(): void {
    this.finish(new OperationTimeout(`Publish to ${this.topic.split('/?')[0]} not acknowledged in time`));
  }
}

/** A twin request in the `$rid` ledger. */
export class TwinOp implements Expirable {
  settled = false;
  /** The connection it was last published on (undefined = not yet). */
  sentOn: MqttConnection | undefined;
  resent = false;
  constructor(
    readonly rid: string,
    readonly topic: string,
    readonly payload: string,
    readonly deadline: number,
    private readonly onDone: (err: Error | undefined, status?: number, body?: Buffer) => void,
    private readonly onSettle: (op: TwinOp) => void,
  ) {}
  finish(err: Error | undefined, status?: number, body?: Buffer): void {
    if (this.settled) return;
    this.settled = true;
    this.onSettle(this);
    this.onDone(err, status, body);
  }
  expire(): void {
    this.finish(new OperationTimeout('Twin request not answered in time'));
  }
}

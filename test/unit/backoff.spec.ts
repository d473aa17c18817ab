// Reconnect back-off and the shared deadline queue, with injected randomness and a fake clock.
import assert from 'node:assert/strict';
import { backoffDelayMs, retryCapSeconds } from '../../src/client/backoff';
import {
  ClientError,
  ConnectionDroppedError,
  ConnectionFailedError,
  CredentialError,
  OperationTimeout,
} from '../../src/client/errors';
import { DeadlineQueue, type Expirable } from '../../src/client/DeadlineQueue';
import { FakeClock } from '../helpers/FakeClock';

describe('backoffDelayMs', () => {
  const table: Array<[number, number, number, number]> = [
    [0, 10, 0.5, 10],
    [1, 10, 0.5, 625],
    [2, 10, 0.5, 1250],
    [3, 10, 0.5, 2500],
    [4, 10, 0.5, 5000],
    [5, 10, 0.5, 10000],
    [9, 10, 0.5, 10000],
    [1, 10, 0, 500],
    [1, 10, 0.999999, 750],
    [40, 10, 0.999999, 12000],
    [3, 1, 0.5, 250],
  ];
  for (const [attempt, cap, random, expected] of table) {
    it(`attempt ${attempt}, cap ${cap} s, random ${random} → ${expected} ms`, () => {
      assert.equal(
        backoffDelayMs(attempt, cap, () => random),
        expected,
      );
    });
  }
  it('never exceeds 1.2 × the cap, nor the longest timer Node takes', () => {
    for (let a = 0; a < 100; a += 1) assert.ok(backoffDelayMs(a, 10) <= 12000);
    assert.equal(
      backoffDelayMs(30, 2_147_483 * 6, () => 0.999999),
      2 ** 31 - 1,
    );
  });
});

describe('retryCapSeconds: the one rule deciding what the reconnect loop retries', () => {
  const failures: Array<[string, Error, number | undefined, number]> = [
    // [what, error, cap as the Python SDK does (stop = undefined), cap when retrying forever]
    ['refused credentials', new CredentialError('x'), undefined, 60],
    ['untrusted server certificate', new ClientError('x', { code: 'tls-error' }), 10, 60],
    ['protocol refusal (CONNACK 2)', new ClientError('x', { code: 'protocol-error' }), 10, 60],
    ['connection failed', new ConnectionFailedError('x'), 10, 10],
    ['connection dropped', new ConnectionDroppedError('x'), 10, 10],
    ['no CONNACK in time', new OperationTimeout('x'), 10, 10],
    ['an unexpected failure', new Error('x'), 10, 10],
  ];
  for (const [what, err, python, forever] of failures) {
    it(`${what}: ${python === undefined ? 'stops' : `${python} s`} by default, ${forever} s when retrying forever`, () => {
      assert.equal(retryCapSeconds(err, { connectionRetryInterval: 10, connectionRetryForever: false }), python);
      assert.equal(retryCapSeconds(err, { connectionRetryInterval: 10, connectionRetryForever: true }), forever);
    });
  }
});

describe('DeadlineQueue', () => {
  class Op implements Expirable {
    settled = false;
    expired = false;
    constructor(readonly deadline: number) {}
    expire(): void {
      this.expired = true;
      this.settled = true;
    }
  }
  it('expires unsettled entries at their deadline with one timer, skipping settled ones', () => {
    const clock = new FakeClock(0);
    const q = new DeadlineQueue(clock);
    const ops = [new Op(100), new Op(100), new Op(150), new Op(200)];
    for (const op of ops) q.add(op);
    assert.equal(clock.pending, 1);
    ops[1]!.settled = true;
    clock.advance(99);
    assert.deepEqual(
      ops.map((o) => o.expired),
      [false, false, false, false],
    );
    clock.advance(1);
    assert.deepEqual(
      ops.map((o) => o.expired),
      [true, false, false, false],
    );
    ops[2]!.settled = true;
    clock.advance(100);
    assert.deepEqual(
      ops.map((o) => o.expired),
      [true, false, false, true],
    );
    assert.equal(clock.pending, 0);
  });
  it('clear drops everything without expiring', () => {
    const clock = new FakeClock(0);
    const q = new DeadlineQueue(clock);
    const op = new Op(10);
    q.add(op);
    q.clear();
    clock.advance(100);
    assert.equal(op.expired, false);
    assert.equal(clock.pending, 0);
  });
});

// The output node's bounded send queue.
import assert from 'node:assert/strict';
import { NodeError } from '../../../nodes/shared/errors';
import { SendQueue } from '../../../nodes/shared/SendQueue';

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('nodes: bounded send queue', () => {
  it('releases waiters in order', async () => {
    const queue = new SendQueue(3, 10_000);
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => queue.wait().then(() => void order.push(n)));
    assert.equal(queue.size, 3);
    await assert.rejects(queue.wait(), isCode('queue-full'));
    queue.release();
    await Promise.all(waits);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(queue.size, 0);
  });

  it('a waiter times out, a size-0 queue refuses at once, rejectAll fails the rest', async () => {
    const queue = new SendQueue(2, 5);
    await assert.rejects(queue.wait(), isCode('operation-timeout'));
    await assert.rejects(new SendQueue(0, 1000).wait(), isCode('queue-full'));
    const long = new SendQueue(2, 10_000);
    const pending = long.wait();
    long.rejectAll(new NodeError('closing'));
    await assert.rejects(pending, isCode('closing'));
  });
});

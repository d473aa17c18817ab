// The output node's send queue, bounded in count and bytes.
import assert from 'node:assert/strict';
import { NodeError } from '../../../nodes/shared/errors';
import { SendQueue } from '../../../nodes/shared/SendQueue';

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('nodes: bounded send queue', () => {
  it('releases waiters in order', async () => {
    const queue = new SendQueue({ count: 3, bytes: Infinity, timeoutMs: 10_000 });
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
    const queue = new SendQueue({ count: 2, bytes: Infinity, timeoutMs: 5 });
    await assert.rejects(queue.wait(), isCode('operation-timeout'));
    await assert.rejects(new SendQueue({ count: 0, bytes: Infinity, timeoutMs: 1000 }).wait(), isCode('queue-full'));
    const long = new SendQueue({ count: 2, bytes: Infinity, timeoutMs: 10_000 });
    const pending = long.wait();
    long.rejectAll(new NodeError('closing'));
    await assert.rejects(pending, isCode('closing'));
  });

  it('counts bytes: a wait that would pass the byte bound is refused, a timed-out or released wait gives its bytes back', async () => {
    const queue = new SendQueue({ count: 10, bytes: 100, timeoutMs: 10_000 });
    const first = queue.wait(60);
    await assert.rejects(queue.wait(41), isCode('queue-full'));
    const second = queue.wait(40);
    assert.equal(queue.bytes, 100);
    queue.release();
    await Promise.all([first, second]);
    assert.equal(queue.bytes, 0);
    const short = new SendQueue({ count: 10, bytes: 100, timeoutMs: 5 });
    await assert.rejects(short.wait(100), isCode('operation-timeout'));
    assert.equal(short.bytes, 0);
    const fits = short.wait(100);
    short.release();
    await fits;
  });
});

// The hub's observation log keeps exactly the newest `limit` entries per list, however records and reads interleave.
import assert from 'node:assert/strict';
import { Observations } from '../../src/hub/Observations';
import type { PublishRecord } from '../../src/hub/types';

function publish(n: number): PublishRecord {
  return { at: n, clientId: 'd/m', topic: 't', payload: Buffer.from(String(n)), qos: 1 };
}

describe('hub observations', () => {
  it('keeps the newest limit entries, newest last, with reads between records', () => {
    const log = new Observations(5);
    const seen: number[][] = [];
    for (let n = 1; n <= 23; n += 1) {
      log.record('publishes', publish(n));
      if (n % 7 === 0) seen.push(log.publishes.map((p) => p.at));
    }
    assert.deepEqual(seen, [
      [3, 4, 5, 6, 7],
      [10, 11, 12, 13, 14],
      [17, 18, 19, 20, 21],
    ]);
    assert.deepEqual(
      log.publishes.map((p) => p.at),
      [19, 20, 21, 22, 23],
    );
  });

  it('keeps each list apart and clear() empties them all', () => {
    const log = new Observations(2);
    for (let n = 1; n <= 4; n += 1) log.record('publishes', publish(n));
    log.record('subscriptions', { at: 1, clientId: 'd/m', topic: 's', qos: 1, granted: 1 });
    log.counters.publishes = 4;
    assert.equal(log.publishes.length, 2);
    assert.equal(log.subscriptions.length, 1);
    assert.equal(log.connects.length, 0);
    log.clear();
    assert.deepEqual([log.publishes.length, log.subscriptions.length, log.counters.publishes], [0, 0, 0]);
  });

  it('treats a limit below 1 as 1', () => {
    const log = new Observations(0);
    log.record('publishes', publish(1));
    log.record('publishes', publish(2));
    assert.deepEqual(
      log.publishes.map((p) => p.at),
      [2],
    );
  });
});

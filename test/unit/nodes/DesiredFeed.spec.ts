// The twin nodes' desired-properties feed: the twin read once per client, each version passed on once.
import assert from 'node:assert/strict';
import { fakeModuleClient } from '../../helpers/fakeModuleClient';
import { DesiredFeed } from '../../../nodes/shared/DesiredFeed';

describe('nodes: desired-properties feed', () => {
  it('reads the twin once per client and drops the full document at the version the twin already had', async () => {
    const feed = new DesiredFeed();
    const fake = fakeModuleClient(3);
    const [a, b] = await Promise.all([feed.initialTwin(fake.client), feed.initialTwin(fake.client)]);
    assert.equal(a, b);
    assert.equal(fake.twinReads, 1);
    const delivered: number[] = [];
    const receive = (version: number, full: boolean): Promise<void> =>
      new Promise<void>((resolve) => {
        feed.received(fake.client, { $version: version }, { full }, () => delivered.push(version));
        setImmediate(resolve);
      });
    await receive(3, true); // the document the twin read already gave
    await receive(4, false);
    await receive(4, false); // QoS 1 re-delivery after a reconnect
    await receive(2, false); // older
    await receive(5, true); // a newer full document after a reconnect
    assert.deepEqual(delivered, [4, 5]);
    feed.reset();
    await feed.initialTwin(fake.client);
    assert.equal(fake.twinReads, 2, 'a new client reads again');
  });
});

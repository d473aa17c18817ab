// The config node's listener registry: listeners per owner and event, removed per owner.
import assert from 'node:assert/strict';
import { HostListeners } from '../../../nodes/shared/HostListeners';

describe('nodes: listener registry', () => {
  it("keeps listeners per owner and event, and removes exactly an owner's", () => {
    const listeners = new HostListeners();
    const seen: string[] = [];
    listeners.add('a', 'message', () => seen.push('a'));
    listeners.add('b', 'message', () => seen.push('b'));
    listeners.add('a', 'state', () => seen.push('a-state'));
    assert.equal(listeners.size, 3);
    listeners.removeOwner('a');
    assert.equal(listeners.size, 1);
    assert.equal(listeners.has('state'), false);
    for (const fn of listeners.of('message')) fn({} as never);
    assert.deepEqual(seen, ['b']);
  });
});

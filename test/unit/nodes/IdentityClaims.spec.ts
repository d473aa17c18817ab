// One connection per module identity in a Node-RED: the first config node holds it, the others wait for its release.
import assert from 'node:assert/strict';
import { IdentityClaims } from '../../../nodes/shared/IdentityClaims';

describe('identity claims', () => {
  const id = { hostname: 'Hub.azure-devices.net', deviceId: 'dev', moduleId: 'mod' };

  it('the first config node holds an identity; another is told which node holds it (host names in any case)', () => {
    const claims = new IdentityClaims();
    assert.equal(claims.claim(id, 'a', 'first'), undefined);
    assert.equal(claims.claim(id, 'a', 'first'), undefined, 'claiming again is fine');
    assert.equal(claims.claim({ ...id, hostname: 'hub.AZURE-devices.net' }, 'b', 'second'), 'first');
    assert.equal(claims.claim({ ...id, moduleId: 'Mod' }, 'b', 'second'), undefined, 'module ids are case-sensitive');
  });

  it('a release lets the waiting nodes try again, until they stop waiting', () => {
    const claims = new IdentityClaims();
    claims.claim(id, 'a', 'first');
    const retries: string[] = [];
    const stop = claims.whenReleased(() => retries.push(String(claims.claim(id, 'b', 'second') ?? 'taken')));
    assert.equal(claims.waiters, 1);
    claims.release('nobody');
    assert.deepEqual(retries, [], 'nothing released');
    claims.release('a');
    assert.deepEqual(retries, ['taken']);
    stop();
    assert.equal(claims.waiters, 0);
    claims.release('b');
    assert.deepEqual(retries, ['taken']);
  });
});

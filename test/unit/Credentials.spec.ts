// Credentials: when a SAS token is signed again (renewable or not) and when renewal is due.
import assert from 'node:assert/strict';
import { Credentials } from '../../src/client/Credentials';
import {
  NonRenewableSasToken,
  RenewableSasToken,
  buildSasToken,
  symmetricKeySigner,
} from '../../src/client/auth/sastoken';
import { resolveOptions } from '../../src/client/options';
import { ClientError, ConnectionFailedError, CredentialError, ValueError } from '../../src/client/errors';
import { FakeClock } from '../helpers/FakeClock';

const KEY = 'NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg=';

const IDENTITY = { hostname: 'my-hub.azure-devices.net', deviceId: 'my-device', moduleId: 'my-module' };

const URI = 'my-hub.azure-devices.net/devices/my-device/modules/my-module';

const NOW = 1700000000 * 1000;

function renewable(clock: FakeClock, ttl = 3600): Credentials {
  const token = RenewableSasToken.unsigned({ uri: URI, signer: symmetricKeySigner(KEY), ttl, clock });
  return new Credentials(IDENTITY, { kind: 'sas', token }, resolveOptions('connectionString', {}), 'ua', clock);
}

async function userToken(uri: string, expirySec: number): Promise<string> {
  return buildSasToken({ uri, signer: symmetricKeySigner(KEY), expiry: expirySec });
}

describe('Credentials', () => {
  it('re-signs once after the hub refuses the SAS, never after a proxy refuses its own credentials', async () => {
    const clock = new FakeClock(NOW);
    const own = renewable(clock);
    const table: Array<[string, Error, boolean]> = [
      ['hub CONNACK 5', new CredentialError('not authorized'), true],
      ['proxy 407 / SOCKS refusal', new CredentialError('proxy refused', { code: 'proxy-error' }), false],
      ['connection failure', new ConnectionFailedError('refused'), false],
      ['other client error', new ClientError('x'), false],
    ];
    for (const [label, err, expected] of table) assert.equal(own.shouldResignAfter(err), expected, label);
    const user = new Credentials(
      IDENTITY,
      { kind: 'sas', token: new NonRenewableSasToken(await userToken(URI, NOW / 1000 + 600), NOW) },
      resolveOptions('sastoken', {}),
      'ua',
      clock,
    );
    assert.equal(
      user.shouldResignAfter(new CredentialError('not authorized')),
      false,
      'a user token cannot be re-signed',
    );
  });

  it('renews 120 s before expiry, never earlier than half the lifetime', async () => {
    const clock = new FakeClock(NOW);
    const long = renewable(clock, 3600);
    await long.refresh();
    assert.equal(long.renewAt(), NOW + (3600 - 120) * 1000);
    const short = renewable(clock, 100);
    await short.refresh();
    assert.equal(short.renewAt(), NOW + 50 * 1000);
  });

  it('accepts a replacement token only for the same identity', async () => {
    const clock = new FakeClock(NOW);
    const user = new Credentials(
      IDENTITY,
      { kind: 'sas', token: new NonRenewableSasToken(await userToken(URI, NOW / 1000 + 600), NOW) },
      resolveOptions('sastoken', {}),
      'ua',
      clock,
    );
    const next = user.checkReplacement(await userToken(URI, NOW / 1000 + 3600));
    user.replaceToken(next);
    assert.equal(user.sastoken, next.value);
    const other = await userToken('my-hub.azure-devices.net/devices/my-device/modules/other', NOW / 1000 + 3600);
    assert.throws(
      () => user.checkReplacement(other),
      (e: unknown) => e instanceof ValueError && /identity/.test(e.message),
    );
    const expired = await userToken(URI, NOW / 1000 - 1);
    assert.throws(
      () => user.checkReplacement(expired),
      (e: unknown) => e instanceof ValueError && /expired/.test(e.message),
    );
  });
});

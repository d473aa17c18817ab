// IoT Hub SAS tokens: conformance vectors, async signers, parsing/validation, renewal timing with a fake clock.
import assert from 'node:assert/strict';
import {
  buildSasToken,
  decodeSymmetricKey,
  parseSasToken,
  RenewableSasToken,
  NonRenewableSasToken,
  renewalTime,
  resourceUri,
  stringToSign,
  symmetricKeySigner,
  validateModuleSasToken,
} from '../../src/client/auth/sastoken';
import { Alarm } from '../../src/client/Alarm';
import { MAX_TIMER_MS } from '../../src/client/clock';
import { FakeClock } from '../helpers/FakeClock';
import { ValueError } from '../../src/client/errors';

const KEY = 'NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg=';
const URI = 'my-hub.azure-devices.net/devices/my-device/modules/my-module';
const SR = 'my-hub.azure-devices.net%2Fdevices%2Fmy-device%2Fmodules%2Fmy-module';

describe('SAS token building', () => {
  it('resource URIs keep ids raw', () => {
    assert.equal(resourceUri('h', 'd', 'm'), 'h/devices/d/modules/m');
    assert.equal(resourceUri('h', 'd'), 'h/devices/d');
    assert.equal(resourceUri('h', "d ev/$+%&#!*'()é", 'm'), "h/devices/d ev/$+%&#!*'()é/modules/m");
  });

  it('conformance vector 1', async () => {
    const token = await buildSasToken({ uri: URI, signer: symmetricKeySigner(KEY), expiry: 1700000000 + 3600 });
    assert.equal(
      token,
      `SharedAccessSignature sr=${SR}&sig=ce%2FWg32nNX309prajavLT7tp45%2BiS4IOADfKf4ULmW8%3D&se=1700003600`,
    );
  });

  it('conformance vector 2 (key name)', async () => {
    const token = await buildSasToken({
      uri: URI,
      signer: symmetricKeySigner(KEY),
      expiry: 1700000100,
      keyName: 'mykey',
    });
    assert.equal(
      token,
      `SharedAccessSignature sr=${SR}&sig=q4PA%2BLvViowTP8%2FMy%2F%2FXCqvvZva5zpI5Dlrzlbs1yw0%3D&se=1700000100&skn=mykey`,
    );
  });

  it('encodes nasty ids in sr and signs the encoded form', async () => {
    const seen: string[] = [];
    const token = await buildSasToken({
      uri: resourceUri('h', "d ev/$+%&#!*'()é", 'm'),
      signer: async (s) => {
        seen.push(s);
        return 'a+b/c=';
      },
      expiry: 5,
    });
    assert.equal(seen[0], 'h%2Fdevices%2Fd%20ev%2F%24%2B%25%26%23%21%2A%27%28%29%C3%A9%2Fmodules%2Fm\n5');
    assert.equal(
      token,
      'SharedAccessSignature sr=h%2Fdevices%2Fd%20ev%2F%24%2B%25%26%23%21%2A%27%28%29%C3%A9%2Fmodules%2Fm&sig=a%2Bb%2Fc%3D&se=5',
    );
    assert.equal(stringToSign('x', 7), 'x\n7');
  });

  it('an async signer failure propagates', async () => {
    await assert.rejects(
      buildSasToken({ uri: URI, signer: async () => Promise.reject(new Error('workload down')), expiry: 1 }),
      /workload down/,
    );
  });

  const keys: Array<[string, boolean]> = [
    [KEY, true],
    ['YQ==', true],
    ['YWI=', true],
    ['YQ', false],
    ['Y', false],
    ['YWJj', true],
    ['Y Q = =', true],
    ['not base64!', false],
  ];
  for (const [key, ok] of keys) {
    it(`symmetric key ${JSON.stringify(key)} is ${ok ? 'accepted' : 'rejected'} like Python's non-strict b64decode`, () => {
      if (ok) assert.ok(Buffer.isBuffer(decodeSymmetricKey(key)));
      else
        assert.throws(
          () => decodeSymmetricKey(key),
          (e: unknown) => e instanceof ValueError && /Invalid Symmetric Key/.test(e.message),
        );
    });
  }
});

describe('SAS token parsing and validation (createFromSastoken, updateSastoken)', () => {
  const good = `SharedAccessSignature sr=${SR}&sig=abc%3D&se=1700003600`;
  it('parses the module form', () => {
    assert.deepEqual(parseSasToken(good), {
      sr: SR,
      sig: 'abc%3D',
      se: 1700003600,
      hostname: 'my-hub.azure-devices.net',
      deviceId: 'my-device',
      moduleId: 'my-module',
    });
  });
  it('parses the device form, any field order, skn, whitespace', () => {
    assert.deepEqual(parseSasToken('SharedAccessSignature se= 10 &skn=k&sig=s&sr=h%2Fdevices%2Fd'), {
      sr: 'h%2Fdevices%2Fd',
      sig: 's',
      se: 10,
      skn: 'k',
      hostname: 'h',
      deviceId: 'd',
    });
  });
  it('decodes nasty ids from sr', () => {
    const info = parseSasToken(
      'SharedAccessSignature sr=h%2Fdevices%2Fd%20%24%2B%25%26%23%C3%A9%2Fmodules%2Fm%21&sig=s&se=1',
    );
    assert.equal(info.deviceId, 'd $+%&#é');
    assert.equal(info.moduleId, 'm!');
  });
  const bad: Array<[string, unknown]> = [
    ['not a string', 42],
    ['no prefix', `sr=${SR}&sig=a&se=1`],
    ['prefix twice', `SharedAccessSignature SharedAccessSignature sr=${SR}&sig=a&se=1`],
    ['missing sig', `SharedAccessSignature sr=${SR}&se=1`],
    ['missing se', `SharedAccessSignature sr=${SR}&sig=a`],
    ['missing sr', 'SharedAccessSignature sig=a&se=1'],
    ['extra field', `SharedAccessSignature sr=${SR}&sig=a&se=1&foo=bar`],
    ['field without =', `SharedAccessSignature sr=${SR}&sig=a&se=1&skn`],
    ['se not an int', `SharedAccessSignature sr=${SR}&sig=a&se=soon`],
    ['sr with 4 segments', 'SharedAccessSignature sr=h%2Fdevices%2Fd%2Fmodules&sig=a&se=1'],
    ['sr not devices', 'SharedAccessSignature sr=h%2Fthings%2Fd&sig=a&se=1'],
    ['sr not modules', 'SharedAccessSignature sr=h%2Fdevices%2Fd%2Fparts%2Fm&sig=a&se=1'],
  ];
  for (const [name, token] of bad) {
    it(`rejects: ${name}`, () => {
      assert.throws(
        () => parseSasToken(token),
        (e: unknown) => e instanceof ValueError && /Invalid SasToken provided/.test(e.message),
      );
    });
  }
  it('module client rejects a device token and an expired token', () => {
    assert.throws(
      () => validateModuleSasToken('SharedAccessSignature sr=h%2Fdevices%2Fd&sig=a&se=9999999999', 0),
      /for a device/,
    );
    assert.throws(() => validateModuleSasToken(good, 1700003601 * 1000), /expired/);
    assert.equal(validateModuleSasToken(good, 1700003600 * 1000).moduleId, 'my-module');
  });
  it('NonRenewableSasToken keeps the text and expiry', () => {
    const t = new NonRenewableSasToken(good, 1700000000 * 1000);
    assert.equal(t.value, good);
    assert.equal(t.expiry, 1700003600);
    assert.equal(t.renewable, false);
  });
});

describe('RenewableSasToken and renewal timing (120 s before expiry, as the Python SDK)', () => {
  it('signs at now + ttl with the injected clock and re-signs on refresh', async () => {
    const clock = new FakeClock(1700000000 * 1000);
    const token = await RenewableSasToken.create({ uri: URI, signer: symmetricKeySigner(KEY), ttl: 3600, clock });
    assert.equal(
      token.value,
      `SharedAccessSignature sr=${SR}&sig=ce%2FWg32nNX309prajavLT7tp45%2BiS4IOADfKf4ULmW8%3D&se=1700003600`,
    );
    assert.equal(token.expiry, 1700003600);
    clock.time = 1700000000 * 1000 - 3500 * 1000 + 250;
    await token.refresh();
    assert.equal(
      token.value,
      `SharedAccessSignature sr=${SR}&sig=q4PA%2BLvViowTP8%2FMy%2F%2FXCqvvZva5zpI5Dlrzlbs1yw0%3D&se=1700000100`,
    );
  });
  it('keeps the old value when re-signing fails', async () => {
    const clock = new FakeClock(1000);
    let fail = false;
    const token = await RenewableSasToken.create({
      uri: URI,
      signer: async () => (fail ? Promise.reject(new Error('nope')) : 'c2ln'),
      ttl: 10,
      clock,
    });
    const before = token.value;
    fail = true;
    clock.time = 5000;
    await assert.rejects(token.refresh(), /nope/);
    assert.equal(token.value, before);
    assert.equal(token.expiry, 11);
  });
  it('renewal time is expiry minus the margin (120 s by default)', () => {
    assert.equal(renewalTime(1700003600), 1700003480 * 1000);
    assert.equal(renewalTime(100, 2), 98000);
  });
  it('Alarm fires at the absolute time, can be cancelled and re-armed', () => {
    const clock = new FakeClock(0);
    const alarm = new Alarm(clock);
    const fired: number[] = [];
    alarm.set(5000, () => fired.push(clock.now()));
    clock.advance(4999);
    assert.equal(fired.length, 0);
    assert.equal(alarm.isArmed, true);
    clock.advance(1);
    assert.deepEqual(fired, [5000]);
    assert.equal(alarm.isArmed, false);
    alarm.set(6000, () => fired.push(-1));
    alarm.cancel();
    clock.advance(10000);
    assert.deepEqual(fired, [5000]);
    assert.equal(clock.pending, 0);
  });
  it('Alarm past due fires at once; far-away alarms are stepped under the timer maximum', () => {
    const clock = new FakeClock(10_000);
    const alarm = new Alarm(clock);
    const fired: number[] = [];
    alarm.set(0, () => fired.push(clock.now()));
    clock.advance(0);
    assert.deepEqual(fired, [10_000]);
    const far = 10_000 + MAX_TIMER_MS * 2 + 7;
    alarm.set(far, () => fired.push(clock.now()));
    clock.advance(MAX_TIMER_MS);
    assert.equal(fired.length, 1);
    clock.advance(MAX_TIMER_MS + 7);
    assert.deepEqual(fired, [10_000, far]);
  });
});

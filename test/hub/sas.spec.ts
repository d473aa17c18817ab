// Unit tests for the hub's own SAS code (src/hub/sas.ts), against the protocol spec's conformance vectors.
import assert from 'node:assert/strict';
import { createSas, createServiceSas, parseSasToken, verifySas } from '../../src/hub/sas';

const KEY = 'NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg=';
const OTHER_KEY = Buffer.alloc(32, 7).toString('base64');
const URI = 'my-hub.azure-devices.net/devices/my-device/modules/my-module';
const VECTOR =
  'SharedAccessSignature sr=my-hub.azure-devices.net%2Fdevices%2Fmy-device%2Fmodules%2Fmy-module&sig=ce%2FWg32nNX309prajavLT7tp45%2BiS4IOADfKf4ULmW8%3D&se=1700003600';
const VECTOR_SKN =
  'SharedAccessSignature sr=my-hub.azure-devices.net%2Fdevices%2Fmy-device%2Fmodules%2Fmy-module&sig=q4PA%2BLvViowTP8%2FMy%2F%2FXCqvvZva5zpI5Dlrzlbs1yw0%3D&se=1700000100&skn=mykey';

describe('hub sas', () => {
  describe('parseSasToken', () => {
    it('parses the conformance vector', () => {
      assert.deepEqual(parseSasToken(VECTOR), {
        sr: 'my-hub.azure-devices.net%2Fdevices%2Fmy-device%2Fmodules%2Fmy-module',
        resource: URI,
        sig: 'ce/Wg32nNX309prajavLT7tp45+iS4IOADfKf4ULmW8=',
        se: 1700003600,
      });
    });
    it('parses skn and accepts fields in any order', () => {
      const p = parseSasToken('SharedAccessSignature skn=my%20key&se=5&sig=abc%3D&sr=h');
      assert.deepEqual(p, { sr: 'h', resource: 'h', sig: 'abc=', se: 5, skn: 'my key' });
    });
    const bad: Array<[string, string]> = [
      ['no prefix', 'sr=a&sig=b&se=1'],
      ['wrong prefix case', 'sharedaccesssignature sr=a&sig=b&se=1'],
      ['missing sr', 'SharedAccessSignature sig=b&se=1'],
      ['missing sig', 'SharedAccessSignature sr=a&se=1'],
      ['missing se', 'SharedAccessSignature sr=a&sig=b'],
      ['non-numeric se', 'SharedAccessSignature sr=a&sig=b&se=1x'],
      ['negative se', 'SharedAccessSignature sr=a&sig=b&se=-1'],
      ['unknown field', 'SharedAccessSignature sr=a&sig=b&se=1&foo=2'],
      ['duplicate field', 'SharedAccessSignature sr=a&sr=c&sig=b&se=1'],
      ['segment without =', 'SharedAccessSignature sr=a&sig=b&se=1&'],
      ['bad percent encoding', 'SharedAccessSignature sr=%E0%A4%A&sig=b&se=1'],
      ['empty', ''],
    ];
    for (const [name, token] of bad) {
      it(`rejects ${name}`, () => assert.equal(parseSasToken(token), undefined));
    }
    it('rejects non-strings', () => assert.equal(parseSasToken(42 as unknown as string), undefined));
  });

  describe('verifySas', () => {
    const parsed = parseSasToken(VECTOR)!;
    it('accepts the vector under its key before expiry', () =>
      assert.equal(verifySas(parsed, [KEY], 1700000000), true));
    it('accepts when the key is the secondary one', () =>
      assert.equal(verifySas(parsed, [OTHER_KEY, KEY], 1700000000), true));
    it('rejects under another key', () => assert.equal(verifySas(parsed, [OTHER_KEY], 1700000000), false));
    it('rejects with no keys', () => assert.equal(verifySas(parsed, [], 1700000000), false));
    it('rejects at the expiry second', () => assert.equal(verifySas(parsed, [KEY], 1700003600), false));
    it('rejects after expiry', () => assert.equal(verifySas(parsed, [KEY], 1700003601), false));
    it('rejects a tampered se', () =>
      assert.equal(verifySas({ ...parsed, se: parsed.se + 1 }, [KEY], 1700000000), false));
    it('rejects when sr is re-encoded differently (signature covers sr as sent)', () =>
      assert.equal(verifySas({ ...parsed, sr: URI }, [KEY], 1700000000), false));
    it('rejects a short signature', () =>
      assert.equal(verifySas({ ...parsed, sig: 'AAAA' }, [KEY], 1700000000), false));
    it('verifies the skn vector', () => assert.equal(verifySas(parseSasToken(VECTOR_SKN)!, [KEY], 1700000000), true));
  });

  describe('createSas / createServiceSas', () => {
    it('reproduces the conformance vector', () => assert.equal(createSas(URI, KEY, 3600, 1700000000), VECTOR));
    it('reproduces the skn vector', () => assert.equal(createSas(URI, KEY, 100, 1700000000, 'mykey'), VECTOR_SKN));
    it('creates a service token that verifies', () => {
      const token = createServiceSas('my-hub.azure-devices.net', 'iothubowner', KEY, 60, 1000);
      assert.match(token, /^SharedAccessSignature sr=my-hub\.azure-devices\.net&sig=[^&]+&se=1060&skn=iothubowner$/);
      const p = parseSasToken(token)!;
      assert.equal(p.skn, 'iothubowner');
      assert.equal(verifySas(p, [KEY], 1000), true);
    });
    it('defaults to the current time', () => {
      const p = parseSasToken(createServiceSas('h', 'k', KEY, 60))!;
      const now = Math.floor(Date.now() / 1000);
      assert.ok(p.se >= now + 59 && p.se <= now + 61);
    });
    it('throws on empty names', () => {
      assert.throws(() => createServiceSas('', 'k', KEY, 1, 0), TypeError);
      assert.throws(() => createServiceSas('h', '', KEY, 1, 0), TypeError);
      assert.throws(() => createSas('', KEY, 1, 0), TypeError);
    });
  });
});

// Option validation per factory (the Python SDK's kwargs rules): unknown/excluded → TypeError, wrong type →
// TypeError, bad value → ValueError; defaults; cipher normalisation vectors.
import assert from 'node:assert/strict';
import { resolveOptions, normalizeCipher, minimumSastokenTtl, type FactoryKind } from '../../src/client/options';
import { ValueError } from '../../src/client/errors';

describe('resolveOptions', () => {
  it("applies the Python SDK's defaults", () => {
    assert.deepEqual(resolveOptions('connectionString', undefined), {
      websockets: false,
      cipher: '',
      productInfo: '',
      sastokenTtl: 3600,
      keepAlive: 60,
      autoConnect: true,
      connectionRetry: true,
      connectionRetryInterval: 10,
      connectionRetryForever: false,
      ensureDesiredProperties: true,
      operationTimeout: 60,
      sastokenRenewalMargin: 120,
    });
  });

  const excluded: Array<[FactoryKind, string, unknown]> = [
    ['connectionString', 'gatewayHostname', 'gw'],
    ['sastoken', 'sastokenTtl', 10],
    ['x509', 'sastokenTtl', 10],
    ['edge', 'serverVerificationCert', 'PEM'],
    ['edge', 'gatewayHostname', 'gw'],
  ];
  for (const [factory, key, value] of excluded) {
    it(`${factory} rejects ${key} with TypeError`, () => {
      assert.throws(() => resolveOptions(factory, { [key]: value }), TypeError);
    });
  }
  it('allowed per factory', () => {
    assert.equal(resolveOptions('sastoken', { gatewayHostname: 'gw:1' }).gatewayHostname, 'gw:1');
    assert.equal(resolveOptions('x509', { gatewayHostname: 'gw' }).gatewayHostname, 'gw');
    assert.equal(resolveOptions('edge', { sastokenTtl: 300, env: {} }).sastokenTtl, 300);
    assert.equal(resolveOptions('connectionString', { serverVerificationCert: 'PEM' }).serverVerificationCert, 'PEM');
  });
  it('unknown option → TypeError; env only for edge', () => {
    assert.throws(() => resolveOptions('connectionString', { foo: 1 }), TypeError);
    assert.throws(() => resolveOptions('connectionString', { env: {} }), TypeError);
    assert.throws(() => resolveOptions('connectionString', { keep_alive: 1 }), TypeError);
  });
  it('non-object options → TypeError', () => {
    assert.throws(() => resolveOptions('connectionString', 'x'), TypeError);
    assert.throws(() => resolveOptions('connectionString', []), TypeError);
  });

  const badValues: Array<[string, unknown, typeof TypeError | typeof ValueError]> = [
    ['keepAlive', '60', TypeError],
    ['keepAlive', 0, ValueError],
    ['keepAlive', 1741, ValueError],
    ['keepAlive', -5, ValueError],
    ['connectionRetryInterval', 0, ValueError],
    ['connectionRetryInterval', 'ten', TypeError],
    ['connectionRetryInterval', 3e9, ValueError],
    ['sastokenTtl', 0, ValueError],
    ['sastokenTtl', '1', TypeError],
    ['operationTimeout', 0, ValueError],
    ['operationTimeout', null, TypeError],
    ['websockets', 'yes', TypeError],
    ['autoConnect', 1, TypeError],
    ['connectionRetry', 'true', TypeError],
    ['ensureDesiredProperties', 0, TypeError],
    ['productInfo', 5, TypeError],
    ['serverVerificationCert', Buffer.from('x'), TypeError],
    ['cipher', 5, TypeError],
    ['cipher', ['a', 5], TypeError],
    ['proxyOptions', 'http://proxy', TypeError],
  ];
  for (const [key, value, cls] of badValues) {
    it(`${key}=${JSON.stringify(value)} → ${cls.name}`, () => {
      const factory: FactoryKind = key === 'sastokenTtl' ? 'connectionString' : 'sastoken';
      assert.throws(() => resolveOptions(factory, { [key]: value }), cls);
    });
  }
  it('sastokenTtl shorter than twice the 120 s renewal margin → ValueError stating the minimum (no renewal loop)', () => {
    assert.equal(minimumSastokenTtl(), 240);
    assert.equal(resolveOptions('connectionString', { sastokenTtl: 240 }).sastokenTtl, 240);
    for (const ttl of [1, 120, 239]) {
      assert.throws(
        () => resolveOptions('connectionString', { sastokenTtl: ttl }),
        (e: unknown) => e instanceof ValueError && /at least 240 seconds/.test(e.message),
      );
    }
    assert.throws(() => resolveOptions('edge', { sastokenTtl: 1, env: {} }), ValueError);
    // The minimum follows the renewal margin (an internal test hook), so tests can still use short tokens.
    assert.equal(resolveOptions('connectionString', { sastokenTtl: 5, sastokenRenewalMargin: 2 }).sastokenTtl, 5);
    assert.throws(() => resolveOptions('connectionString', { sastokenTtl: 3, sastokenRenewalMargin: 2 }), ValueError);
  });
  it('keepAlive boundaries and truncation like int()', () => {
    assert.equal(resolveOptions('sastoken', { keepAlive: 1740 }).keepAlive, 1740);
    assert.equal(resolveOptions('sastoken', { keepAlive: 1 }).keepAlive, 1);
    assert.equal(resolveOptions('sastoken', { keepAlive: 30.9 }).keepAlive, 30);
  });
  it('undefined values count as absent (also for excluded keys)', () => {
    assert.equal(
      resolveOptions('connectionString', { gatewayHostname: undefined, keepAlive: undefined }).keepAlive,
      60,
    );
  });
});

describe("normalizeCipher (the Python SDK's config_test vectors)", () => {
  const table: Array<[unknown, string]> = [
    ['DHE-RSA-AES128-SHA', 'DHE-RSA-AES128-SHA'],
    ['dhe_rsa_aes128_sha', 'DHE-RSA-AES128-SHA'],
    [['DHE_RSA_AES128_SHA', 'DHE_RSA_AES256_SHA'], 'DHE-RSA-AES128-SHA:DHE-RSA-AES256-SHA'],
    ['DHE-RSA-AES128-SHA:ecdhe_ecdsa_aes128_sha', 'DHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA'],
    [[], ''],
  ];
  for (const [input, expected] of table)
    it(JSON.stringify(input), () => assert.equal(normalizeCipher(input), expected));
  it('rejects other types', () => {
    assert.throws(() => normalizeCipher({}), TypeError);
    assert.throws(() => normalizeCipher(undefined), TypeError);
  });
});

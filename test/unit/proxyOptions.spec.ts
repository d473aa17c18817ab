// validateProxyOptions: what is accepted, how it is normalised, and which error each bad input raises.
import assert from 'node:assert/strict';
import { ValueError } from '../../src/client/errors';
import { validateProxyOptions } from '../../src/client/transport/proxy';

describe('validateProxyOptions', () => {
  const base = { proxyType: 'HTTP', proxyAddress: 'proxy.example', proxyPort: 3128 };

  it("accepts the Python SDK's proxy type names and normalises their case", () => {
    for (const [given, expected] of [
      ['HTTP', 'HTTP'],
      ['SOCKS4', 'SOCKS4'],
      ['SOCKS5', 'SOCKS5'],
      ['http', 'HTTP'],
      ['socks5', 'SOCKS5'],
      [' Socks4 ', 'SOCKS4'],
    ]) {
      assert.equal(validateProxyOptions({ ...base, proxyType: given }).proxyType, expected, given);
    }
  });

  it('returns a fresh normalised object with optional credentials', () => {
    assert.deepEqual(validateProxyOptions({ ...base, proxyAddress: ' 10.0.0.1 ', proxyPort: '8080' }), {
      proxyType: 'HTTP',
      proxyAddress: '10.0.0.1',
      proxyPort: 8080,
    });
    assert.deepEqual(validateProxyOptions({ ...base, proxyUsername: 'ü ser', proxyPassword: 'p:a$s' }), {
      ...base,
      proxyUsername: 'ü ser',
      proxyPassword: 'p:a$s',
    });
    assert.deepEqual(validateProxyOptions({ ...base, proxyUsername: null, proxyPassword: undefined }), base);
    assert.deepEqual(validateProxyOptions({ ...base, proxyUsername: '', proxyPassword: '' }), base);
    assert.deepEqual(validateProxyOptions({ ...base, proxyPort: 1 }).proxyPort, 1);
    assert.deepEqual(validateProxyOptions({ ...base, proxyPort: 65535 }).proxyPort, 65535);
  });

  const typeErrors: Array<[string, unknown]> = [
    ['not an object', 'HTTP://proxy:3128'],
    ['null', null],
    ['an array', [base]],
    ['an unknown key', { ...base, proxyHost: 'x' }],
    ['a numeric proxyType', { ...base, proxyType: 3 }],
    ['a missing proxyType', { proxyAddress: 'x', proxyPort: 1 }],
    ['a numeric proxyAddress', { ...base, proxyAddress: 127001 }],
    ['a boolean proxyPort', { ...base, proxyPort: true }],
    ['a missing proxyPort', { proxyType: 'HTTP', proxyAddress: 'x' }],
    ['a numeric username', { ...base, proxyUsername: 1 }],
    ['an object password', { ...base, proxyUsername: 'u', proxyPassword: {} }],
  ];
  for (const [label, value] of typeErrors) {
    it(`throws TypeError for ${label}`, () => {
      assert.throws(
        () => validateProxyOptions(value),
        (err: unknown) => err instanceof TypeError,
      );
    });
  }

  const valueErrors: Array<[string, unknown]> = [
    ['an unknown proxyType', { ...base, proxyType: 'HTTPS' }],
    ['an empty proxyType', { ...base, proxyType: '' }],
    ['an empty address', { ...base, proxyAddress: '  ' }],
    ['an address with a space', { ...base, proxyAddress: 'proxy example' }],
    ['port 0', { ...base, proxyPort: 0 }],
    ['port 65536', { ...base, proxyPort: 65536 }],
    ['a negative port', { ...base, proxyPort: -1 }],
    ['a fractional port', { ...base, proxyPort: 80.5 }],
    ['NaN port', { ...base, proxyPort: Number.NaN }],
    ['a non-numeric port string', { ...base, proxyPort: '80a' }],
    ['a password without username', { ...base, proxyPassword: 'secret' }],
    ['a SOCKS5 username over 255 bytes', { ...base, proxyType: 'SOCKS5', proxyUsername: 'é'.repeat(128) }],
    [
      'a SOCKS5 password over 255 bytes',
      { ...base, proxyType: 'SOCKS5', proxyUsername: 'u', proxyPassword: 'x'.repeat(256) },
    ],
    ['a SOCKS4 user id with NUL', { ...base, proxyType: 'SOCKS4', proxyUsername: 'a\0b' }],
  ];
  for (const [label, value] of valueErrors) {
    it(`throws ValueError for ${label}`, () => {
      assert.throws(
        () => validateProxyOptions(value),
        (err: unknown) => err instanceof ValueError && err.code === 'invalid-value',
      );
    });
  }

  it('accepts SOCKS5 credentials of exactly 255 bytes', () => {
    const v = validateProxyOptions({
      ...base,
      proxyType: 'SOCKS5',
      proxyUsername: 'u'.repeat(255),
      proxyPassword: 'p'.repeat(255),
    });
    assert.equal(v.proxyUsername?.length, 255);
  });
});

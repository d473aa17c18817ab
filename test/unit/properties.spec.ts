// Property-bag encoding (Python SDK byte-exact) and decoding (either SDK), with literal expected strings.
import assert from 'node:assert/strict';
import {
  quote,
  quotePlus,
  unquote,
  encodeMessageProperties,
  decodeMessageProperties,
} from '../../src/client/transport/properties';
import { Message } from '../../src/client/models/Message';

const NASTY = "a b/$+%&#!*'()é~";
const NASTY_ENC = 'a%20b%2F%24%2B%25%26%23%21%2A%27%28%29%C3%A9~';

describe('percent-encoding (Python quote / quote_plus / unquote)', () => {
  const table: Array<[string, string, string]> = [
    ['', '', ''],
    ['plain-._~AZaz09', 'plain-._~AZaz09', 'plain-._~AZaz09'],
    [NASTY, NASTY_ENC, 'a+b%2F%24%2B%25%26%23%21%2A%27%28%29%C3%A9~'],
    ['=?;:,@', '%3D%3F%3B%3A%2C%40', '%3D%3F%3B%3A%2C%40'],
    ['日本', '%E6%97%A5%E6%9C%AC', '%E6%97%A5%E6%9C%AC'],
    ['😀', '%F0%9F%98%80', '%F0%9F%98%80'],
  ];
  for (const [raw, q, qp] of table) {
    it(`quote(${JSON.stringify(raw)})`, () => {
      assert.equal(quote(raw), q);
      assert.equal(quotePlus(raw), qp);
      assert.equal(unquote(q), raw);
    });
  }
  it('unquote leaves + alone and keeps malformed escapes', () => {
    assert.equal(unquote('a+b'), 'a+b');
    assert.equal(unquote('100%'), '100%');
    assert.equal(unquote('%zz%41'), '%zzA');
    assert.equal(unquote('%E6%97%A5%'), '日%');
  });
});

describe('encodeMessageProperties (as the Python SDK)', () => {
  const cases: Array<[string, () => Message, string]> = [
    ['no properties', () => new Message('x'), ''],
    [
      "all system properties in the Python SDK's order",
      () => {
        const m = new Message('x', {
          messageId: 'mid',
          contentEncoding: 'utf-8',
          contentType: 'application/json',
          outputName: 'out',
        });
        m.correlationId = 'cid';
        m.userId = 'uid';
        m.expiryTimeUtc = '2019-02-02T00:00:00';
        m.setAsSecurityMessage();
        return m;
      },
      '%24.on=out&%24.mid=mid&%24.cid=cid&%24.uid=uid&%24.ct=application%2Fjson&%24.ce=utf-8' +
        '&%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1&%24.exp=2019-02-02T00%3A00%3A00',
    ],
    [
      'nasty values and keys',
      () => {
        const m = new Message('x', { messageId: NASTY, outputName: NASTY });
        m.customProperties = { [NASTY]: NASTY };
        return m;
      },
      `%24.on=${NASTY_ENC}&%24.mid=${NASTY_ENC}&${NASTY_ENC}=${NASTY_ENC}`,
    ],
    [
      'custom properties sorted, no leading & without system properties',
      () => {
        const m = new Message('x');
        m.customProperties = { zeta: '1', Alpha: '2', alpha: 'x y', ü: 'ß' };
        return m;
      },
      'Alpha=2&alpha=x%20y&zeta=1&%C3%BC=%C3%9F',
    ],
    [
      'empty system values are skipped (truthiness)',
      () => {
        const m = new Message('x', { messageId: '', contentType: 'text/plain' });
        m.customProperties = { k: '' };
        return m;
      },
      '%24.ct=text%2Fplain&k=',
    ],
    [
      'Date expiry uses Python isoformat',
      () => {
        const m = new Message('x');
        m.expiryTimeUtc = new Date(Date.UTC(2019, 1, 2, 3, 4, 5, 678));
        return m;
      },
      '%24.exp=2019-02-02T03%3A04%3A05.678000',
    ],
    [
      'Date expiry without milliseconds',
      () => {
        const m = new Message('x');
        m.expiryTimeUtc = new Date(Date.UTC(2019, 1, 2));
        return m;
      },
      '%24.exp=2019-02-02T00%3A00%3A00',
    ],
  ];
  for (const [name, make, expected] of cases) {
    it(name, () => assert.equal(encodeMessageProperties(make()), expected));
  }
});

describe("decodeMessageProperties (either SDK's shape)", () => {
  it('maps system keys, drops $.to, keeps everything else as custom (incl. $.on/$.cdid/$.cmid)', () => {
    const d = decodeMessageProperties(
      '%24.mid=m%201&%24.cid=c&%24.uid=u&%24.ct=application%2Fjson&%24.ce=utf-8&%24.exp=2019&iothub-ack=full' +
        '&%24.to=%2Fdevices%2Fd&%24.on=out&%24.cdid=dev&%24.cmid=mod&' +
        `${NASTY_ENC}=${NASTY_ENC}`,
    );
    assert.deepEqual(d, {
      messageId: 'm 1',
      correlationId: 'c',
      userId: 'u',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      expiryTimeUtc: '2019',
      ack: 'full',
      customProperties: { '$.on': 'out', '$.cdid': 'dev', '$.cmid': 'mod', [NASTY]: NASTY },
    });
  });
  it('accepts raw $ keys, a leading ? and a trailing / (Node SDK shapes), keys without =', () => {
    assert.deepEqual(decodeMessageProperties('?$.mid=1&flag&a=b+c/'), {
      messageId: '1',
      customProperties: { flag: '', a: 'b+c' },
    });
  });
  it('an empty bag', () => {
    assert.deepEqual(decodeMessageProperties(''), { customProperties: {} });
  });
  it('round-trips everything the encoder writes', () => {
    const m = new Message('x', { messageId: NASTY, contentType: '日本', contentEncoding: 'utf-8' });
    m.correlationId = '#&%';
    m.customProperties = { [NASTY]: '😀', plain: 'v' };
    const d = decodeMessageProperties(encodeMessageProperties(m));
    assert.equal(d.messageId, NASTY);
    assert.equal(d.correlationId, '#&%');
    assert.equal(d.contentType, '日本');
    assert.deepEqual(d.customProperties, { [NASTY]: '😀', plain: 'v' });
  });
});

describe('Message', () => {
  it('wire payload of string (sent as UTF-8), Buffer (as is) and number (its text)', () => {
    assert.equal(new Message('é').wirePayload(), 'é');
    const b = Buffer.from([0, 255]);
    assert.equal(new Message(b).wirePayload(), b);
    assert.equal(new Message(12.5).wirePayload(), '12.5');
  });
  it('security message and defaults', () => {
    const m = new Message('x');
    assert.equal(m.iothubInterfaceId, undefined);
    assert.deepEqual(m.customProperties, {});
    m.setAsSecurityMessage();
    assert.equal(m.iothubInterfaceId, 'urn:azureiot:Security:SecurityAgent:1');
  });
});

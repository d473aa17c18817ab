// The DER encoder and X.509 builder (src/hub/x509.ts): literal encodings, then certificates node:crypto accepts.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import {
  createCertificate,
  derInteger,
  derLength,
  derOid,
  derTime,
  ipBytes,
  issueCertificate,
  keyUsageBits,
  subjectNameDer,
} from '../../src/hub/x509';

const hex = (b: Buffer): string => b.toString('hex');

describe('x509 builder', () => {
  describe('DER lengths', () => {
    const table: Array<[number, string]> = [
      [0, '00'],
      [5, '05'],
      [127, '7f'],
      [128, '8180'],
      [255, '81ff'],
      [256, '820100'],
      [65535, '82ffff'],
      [65536, '83010000'],
    ];
    for (const [n, expected] of table) it(`${n} → ${expected}`, () => assert.equal(hex(derLength(n)), expected));
  });

  describe('INTEGER', () => {
    const table: Array<[number | Buffer, string]> = [
      [0, '020100'],
      [2, '020102'],
      [127, '02017f'],
      [128, '02020080'],
      [256, '02020100'],
      [Buffer.from('0000ff', 'hex'), '020200ff'],
      [Buffer.from('00007f', 'hex'), '02017f'],
      [Buffer.alloc(0), '020100'],
    ];
    for (const [v, expected] of table) {
      it(`${Buffer.isBuffer(v) ? `0x${hex(v)}` : v} → ${expected}`, () => assert.equal(hex(derInteger(v)), expected));
    }
    it('rejects negative numbers', () => assert.throws(() => derInteger(-1), RangeError));
  });

  describe('OBJECT IDENTIFIER', () => {
    const table: Array<[string, string]> = [
      ['2.5.4.3', '0603550403'],
      ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
      ['1.2.840.113549.1.1.11', '06092a864886f70d01010b'],
      ['1.3.6.1.5.5.7.3.1', '06082b06010505070301'],
      ['2.999', '06028837'],
    ];
    for (const [oid, expected] of table) it(`${oid} → ${expected}`, () => assert.equal(hex(derOid(oid)), expected));
    it('rejects malformed OIDs', () => {
      assert.throws(() => derOid('1'), RangeError);
      assert.throws(() => derOid('3.1'), RangeError);
      assert.throws(() => derOid('1.x'), RangeError);
    });
  });

  describe('Time', () => {
    const table: Array<[string, string]> = [
      ['2026-11-26T14:05:09.123Z', '170d3236313132363134303530395a'], // UTCTime "261126140509Z"
      ['1950-01-01T00:00:00Z', '170d3530303130313030303030305a'],
      ['2049-12-31T23:59:59Z', '170d3439313233313233353935395a'],
      ['2050-01-01T00:00:00Z', '180f32303530303130313030303030305a'], // GeneralizedTime "20500101000000Z"
      ['1949-12-31T23:59:59Z', '180f31393439313233313233353935395a'],
    ];
    for (const [iso, expected] of table) it(iso, () => assert.equal(hex(derTime(new Date(iso))), expected));
  });

  describe('keyUsage bits', () => {
    it('digitalSignature → 03 02 07 80', () => assert.equal(hex(keyUsageBits(['digitalSignature'])), '03020780'));
    it('digitalSignature, keyCertSign, cRLSign → 03 02 01 86', () => {
      assert.equal(hex(keyUsageBits(['digitalSignature', 'keyCertSign', 'cRLSign'])), '03020186');
    });
    it('digitalSignature, keyEncipherment → 03 02 05 a0', () => {
      assert.equal(hex(keyUsageBits(['digitalSignature', 'keyEncipherment'])), '030205a0');
    });
  });

  describe('IP addresses', () => {
    const table: Array<[string, string]> = [
      ['127.0.0.1', '7f000001'],
      ['::1', '00000000000000000000000000000001'],
      ['::', '00000000000000000000000000000000'],
      ['fe80::1:2', 'fe800000000000000000000000010002'],
      ['2001:db8:0:0:0:0:0:ff', '20010db80000000000000000000000ff'],
      ['::ffff:10.1.2.3', '00000000000000000000ffff0a010203'],
    ];
    for (const [ip, expected] of table) it(ip, () => assert.equal(hex(ipBytes(ip)), expected));
    it('rejects a host name', () => assert.throws(() => ipBytes('localhost'), TypeError));
  });

  describe('certificates', () => {
    const day = 24 * 3600 * 1000;
    const span = { notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + day) };

    for (const keyType of ['ec', 'rsa'] as const) {
      it(`a ${keyType} CA signs a server certificate node:crypto verifies`, async () => {
        const ca = await issueCertificate(
          { commonName: `${keyType} CA`, ...span, ca: true, keyUsage: ['keyCertSign', 'cRLSign'] },
          { keyType },
        );
        const server = await issueCertificate(
          {
            commonName: 'localhost',
            ...span,
            keyUsage: ['digitalSignature'],
            extKeyUsage: ['serverAuth'],
            dnsNames: ['localhost'],
            ipAddresses: ['127.0.0.1', '::1'],
          },
          { issuer: ca, keyType },
        );
        const caX = new X509Certificate(ca.cert);
        const x = new X509Certificate(server.cert);
        assert.equal(caX.ca, true);
        assert.equal(x.ca, false);
        assert.ok(caX.verify(caX.publicKey));
        assert.ok(x.verify(caX.publicKey));
        assert.ok(x.checkIssued(caX));
        assert.equal(x.issuer, `CN=${keyType} CA`);
        assert.equal(x.subject, 'CN=localhost');
        assert.equal(x.checkHost('localhost'), 'localhost');
        assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
        assert.equal(x.checkIP('::1'), '::1');
        assert.equal(x.checkHost('example.com'), undefined);
        assert.ok(x.checkPrivateKey(createPrivateKey(server.key)));
        assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
        assert.equal(x.publicKey.asymmetricKeyType, keyType);
      });
    }

    it('copies the issuer Name byte for byte and keeps dates to the second, past 2049 too', () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const notAfter = new Date('2061-03-04T05:06:07Z');
      const notBefore = new Date('2020-01-02T03:04:05Z');
      const pem = createCertificate({ commonName: 'ü/ß', notBefore, notAfter }, publicKey, privateKey);
      const x = new X509Certificate(pem);
      assert.equal(x.subject, 'CN=ü/ß');
      assert.equal(new Date(x.validTo).toISOString(), notAfter.toISOString());
      assert.equal(new Date(x.validFrom).toISOString(), '2020-01-02T03:04:05.000Z');
      assert.ok(/^[0-9A-F]{32}$/.test(x.serialNumber) && Number.parseInt(x.serialNumber[0]!, 16) < 8);
      assert.equal(hex(subjectNameDer(x)), '3010310e300c06035504030c05c3bc2fc39f'); // Name { SET { CN UTF8String } }
    });

    it('encrypts the private key with a passphrase', async () => {
      const { key } = await issueCertificate({ commonName: 'enc', ...span }, { passphrase: 'pa ss ü' });
      assert.match(key, /BEGIN ENCRYPTED PRIVATE KEY/);
      assert.throws(() => createPrivateKey(key));
      assert.equal(createPrivateKey({ key, passphrase: 'pa ss ü' }).asymmetricKeyType, 'ec');
    });
  });
});

// The hub's TLS material and CONNECT identity parsing (src/hub/certs.ts, src/hub/auth.ts): pure checks.
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { parseClientId } from '../../src/hub/auth';
import { generateCa, generateClientCertificate, generateHubTls, thumbprints } from '../../src/hub/certs';

describe('hub certificates and identities', () => {
  it('makes a CA and a server certificate for localhost and 127.0.0.1 signed by it', async () => {
    const t = await generateHubTls();
    const ca = new X509Certificate(t.caCert);
    const server = new X509Certificate(t.serverCert);
    assert.equal(ca.ca, true);
    assert.equal(server.ca, false);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkHost('example.com'), undefined);
    assert.ok(server.checkPrivateKey(createPrivateKey(t.serverKey)));
  });

  it('makes client certificates, self-signed or CA-signed, with the CN asked for', async () => {
    const ca = await generateCa('Test CA');
    const self = new X509Certificate((await generateClientCertificate('d/m')).cert);
    const signed = new X509Certificate((await generateClientCertificate('d/m', ca)).cert);
    assert.match(self.subject, /CN=d\/m/);
    assert.ok(signed.checkIssued(new X509Certificate(ca.cert)));
    assert.equal(self.checkIssued(new X509Certificate(ca.cert)), false);
  });

  it('computes upper-case hex thumbprints matching X509Certificate fingerprints', async () => {
    const pem = (await generateClientCertificate('x')).cert;
    const t = thumbprints(pem);
    const x = new X509Certificate(pem);
    assert.equal(t.sha1, x.fingerprint.replace(/:/g, ''));
    assert.equal(t.sha256, x.fingerprint256.replace(/:/g, ''));
    assert.deepEqual(thumbprints(x.raw), t);
  });

  describe('parseClientId', () => {
    const table: Array<[string, unknown]> = [
      ['dev/mod', { deviceId: 'dev', moduleId: 'mod' }],
      ['dev', { deviceId: 'dev' }],
      ['d-1.x/$edgeHub', { deviceId: 'd-1.x', moduleId: '$edgeHub' }],
      ['', undefined],
      ['/mod', undefined],
      ['dev/', undefined],
      ['a/b/c', undefined],
    ];
    for (const [id, expected] of table) it(JSON.stringify(id), () => assert.deepEqual(parseClientId(id), expected));
  });
});

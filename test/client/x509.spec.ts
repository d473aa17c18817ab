// loadX509 (inline PEM or files, encrypted keys, errors naming the field) and createFromX509Certificate with the local
// hub.
import assert from 'node:assert/strict';
import crypto, { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { issueCertificate } from '../../src/hub/x509';
import { loadX509, type X509 } from '../../src/client/auth/x509';
import { IoTHubModuleClient } from '../../src/client/IoTHubModuleClient';
import { CredentialError, ValueError } from '../../src/client/errors';
import { LocalHub } from '../../src/hub';

describe('loadX509', function () {
  this.timeout(20000);
  let dir: string;
  let cert: string;
  let key: string;
  let encryptedKey: string;
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x509-test-'));
    const plain = await issueCertificate({ commonName: 'my-device/my-module' }, { keyType: 'rsa' });
    cert = plain.cert;
    key = plain.key;
    const encrypted = await issueCertificate({ commonName: 'enc' }, { keyType: 'rsa', passphrase: 'pa ss ü' });
    encryptedKey = encrypted.key;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('returns inline PEM as given', () => {
    assert.deepEqual(loadX509({ cert, key }), { cert, key });
  });

  it('reads certFile and keyFile', () => {
    assert.deepEqual(loadX509({ certFile: file('c.pem', cert), keyFile: file('k.pem', key) }), { cert, key });
  });

  it('accepts an encrypted key with its pass phrase and returns the passphrase for tls', () => {
    assert.ok(encryptedKey.includes('ENCRYPTED'));
    assert.deepEqual(loadX509({ cert, keyFile: file('enc.pem', encryptedKey), passPhrase: 'pa ss ü' }), {
      cert,
      key: encryptedKey,
      passphrase: 'pa ss ü',
    });
  });

  const valueErrors: Array<[string, () => X509, RegExp]> = [
    ['no certificate', () => ({ key }), /cert or certFile/],
    ['no key', () => ({ cert }), /key or keyFile/],
    [
      'cert and certFile together',
      () => ({ cert, certFile: file('c2.pem', cert), key }),
      /cert or certFile, not both|either cert or certFile/,
    ],
    ['a missing certFile', () => ({ certFile: path.join(dir, 'absent.pem'), key }), /x509\.certFile/],
    ['a missing keyFile', () => ({ cert, keyFile: path.join(dir, 'absent-key.pem') }), /x509\.keyFile/],
    ['a cert that is not PEM', () => ({ cert: 'hello', key }), /x509\.cert /],
    [
      'a certFile with a broken PEM body',
      () => ({ certFile: file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), key }),
      /x509\.certFile/,
    ],
    ['a key that is not PEM', () => ({ cert, key: cert }), /x509\.key /],
    [
      'a keyFile with a broken PEM body',
      () => ({
        cert,
        keyFile: file('broken-key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
      }),
      /x509\.keyFile/,
    ],
    ['an encrypted key without pass phrase', () => ({ cert, key: encryptedKey }), /x509\.passPhrase is needed/],
    [
      'an encrypted key with the wrong pass phrase',
      () => ({ cert, key: encryptedKey, passPhrase: 'wrong' }),
      /x509\.passPhrase/,
    ],
  ];
  for (const [label, make, message] of valueErrors) {
    it(`throws ValueError naming the field for ${label}`, () => {
      assert.throws(
        () => loadX509(make()),
        (err: unknown) => err instanceof ValueError && message.test(err.message),
      );
    });
  }

  it('keeps the file system error as cause', () => {
    assert.throws(
      () => loadX509({ certFile: path.join(dir, 'absent.pem'), key }),
      (err: unknown) => err instanceof ValueError && (err.cause as NodeJS.ErrnoException).code === 'ENOENT',
    );
  });

  const typeErrors: Array<[string, unknown]> = [
    ['null', null],
    ['a string', 'cert.pem'],
    ['a Buffer cert', { cert: Buffer.from('x'), key: 'k' }],
    ['an unknown field', { cert: 'c', key: 'k', password: 'p' }],
  ];
  for (const [label, value] of typeErrors) {
    it(`throws TypeError for ${label}`, () => {
      assert.throws(() => loadX509(value as X509), TypeError);
    });
  }
});

describe('IoTHubModuleClient.createFromX509Certificate with the local hub', function () {
  this.timeout(30000);
  let hub: LocalHub;
  let dir: string;
  let device: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  const clients: IoTHubModuleClient[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'x509-client-'));
    const a = await issueCertificate(
      { commonName: 'x509-device/x509-module' },
      { keyType: 'rsa', passphrase: 'open sesame' },
    );
    const b = await issueCertificate({ commonName: 'x509-device/x509-module' }, { keyType: 'rsa' });
    device = a;
    stranger = b;
    hub = await LocalHub.start();
    const thumbprint = createHash('sha256').update(new crypto.X509Certificate(device.cert).raw).digest('hex');
    hub.addModule('x509-device', 'x509-module', { x509Thumbprints: [thumbprint] });
  });
  after(async () => {
    await hub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown();
  });

  const create = (x509: X509, websockets = false): IoTHubModuleClient => {
    const client = IoTHubModuleClient.createFromX509Certificate(
      { x509, hostname: hub.hostName, deviceId: 'x509-device', moduleId: 'x509-module' },
      {
        serverVerificationCert: hub.caCert,
        gatewayHostname: `localhost:${hub.port}`,
        websockets,
        connectionRetry: false,
      },
    );
    clients.push(client);
    return client;
  };

  for (const websockets of [false, true]) {
    it(`connects over ${websockets ? 'WebSockets' : 'TLS'} with a certificate file and an encrypted key file`, async () => {
      const certFile = path.join(dir, 'device.pem');
      const keyFile = path.join(dir, 'device.key');
      fs.writeFileSync(certFile, device.cert);
      fs.writeFileSync(keyFile, device.key);
      const client = create({ certFile, keyFile, passPhrase: 'open sesame' }, websockets);
      await client.connect();
      assert.equal(client.connected, true);
      const record = hub.observed.connects.filter((c) => c.clientId === 'x509-device/x509-module').at(-1);
      assert.equal(record?.x509, true);
      assert.equal(record?.password, undefined);
      await client.patchTwinReportedProperties({ auth: 'x509' });
      assert.equal((await client.getTwin()).reported.auth, 'x509');
    });
  }

  it('a certificate the hub does not know → connect rejects with CredentialError', async () => {
    const client = create({ cert: stranger.cert, key: stranger.key });
    await assert.rejects(client.connect(), CredentialError);
  });

  it("takes the Python SDK's positional form (x509, hostname, deviceId, moduleId, options) beside the object form", async () => {
    const client = IoTHubModuleClient.createFromX509Certificate(
      { cert: device.cert, key: device.key, passPhrase: 'open sesame' },
      hub.hostName,
      'x509-device',
      'x509-module',
      {
        serverVerificationCert: hub.caCert,
        gatewayHostname: `localhost:${hub.port}`,
        connectionRetry: false,
      },
    );
    clients.push(client);
    await client.connect();
    assert.equal(hub.observed.connects.filter((c) => c.clientId === 'x509-device/x509-module').at(-1)?.x509, true);
    // Positional arguments are checked like the object form's.
    const x509 = { cert: device.cert, key: device.key, passPhrase: 'open sesame' };
    assert.throws(
      () => IoTHubModuleClient.createFromX509Certificate(x509, hub.hostName, 5 as never, 'x509-module'),
      TypeError,
    );
    assert.throws(
      () =>
        IoTHubModuleClient.createFromX509Certificate(x509, hub.hostName, 'x509-device', 'x509-module', {
          sastokenTtl: 3600,
        }),
      TypeError,
    );
  });

  it('a wrong pass phrase → ValueError at creation, before any network use', () => {
    assert.throws(
      () => create({ cert: device.cert, key: device.key, passPhrase: 'wrong' }),
      (err: unknown) => err instanceof ValueError && /passPhrase/.test(err.message),
    );
  });
});

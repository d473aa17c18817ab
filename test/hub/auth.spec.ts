// CONNECT authentication as IoT Hub does it, on the local hub over real TLS sockets (SAS, X.509, takeover, token
// expiry).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IClientOptions } from 'mqtt';
import { generateCa, generateClientCertificate, thumbprints } from '../../src/hub/certs';
import type { LocalHub } from '../../src/hub/LocalHub';
import type { ModuleIdentity } from '../../src/hub/types';
import { createSas } from '../../src/hub/sas';
import { API, closed, onClose, connackCode, connectModule, endAll, moduleOptions, startHub, tokenFor } from './support';
import { until } from '../helpers/until';

describe('local hub: authentication', function () {
  let hub: LocalHub;
  let mod: ModuleIdentity;
  let other: ModuleIdentity;
  let url: string;

  before(async () => {
    hub = await startHub();
    mod = hub.addModule('dev1', 'modA');
    other = hub.addModule('dev1', 'modB');
    url = `mqtts://127.0.0.1:${hub.port}`;
  });
  afterEach(() => endAll());
  after(() => hub.close());

  const now = (): number => Math.floor(Date.now() / 1000);
  const cases: Array<[string, () => Partial<IClientOptions>, number]> = [
    ['a valid module token', () => ({}), 0],
    ['the secondary key', () => ({ password: tokenFor(hub, 'dev1', 'modA', mod.secondaryKey) }), 0],
    [
      'a device-level sr (prefix of the module resource)',
      () => ({ password: tokenFor(hub, 'dev1', undefined, mod.primaryKey) }),
      0,
    ],
    [
      'an upper-case host name in sr',
      () => ({
        password: tokenFor(
          Object.assign(Object.create(hub), { hostName: hub.hostName.toUpperCase() }) as LocalHub,
          'dev1',
          'modA',
          mod.primaryKey,
        ),
      }),
      0,
    ],
    [
      'another api-version and extra query fields',
      () => ({ username: `${hub.hostName}/dev1/modA/?api-version=2021-04-12&DeviceClientType=x%2F1` }),
      0,
    ],
    ['the wrong key', () => ({ password: tokenFor(hub, 'dev1', 'modA', other.primaryKey) }), 5],
    ['a token for another module', () => ({ password: tokenFor(hub, 'dev1', 'modB', mod.primaryKey) }), 5],
    ['an sr that is not a segment prefix', () => ({ password: tokenFor(hub, 'dev', undefined, mod.primaryKey) }), 5],
    [
      'an sr naming another hub',
      () => ({ password: createSas('other.azure-devices.net/devices/dev1/modules/modA', mod.primaryKey, 3600) }),
      5,
    ],
    [
      'an sr of another device',
      () => ({ password: createSas(`${hub.hostName}/devices/dev2`, mod.primaryKey, 3600) }),
      5,
    ],
    [
      'a token whose se was changed after signing',
      () => ({
        password: tokenFor(hub, 'dev1', 'modA', mod.primaryKey).replace(
          /se=(\d+)/,
          (_m, se: string) => `se=${Number(se) + 60}`,
        ),
      }),
      5,
    ],
    [
      'a device token with a device client id for a module-only key',
      () => ({
        clientId: 'dev1',
        username: `${hub.hostName}/dev1/?${API}`,
        password: tokenFor(hub, 'dev1', undefined, mod.primaryKey),
      }),
      5,
    ],
    ['an expired token', () => ({ password: tokenFor(hub, 'dev1', 'modA', mod.primaryKey, 10, now() - 100) }), 5],
    ['a malformed token', () => ({ password: 'SharedAccessSignature sr=x' }), 5],
    ['no password and no certificate', () => ({ password: undefined }), 5],
    ['a username with the wrong host', () => ({ username: `other.azure-devices.net/dev1/modA/?${API}` }), 5],
    ['a username with another client id', () => ({ username: `${hub.hostName}/dev1/modB/?${API}` }), 5],
    ['a username without api-version', () => ({ username: `${hub.hostName}/dev1/modA/?DeviceClientType=x` }), 5],
    ['a username without the /? separator', () => ({ username: `${hub.hostName}/dev1/modA` }), 5],
    ['an empty username', () => ({ username: '' }), 5],
    ['an unknown module', () => ({ clientId: 'dev1/nobody', username: `${hub.hostName}/dev1/nobody/?${API}` }), 5],
    [
      'a client id with three segments',
      () => ({ clientId: 'dev1/modA/x', username: `${hub.hostName}/dev1/modA/x/?${API}` }),
      2,
    ],
    ['a client id with an empty segment', () => ({ clientId: 'dev1/', username: `${hub.hostName}/dev1//?${API}` }), 2],
  ];
  for (const [name, over, code] of cases) {
    it(`${code === 0 ? 'accepts' : `answers ${code} to`} ${name}`, async () => {
      const before = hub.observed.connects.length;
      assert.equal(await connackCode(url, moduleOptions(hub, mod, over())), code);
      const record = hub.observed.connects[before];
      assert.ok(record, 'the CONNECT is recorded');
      assert.equal(record.returnCode, code);
      assert.equal(record.transport, 'mqtts');
    });
  }

  it('records the CONNECT fields', async () => {
    const c = await connectModule(hub, mod);
    const record = hub.observed.connects.at(-1)!;
    assert.equal(record.clientId, 'dev1/modA');
    assert.equal(record.username, `${hub.hostName}/dev1/modA/?${API}`);
    assert.match(record.password ?? '', /^SharedAccessSignature sr=/);
    assert.equal(record.x509, false);
    assert.ok(hub.isConnected('dev1/modA'));
    c.end(true);
  });

  it('lets a second connection with the same client id take over (400027)', async () => {
    const first = await connectModule(hub, mod);
    const firstClosed = onClose(first);
    const disconnect = once(hub.events, 'disconnect', { signal: AbortSignal.timeout(5000) });
    const second = await connectModule(hub, mod);
    await firstClosed;
    const [ev] = (await disconnect) as [{ clientId: string; reason: string }];
    assert.equal(ev.clientId, 'dev1/modA');
    assert.match(ev.reason, /400027/);
    assert.ok(second.connected);
    await until(() => hub.isConnected('dev1/modA'));
  });

  it('closes the connection when the token expires (401003)', async () => {
    const c = await connectModule(hub, mod, { password: tokenFor(hub, 'dev1', 'modA', mod.primaryKey, 3) });
    const disconnect = once(hub.events, 'disconnect', { signal: AbortSignal.timeout(6000) });
    await closed(c, 6000);
    const [ev] = (await disconnect) as [{ reason: string }];
    assert.match(ev.reason, /401003/);
  });

  describe('X.509', () => {
    it('accepts a self-signed certificate by SHA-256 or SHA-1 thumbprint and refuses another one', async () => {
      const good = await generateClientCertificate('dev1/x509a');
      const bad = await generateClientCertificate('dev1/x509a');
      const m256 = hub.addModule('dev1', 'x509a', { x509Thumbprints: [thumbprints(good.cert).sha256.toLowerCase()] });
      const m1 = hub.addModule('dev1', 'x509b', { x509Thumbprints: [thumbprints(good.cert).sha1] });
      assert.equal(m256.primaryKey, '');
      const opts = (m: ModuleIdentity, cert: { cert: string; key: string }): IClientOptions =>
        moduleOptions(hub, m, { password: undefined, cert: cert.cert, key: cert.key });
      assert.equal(await connackCode(url, opts(m256, good)), 0);
      assert.equal(hub.observed.connects.at(-1)!.x509, true);
      assert.equal(await connackCode(url, opts(m1, good)), 0);
      assert.equal(await connackCode(url, opts(m256, bad)), 5);
      assert.equal(await connackCode(url, moduleOptions(hub, m256, { password: undefined })), 5);
    });

    it('accepts a certificate signed by a registered CA whose CN is the client id', async () => {
      const ca = await generateCa('Test CA');
      const otherCa = await generateCa('Other CA');
      const m = hub.addModule('dev1', 'x509ca', { x509CaCerts: [ca.cert] });
      const good = await generateClientCertificate('dev1/x509ca', ca);
      const wrongCn = await generateClientCertificate('dev1/other', ca);
      const wrongCa = await generateClientCertificate('dev1/x509ca', otherCa);
      const opts = (c: { cert: string; key: string }): IClientOptions =>
        moduleOptions(hub, m, { password: undefined, cert: c.cert, key: c.key });
      assert.equal(await connackCode(url, opts(good)), 0);
      assert.equal(await connackCode(url, opts(wrongCn)), 5);
      assert.equal(await connackCode(url, opts(wrongCa)), 5);
    });
  });
});

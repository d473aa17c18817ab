// The config node's settings → client factory call and ClientOptions (pure), and http proxy → ProxyOptions.
import assert from 'node:assert/strict';
import { NodeError } from '../../../nodes/shared/errors';
import { buildClientSetup, proxyOptionsFrom } from '../../../nodes/shared/options';

const isCode = (code: string) => (err: unknown) => err instanceof NodeError && err.code === code;

describe('nodes: client setup from the config node', () => {
  it('connection string with every option; gateway host is left to the string', () => {
    const setup = buildClientSetup(
      {
        connectionType: 'connectionString',
        transport: 'mqtt-ws',
        gatewayHostname: 'ignored',
        cipher: 'ECDHE-RSA-AES128-GCM-SHA256',
        productInfo: 'dtmi:com:example;1',
        sastokenTtl: '600',
        keepAlive: '30',
        autoConnect: false,
        connectionRetry: false,
        connectionRetryInterval: '5',
        ensureDesiredProperties: false,
        operationTimeout: '20',
      },
      { connectionString: ' HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5 ' },
      { ca: Buffer.from('-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n') },
      { url: 'http://proxy.local:3128', username: 'u', password: 'p w' },
    );
    assert.deepEqual(setup, {
      kind: 'connectionString',
      connectionString: 'HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5',
      options: {
        websockets: true,
        serverVerificationCert: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n',
        cipher: 'ECDHE-RSA-AES128-GCM-SHA256',
        productInfo: 'dtmi:com:example;1',
        proxyOptions: {
          proxyType: 'HTTP',
          proxyAddress: 'proxy.local',
          proxyPort: 3128,
          proxyUsername: 'u',
          proxyPassword: 'p w',
        },
        sastokenTtl: 600,
        keepAlive: 30,
        autoConnect: false,
        connectionRetry: false,
        connectionRetryInterval: 5,
        ensureDesiredProperties: false,
        operationTimeout: 20,
      },
    });
  });

  it('SAS token: gateway host allowed, SAS lifetime excluded', () => {
    const setup = buildClientSetup(
      { connectionType: 'sasToken', gatewayHostname: 'edge:8883', sastokenTtl: '600' },
      { sasToken: 'SharedAccessSignature sr=x&sig=y&se=1' },
    );
    assert.deepEqual(setup, {
      kind: 'sasToken',
      sasToken: 'SharedAccessSignature sr=x&sig=y&se=1',
      options: { connectionRetryForever: true, gatewayHostname: 'edge:8883' },
    });
  });

  it('X.509 from a tls-config node, or pasted PEM with passphrase', () => {
    const fromTls = buildClientSetup(
      { connectionType: 'x509', hostname: 'hub', deviceId: 'd', moduleId: 'm', x509Source: 'tls' },
      {},
      { cert: 'CERT', key: Buffer.from('KEY'), passphrase: 'pp' },
    );
    assert.deepEqual(fromTls, {
      kind: 'x509',
      args: { x509: { cert: 'CERT', key: 'KEY', passPhrase: 'pp' }, hostname: 'hub', deviceId: 'd', moduleId: 'm' },
      options: { connectionRetryForever: true },
    });
    const pasted = buildClientSetup(
      { connectionType: 'x509', hostname: 'hub', deviceId: 'd', moduleId: 'm', x509Source: 'pem' },
      { cert: 'C', key: 'K' },
    );
    assert.deepEqual(pasted.kind === 'x509' && pasted.args.x509, { cert: 'C', key: 'K' });
  });

  it('IoT Edge environment: no server CA, no gateway (they come from the environment)', () => {
    const setup = buildClientSetup(
      { connectionType: 'edge', gatewayHostname: 'x', sastokenTtl: 300 },
      {},
      { ca: 'CA' },
    );
    assert.deepEqual(setup, { kind: 'edge', options: { sastokenTtl: 300, connectionRetryForever: true } });
  });

  it('local hub (development only): module id required, device id defaults, CA and gateway come from the hub', () => {
    const setup = buildClientSetup(
      {
        connectionType: 'localHub',
        moduleId: ' m1 ',
        routes: 'FROM /messages/* INTO $upstream',
        gatewayHostname: 'x',
        sastokenTtl: '240',
      },
      {},
      { ca: 'CA' },
    );
    assert.deepEqual(setup, {
      kind: 'localHub',
      deviceId: 'local-device',
      moduleId: 'm1',
      routes: 'FROM /messages/* INTO $upstream',
      options: { sastokenTtl: 240, connectionRetryForever: true },
    });
    const named = buildClientSetup({ connectionType: 'localHub', deviceId: 'dev', moduleId: 'm' }, {});
    assert.deepEqual(named.kind === 'localHub' && [named.deviceId, named.routes], ['dev', '']);
  });

  it('missing secrets or identity → not-configured; bad numbers → config-invalid', () => {
    assert.throws(() => buildClientSetup({ connectionType: 'connectionString' }, {}), isCode('not-configured'));
    assert.throws(() => buildClientSetup({ connectionType: 'sasToken' }, { sasToken: '  ' }), isCode('not-configured'));
    assert.throws(
      () =>
        buildClientSetup({ connectionType: 'x509', hostname: 'h', deviceId: 'd' }, { cert: 'C', key: 'K' }, undefined),
      isCode('not-configured'),
    );
    assert.throws(
      () => buildClientSetup({ connectionType: 'x509', hostname: 'h', deviceId: 'd', moduleId: 'm' }, {}, {}),
      isCode('not-configured'),
    );
    assert.throws(() => buildClientSetup({ connectionType: 'localHub', deviceId: 'd' }, {}), isCode('not-configured'));
    assert.throws(() => buildClientSetup({ connectionType: 'edge', keepAlive: 'ten' }, {}), isCode('config-invalid'));
    assert.throws(
      () => buildClientSetup({ connectionType: 'edge', operationTimeout: '-1' }, {}),
      isCode('config-invalid'),
    );
  });

  // The editor accepted both once: 0.5 then failed the config node with the library's ValueError, and 2.5 was cut to
  // 2 s by the library while the node's own retry waited 2.5 s. Now both follow the table's rule (whole seconds).
  for (const interval of ['0.5', '2.5', 0.5, 2.5]) {
    it(`connectionRetryInterval ${JSON.stringify(interval)} → config-invalid naming the rule, as the editor says`, () => {
      assert.throws(
        () => buildClientSetup({ connectionType: 'edge', connectionRetryInterval: interval }, {}),
        (err: unknown) =>
          isCode('config-invalid')(err) &&
          /connectionRetryInterval must be an integer from 1 to 2147483 \(seconds\)/.test(
            String((err as Error).message),
          ),
      );
    });
  }

  it('with retry on, every failure is retried forever by the library; with retry off, none', () => {
    assert.equal(buildClientSetup({ connectionType: 'edge' }, {}).options.connectionRetryForever, true);
    assert.equal(
      buildClientSetup({ connectionType: 'edge', connectionRetryInterval: ' 3 ' }, {}).options.connectionRetryInterval,
      3,
    );
    assert.deepEqual(buildClientSetup({ connectionType: 'edge', connectionRetry: false }, {}).options, {
      connectionRetry: false,
    });
  });
});

describe('nodes: http proxy node → ProxyOptions', () => {
  const cases: Array<[string, Parameters<typeof proxyOptionsFrom>[0], unknown]> = [
    ['http with port', { url: 'http://p:8080' }, { proxyType: 'HTTP', proxyAddress: 'p', proxyPort: 8080 }],
    ['http default port', { url: 'http://p' }, { proxyType: 'HTTP', proxyAddress: 'p', proxyPort: 80 }],
    ['https default port', { url: 'https://p' }, { proxyType: 'HTTP', proxyAddress: 'p', proxyPort: 443 }],
    ['socks5', { url: 'socks5://10.0.0.1:1081' }, { proxyType: 'SOCKS5', proxyAddress: '10.0.0.1', proxyPort: 1081 }],
    ['socks4', { url: 'socks4://s' }, { proxyType: 'SOCKS4', proxyAddress: 's', proxyPort: 1080 }],
    ['IPv6', { url: 'http://[::1]:3128' }, { proxyType: 'HTTP', proxyAddress: '::1', proxyPort: 3128 }],
    [
      'credentials in the URL',
      { url: 'http://us%20er:p%40ss@p:1' },
      { proxyType: 'HTTP', proxyAddress: 'p', proxyPort: 1, proxyUsername: 'us er', proxyPassword: 'p@ss' },
    ],
    [
      'node credentials win',
      { url: 'http://a:b@p:1', username: 'u', password: 'w' },
      { proxyType: 'HTTP', proxyAddress: 'p', proxyPort: 1, proxyUsername: 'u', proxyPassword: 'w' },
    ],
  ];
  for (const [name, input, expected] of cases) it(name, () => assert.deepEqual(proxyOptionsFrom(input), expected));

  it('rejects an unknown scheme or a bad URL', () => {
    assert.throws(() => proxyOptionsFrom({ url: 'ftp://p' }), isCode('config-invalid'));
    assert.throws(() => proxyOptionsFrom({ url: 'not a url' }), isCode('config-invalid'));
  });
});

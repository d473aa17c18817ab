// Option validation through each public factory (the Python SDK's kwargs rules): unknown or excluded option →
// TypeError, wrong type → TypeError, bad value → ValueError; nothing touches the network.
import assert from 'node:assert/strict';
import { issueCertificate } from '../../src/hub/x509';
import { IoTHubModuleClient, ValueError, type ClientOptions } from '../../src/index';
import { createSas } from '../../src/hub/sas';

const KEY = Buffer.alloc(32, 7).toString('base64');
const CS = `HostName=h.azure-devices.net;DeviceId=d;ModuleId=m;SharedAccessKey=${KEY}`;
const TOKEN = createSas('h.azure-devices.net/devices/d/modules/m', KEY, 3600);
/** Filled in `before` with a real certificate and key (the factory checks them). */
const X509 = { x509: { cert: '', key: '' }, hostname: 'h.azure-devices.net', deviceId: 'd', moduleId: 'm' };

type Factory = 'connectionString' | 'sastoken' | 'x509' | 'edge';

/** Runs a factory and returns what it threw (the edge factory is async: its rejection counts the same). */
async function outcome(factory: Factory, options: unknown): Promise<unknown> {
  const opts = options as ClientOptions;
  try {
    let client: IoTHubModuleClient;
    if (factory === 'connectionString') client = IoTHubModuleClient.createFromConnectionString(CS, opts);
    else if (factory === 'sastoken') client = IoTHubModuleClient.createFromSastoken(TOKEN, opts);
    else if (factory === 'x509') client = IoTHubModuleClient.createFromX509Certificate(X509, opts);
    else client = await IoTHubModuleClient.createFromEdgeEnvironment({ ...(opts as object), env: {} });
    await client.shutdown();
    return undefined;
  } catch (err) {
    return err;
  }
}

const FACTORIES: Factory[] = ['connectionString', 'sastoken', 'x509', 'edge'];

/** The Python SDK's per-factory exclusions. */
const EXCLUDED: Record<Factory, Array<keyof ClientOptions>> = {
  connectionString: ['gatewayHostname'],
  sastoken: ['sastokenTtl'],
  x509: ['sastokenTtl'],
  edge: ['serverVerificationCert', 'gatewayHostname'],
};

const GOOD: Required<Omit<ClientOptions, 'proxyOptions' | 'logger'>> & Pick<ClientOptions, 'proxyOptions' | 'logger'> =
  {
    serverVerificationCert: 'PEM',
    gatewayHostname: 'gw:8883',
    websockets: true,
    cipher: ['ecdhe_rsa_aes128_gcm_sha256'],
    productInfo: 'dtmi:com:example:Thermostat;1',
    proxyOptions: {
      proxyType: 'SOCKS5',
      proxyAddress: 'proxy',
      proxyPort: 1080,
      proxyUsername: 'u',
      proxyPassword: 'p',
    },
    sastokenTtl: 600,
    keepAlive: 30,
    autoConnect: false,
    connectionRetry: false,
    connectionRetryInterval: 5,
    connectionRetryForever: true,
    ensureDesiredProperties: false,
    operationTimeout: 5,
    logger: { warn: () => undefined },
  };

const BAD: Array<[keyof ClientOptions, unknown, typeof TypeError | typeof ValueError]> = [
  ['serverVerificationCert', 42, TypeError],
  ['websockets', 'true', TypeError],
  ['cipher', {}, TypeError],
  ['productInfo', null, TypeError],
  ['proxyOptions', { proxyType: 'FTP', proxyAddress: 'p', proxyPort: 1 }, ValueError],
  ['keepAlive', 1741, ValueError],
  ['keepAlive', 'often', TypeError],
  ['autoConnect', 'yes', TypeError],
  ['connectionRetry', 0, TypeError],
  ['connectionRetryInterval', -1, ValueError],
  ['ensureDesiredProperties', 'no', TypeError],
  ['operationTimeout', 0, ValueError],
  ['logger', 'console', TypeError],
  ['logger', { warn: 'loud' }, TypeError],
];

describe('option validation through the factories', () => {
  before(async () => {
    const pems = await issueCertificate({ commonName: 'd/m' }, { keyType: 'rsa' });
    X509.x509 = pems;
  });
  for (const factory of FACTORIES) {
    for (const key of Object.keys(GOOD) as Array<keyof ClientOptions>) {
      const excluded = EXCLUDED[factory].includes(key);
      it(`${factory}: ${key} is ${excluded ? 'excluded → TypeError' : 'accepted'}`, async () => {
        const err = await outcome(factory, { [key]: GOOD[key] });
        if (excluded)
          assert.ok(err instanceof TypeError && /Unsupported option for this factory/.test(err.message), String(err));
        // The edge factory then fails on the empty environment, never on the option.
        else if (factory === 'edge') assert.ok(!(err instanceof TypeError), String(err));
        else assert.equal(err, undefined);
      });
    }
    it(`${factory}: an unknown option (the Python SDK's snake_case spelling) → TypeError`, async () => {
      const err = await outcome(factory, { keep_alive: 30 });
      assert.ok(err instanceof TypeError && /Unsupported option: keep_alive/.test(err.message), String(err));
    });
    for (const [key, value, cls] of BAD) {
      if (EXCLUDED[factory].includes(key)) continue;
      it(`${factory}: ${key}=${JSON.stringify(value)} → ${cls.name}`, async () => {
        const err = await outcome(factory, { [key]: value });
        assert.ok(err instanceof cls, String(err));
      });
    }
  }
  it('sastokenTtl: a bad value is a ValueError where the option is allowed', async () => {
    assert.ok((await outcome('connectionString', { sastokenTtl: 0 })) instanceof ValueError);
    assert.ok((await outcome('edge', { sastokenTtl: -3 })) instanceof ValueError);
  });
  // Renewal happens 120 s before expiry: with sastokenTtl 1 the client re-signed and reconnected about 110 times a
  // second. The factory refuses such a lifetime and says what the minimum is.
  it('sastokenTtl below 240 s is a ValueError at the factory, stating the minimum', async () => {
    for (const factory of ['connectionString', 'edge'] as const) {
      for (const ttl of [1, 121, 239]) {
        const err = await outcome(factory, { sastokenTtl: ttl });
        assert.ok(
          err instanceof ValueError && /at least 240 seconds/.test(err.message),
          `${factory} ${ttl}: ${String(err)}`,
        );
      }
    }
  });

  it('a client tells the module identity it connects as (host, device, module and gateway)', async () => {
    const viaGateway = IoTHubModuleClient.createFromConnectionString(`${CS};GatewayHostName=edge-gw`);
    assert.deepEqual(viaGateway.identity, {
      hostname: 'h.azure-devices.net',
      deviceId: 'd',
      moduleId: 'm',
      gatewayHostname: 'edge-gw',
    });
    const direct = IoTHubModuleClient.createFromSastoken(TOKEN);
    assert.deepEqual(direct.identity, { hostname: 'h.azure-devices.net', deviceId: 'd', moduleId: 'm' });
    await viaGateway.shutdown();
    await direct.shutdown();
  });
});

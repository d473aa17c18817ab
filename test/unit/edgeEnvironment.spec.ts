// readEdgeEnvironment (container vs debug mode, the Python SDK's errors) and IOTEDGE_WORKLOADURI normalisation.
import assert from 'node:assert/strict';
import { readEdgeEnvironment, normalizeWorkloadUri } from '../../src/client/auth/edgeEnvironment';
import { ClientError, ValueError } from '../../src/client/errors';

const container = {
  IOTEDGE_IOTHUBHOSTNAME: 'hub.azure-devices.net',
  IOTEDGE_DEVICEID: 'edge device',
  IOTEDGE_MODULEID: 'mod/1',
  IOTEDGE_GATEWAYHOSTNAME: 'gateway.local',
  IOTEDGE_MODULEGENERATIONID: '637000000000000000',
  IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock',
  IOTEDGE_APIVERSION: '2019-01-30',
  IOTEDGE_AUTHSCHEME: 'sasToken',
};
const debug = {
  EdgeHubConnectionString: 'HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5;GatewayHostName=g',
  EdgeModuleCACertificateFile: '/tmp/ca.pem',
};

describe('readEdgeEnvironment', () => {
  it('reads container mode from the seven IOTEDGE_* variables', () => {
    assert.deepEqual(readEdgeEnvironment(container), {
      mode: 'container',
      hostname: 'hub.azure-devices.net',
      deviceId: 'edge device',
      moduleId: 'mod/1',
      gatewayHostname: 'gateway.local',
      generationId: '637000000000000000',
      workloadUri: 'unix:///var/run/iotedge/workload.sock',
      apiVersion: '2019-01-30',
    });
  });

  it('does not need IOTEDGE_AUTHSCHEME (the Python SDK never reads it)', () => {
    const { IOTEDGE_AUTHSCHEME: _unused, ...rest } = container;
    assert.equal(readEdgeEnvironment(rest).mode, 'container');
  });

  it('prefers container mode when both sets are present', () => {
    assert.equal(readEdgeEnvironment({ ...container, ...debug }).mode, 'container');
  });

  for (const name of Object.keys(container).filter((k) => k !== 'IOTEDGE_AUTHSCHEME')) {
    it(`falls back to debug mode when ${name} is missing`, () => {
      assert.deepEqual(readEdgeEnvironment({ ...container, [name]: undefined, ...debug }), {
        mode: 'debug',
        connectionString: debug.EdgeHubConnectionString,
        caCertificateFile: '/tmp/ca.pem',
      });
    });
  }

  it('treats an empty value as missing', () => {
    assert.equal(readEdgeEnvironment({ ...container, IOTEDGE_APIVERSION: '', ...debug }).mode, 'debug');
  });

  const incomplete: Array<[string, Record<string, string | undefined>]> = [
    ['nothing', {}],
    ['only the connection string', { EdgeHubConnectionString: debug.EdgeHubConnectionString }],
    ['only the CA file', { EdgeModuleCACertificateFile: '/tmp/ca.pem' }],
    ['six of seven IOTEDGE_* variables', { ...container, IOTEDGE_MODULEGENERATIONID: undefined }],
  ];
  for (const [label, env] of incomplete) {
    it(`throws ClientError "IoT Edge environment not configured correctly" with ${label}`, () => {
      assert.throws(
        () => readEdgeEnvironment(env),
        (err: unknown) =>
          err instanceof ClientError &&
          err.code === 'client-error' &&
          err.message === 'IoT Edge environment not configured correctly' &&
          err.cause instanceof Error,
      );
    });
  }

  it('rejects a workload URI it cannot use with ValueError', () => {
    assert.throws(() => readEdgeEnvironment({ ...container, IOTEDGE_WORKLOADURI: 'tcp://1.2.3.4:15580' }), ValueError);
  });
});

describe('normalizeWorkloadUri', () => {
  const vectors: Array<[string, { socketPath?: string; baseUrl: string }]> = [
    // The Python SDK's test vector: unix:///var/run/iotedge/workload.sock →
    // http+unix://%2Fvar%2Frun%2Fiotedge%2Fworkload.sock/
    [
      'unix:///var/run/iotedge/workload.sock',
      { socketPath: '/var/run/iotedge/workload.sock', baseUrl: 'http://localhost/' },
    ],
    [
      'unix:///var/run/iotedge/workload.sock/',
      { socketPath: '/var/run/iotedge/workload.sock', baseUrl: 'http://localhost/' },
    ],
    ['unix:///tmp/a dir/wörk$load.sock', { socketPath: '/tmp/a dir/wörk$load.sock', baseUrl: 'http://localhost/' }],
    ['http://10.0.0.1:15580/', { baseUrl: 'http://10.0.0.1:15580/' }],
    ['http://10.0.0.1:15580', { baseUrl: 'http://10.0.0.1:15580/' }],
    ['http://workload:15580/prefix', { baseUrl: 'http://workload:15580/prefix/' }],
    ['https://workload.example/', { baseUrl: 'https://workload.example/' }],
  ];
  for (const [uri, expected] of vectors) {
    it(`normalises ${uri}`, () => assert.deepEqual(normalizeWorkloadUri(uri), expected));
  }

  for (const bad of ['unix://', 'unix:///', 'not a uri', 'ftp://host/', '/var/run/workload.sock']) {
    it(`rejects ${JSON.stringify(bad)} with ValueError`, () => {
      assert.throws(() => normalizeWorkloadUri(bad), ValueError);
    });
  }
});

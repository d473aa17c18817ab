// The connection kind a new config node starts with, from where Node-RED runs (table), and the IoT Edge test.
import assert from 'node:assert/strict';
import { hasEdgeEnvironment } from '../../../src/index';
import { defaultConnectionType, type RuntimePlace } from '../../../nodes/shared/connectionDefault';

const EDGE = {
  IOTEDGE_IOTHUBHOSTNAME: 'hub.azure-devices.net',
  IOTEDGE_DEVICEID: 'dev',
  IOTEDGE_MODULEID: 'nodered',
  IOTEDGE_GATEWAYHOSTNAME: 'edgehub',
  IOTEDGE_MODULEGENERATIONID: 'gen',
  IOTEDGE_WORKLOADURI: 'unix:///var/run/iotedge/workload.sock',
  IOTEDGE_APIVERSION: '2019-01-30',
};

describe('default connection kind of a new config node', () => {
  const none: RuntimePlace = { edgeEnvironment: false, sharedLocalHub: false, ownLocalHub: false, announcedHubs: 0 };
  const table: Array<[Partial<RuntimePlace>, string]> = [
    [{}, 'connectionString'],
    [{ edgeEnvironment: true }, 'edge'],
    [{ edgeEnvironment: true, announcedHubs: 2 }, 'edge'],
    [{ announcedHubs: 1 }, 'localHub'],
    [{ ownLocalHub: true }, 'localHub'],
    [{ sharedLocalHub: true }, 'localHub'],
    // npm start: the IOTEDGE_* variables are its demo module's; a new node gets an identity of its own.
    [{ sharedLocalHub: true, edgeEnvironment: true }, 'localHub'],
  ];
  for (const [place, expected] of table) {
    it(`${JSON.stringify(place)} → ${expected}`, () =>
      assert.equal(defaultConnectionType({ ...none, ...place }), expected));
  }

  it('hasEdgeEnvironment: all seven IOTEDGE_* variables, or the debug pair; empty counts as missing', () => {
    assert.equal(hasEdgeEnvironment(EDGE), true);
    assert.equal(hasEdgeEnvironment({ ...EDGE, IOTEDGE_MODULEID: '' }), false);
    assert.equal(hasEdgeEnvironment({ ...EDGE, IOTEDGE_WORKLOADURI: 'ftp://x' }), false);
    assert.equal(
      hasEdgeEnvironment({
        EdgeHubConnectionString: 'HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5',
        EdgeModuleCACertificateFile: '/ca.pem',
      }),
      true,
    );
    assert.equal(hasEdgeEnvironment({}), false);
  });
});

// How a local hub's modules are reached: the gateway named with or without a port, and each module's own workload
// socket (a path computed from the ids alone, so a process that provisions a module on a hub elsewhere finds it).
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  localConnectionString,
  localEdgeEnvironment,
  localGatewayHostName,
  moduleWorkloadSocketPath,
} from '../../src/hub/localIdentity';

const HUB = { hostName: 'h.azure-devices.net', port: 41533, workloadUri: 'unix:///tmp/local-hub-x/workload.sock' };

describe('local hub identities', () => {
  const gateways: Array<[string, { standardPorts?: boolean; port: number }, string]> = [
    ['one port', { port: 41533 }, 'localhost:41533'],
    ['one port, standardPorts false', { port: 41533, standardPorts: false }, 'localhost:41533'],
    ['the standard ports', { port: 443, standardPorts: true }, 'localhost'],
  ];
  for (const [name, where, expected] of gateways) {
    it(`names the gateway ${expected} on ${name}, in connection strings and IoT Edge environments alike`, () => {
      const hub = { ...HUB, ...where };
      assert.equal(localGatewayHostName(hub), expected);
      assert.equal(
        localConnectionString(hub, 'd', 'm', 'a2V5'),
        `HostName=h.azure-devices.net;DeviceId=d;ModuleId=m;SharedAccessKey=a2V5;GatewayHostName=${expected}`,
      );
      assert.equal(localEdgeEnvironment(hub, 'd', 'm', 'g').IOTEDGE_GATEWAYHOSTNAME, expected);
    });
  }

  it("gives each module its own workload socket beside the hub's, short and file-name safe whatever the ids", () => {
    const ids: Array<[string, string]> = [
      ['d', 'm'],
      ['d', 'm2'],
      ['d2', 'm'],
      ['dev ice', 'a/b'],
      ['$edge', '+#%&'],
      ['dé', 'módulo'],
      ['d/m', ''],
      ['d', '/m'],
    ];
    const paths = ids.map(([d, m]) => moduleWorkloadSocketPath('/tmp/local-hub-x/workload.sock', d, m));
    assert.equal(new Set(paths).size, ids.length, 'one socket per module');
    for (const p of paths) assert.match(p, /^\/tmp\/local-hub-x\/workload-modules\/[0-9a-f]{16}\.sock$/);
    assert.equal(
      moduleWorkloadSocketPath('/tmp/local-hub-x/workload.sock', 'd', 'm'),
      paths[0],
      'the same ids give the same path',
    );
    assert.equal(path.dirname(moduleWorkloadSocketPath('/run/hub/api', 'd', 'm')), '/run/hub/api-modules');
  });

  it("puts the module's socket in IOTEDGE_WORKLOADURI, and none when the hub has no workload API", () => {
    assert.equal(
      localEdgeEnvironment(HUB, 'd', 'm', 'g').IOTEDGE_WORKLOADURI,
      `unix://${moduleWorkloadSocketPath('/tmp/local-hub-x/workload.sock', 'd', 'm')}`,
    );
    assert.equal(localEdgeEnvironment({ hostName: 'h', port: 1 }, 'd', 'm', 'g').IOTEDGE_WORKLOADURI, '');
  });
});

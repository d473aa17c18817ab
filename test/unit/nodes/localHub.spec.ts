// Which local-hub module a SAS token given in the flow is for.
import assert from 'node:assert/strict';
import { localHubModuleOf } from '../../../nodes/shared/localHub';

describe('nodes: the local-hub module a SAS token is for', () => {
  const token = (sr: string): string =>
    `SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=abc%2B%2F%3D&se=1999999999`;
  const cases: Array<[string, string, { deviceId: string; moduleId: string } | undefined]> = [
    [
      'a local-hub module',
      token('local-hub.azure-devices.net/devices/local-device/modules/ex-token'),
      { deviceId: 'local-device', moduleId: 'ex-token' },
    ],
    [
      'host name in capitals',
      token('LOCAL-HUB.azure-devices.net/devices/d/modules/m'),
      { deviceId: 'd', moduleId: 'm' },
    ],
    [
      'ids with space, $, +, %, &, #, non-ASCII',
      token('local-hub.azure-devices.net/devices/d 1$+/modules/m%&#ção'),
      { deviceId: 'd 1$+', moduleId: 'm%&#ção' },
    ],
    ['a / inside an id', token('local-hub.azure-devices.net/devices/d/x/modules/m'), undefined],
    ['another hub', token('real.azure-devices.net/devices/d/modules/m'), undefined],
    ['a device token', token('local-hub.azure-devices.net/devices/d'), undefined],
    [
      'skn before sr',
      `SharedAccessSignature skn=x&sr=${encodeURIComponent('local-hub.azure-devices.net/devices/d/modules/m')}&sig=a&se=1`,
      { deviceId: 'd', moduleId: 'm' },
    ],
    ['no token', 'hello', undefined],
    ['bad escape', 'SharedAccessSignature sr=%E0%A4%A&sig=a&se=1', undefined],
  ];
  for (const [name, text, expected] of cases) {
    it(`localHubModuleOf: ${name}`, () => assert.deepEqual(localHubModuleOf(text), expected));
  }
});

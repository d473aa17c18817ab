// The IoT Hub MQTT username and host:port splitting, with literal expected strings.
import assert from 'node:assert/strict';
import { buildUsername, splitHostPort } from '../../src/client/transport/mqttUsername';

const UA = 'node-red-contrib-azure-iot-module/1.2.3(20.20.2;Linux 6.1 #1 SMP;x64)';
const UA_ENC = 'node-red-contrib-azure-iot-module%2F1.2.3%2820.20.2%3BLinux%206.1%20%231%20SMP%3Bx64%29';

describe('buildUsername', () => {
  const table: Array<[string, string, string, string]> = [
    ['h.azure-devices.net', 'd/m', '', `h.azure-devices.net/d/m/?api-version=2019-10-01&DeviceClientType=${UA_ENC}`],
    ['h', 'd/m', 'my-product', `h/d/m/?api-version=2019-10-01&DeviceClientType=${UA_ENC}my-product`],
    [
      'h',
      'd ev/$+%&#/m',
      " a/$+%&#!*'()é",
      `h/d ev/$+%&#/m/?api-version=2019-10-01&DeviceClientType=${UA_ENC}%20a%2F%24%2B%25%26%23%21%2A%27%28%29%C3%A9`,
    ],
    [
      'h',
      'd/m',
      'dtmi:com:example:Thermostat;1',
      `h/d/m/?api-version=2020-09-30&DeviceClientType=${UA_ENC}&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1`,
    ],
  ];
  for (const [host, clientId, productInfo, expected] of table) {
    it(`${clientId} / ${JSON.stringify(productInfo)}`, () =>
      assert.equal(buildUsername(host, clientId, UA, productInfo), expected));
  }
});

describe('splitHostPort', () => {
  const table: Array<[string, number, { host: string; port: number }]> = [
    ['localhost', 8883, { host: 'localhost', port: 8883 }],
    ['localhost:1234', 8883, { host: 'localhost', port: 1234 }],
    ['edge.example.com', 443, { host: 'edge.example.com', port: 443 }],
    ['127.0.0.1:99', 443, { host: '127.0.0.1', port: 99 }],
    ['[::1]:8443', 443, { host: '::1', port: 8443 }],
    ['[::1]', 8883, { host: '::1', port: 8883 }],
  ];
  for (const [value, port, expected] of table) it(value, () => assert.deepEqual(splitHostPort(value, port), expected));
});

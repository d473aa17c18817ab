// Unit tests for the topics the hub publishes to and its client ids (src/hub/hubTopics.ts).
import assert from 'node:assert/strict';
import {
  brokerId,
  clientKey,
  desiredPatchTopic,
  inputTopic,
  methodRequestTopic,
  toBrokerTopic,
  toWireTopic,
  twinResponseTopic,
} from '../../src/hub/hubTopics';

const AWKWARD = 'a b/$+%&#é';
const AWKWARD_ENCODED = 'a%20b%2F%24%2B%25%26%23%C3%A9';

describe('hub topics the hub publishes to', () => {
  describe('clientKey', () => {
    const table: Array<[{ deviceId: string; moduleId?: string }, string]> = [
      [{ deviceId: 'dev' }, 'dev'],
      [{ deviceId: 'dev', moduleId: 'mod' }, 'dev/mod'],
      [{ deviceId: 'd$+%&#', moduleId: 'm(é)' }, 'd$+%&#/m(é)'],
    ];
    for (const [id, key] of table) it(`${JSON.stringify(id)} → ${key}`, () => assert.equal(clientKey(id), key));
  });

  describe('twin and method topics', () => {
    const table: Array<[string, string, string]> = [
      ['twin response', twinResponseTopic(200, '1'), '$iothub/twin/res/200/?$rid=1'],
      [
        'twin response, rid percent-encoded',
        twinResponseTopic(429, AWKWARD),
        `$iothub/twin/res/429/?$rid=${AWKWARD_ENCODED}`,
      ],
      ['twin response with version', twinResponseTopic(204, 'x y', 7), '$iothub/twin/res/204/?$rid=x%20y&$version=7'],
      ['desired patch', desiredPatchTopic(3), '$iothub/twin/PATCH/properties/desired/?$version=3'],
      ['method request', methodRequestTopic('reboot', 'a'), '$iothub/methods/POST/reboot/?$rid=a'],
      [
        'method request, name percent-encoded',
        methodRequestTopic(AWKWARD, '1f'),
        `$iothub/methods/POST/${AWKWARD_ENCODED}/?$rid=1f`,
      ],
    ];
    for (const [name, actual, expected] of table) it(name, () => assert.equal(actual, expected));
  });

  describe('inputTopic', () => {
    it('keeps the delivered system properties (in IoT Hub order, empty ones out) and the application properties', () => {
      const topic = inputTopic('dev', 'mod', 'in1', {
        properties: { 'k ey': 'v/$+%&#é', a: '1' },
        systemProperties: {
          '$.cmid': 'src',
          '$.on': '',
          '$.to': 'dropped',
          '$.cdid': 'dev',
          '$.mid': 'm 1',
          '$.ct': 'application/json',
        },
      });
      assert.equal(
        topic,
        'devices/dev/modules/mod/inputs/in1/%24.mid=m%201&%24.ct=application%2Fjson&%24.cdid=dev&%24.cmid=src&a=1&k%20ey=v%2F%24%2B%25%26%23%C3%A9',
      );
    });

    it('ends with an empty bag when there are no properties', () => {
      assert.equal(
        inputTopic('d', 'm', 'x', { properties: {}, systemProperties: {} }),
        'devices/d/modules/m/inputs/x/',
      );
    });
  });

  describe('ids in broker topics (never wildcards)', () => {
    const ids: Array<[string, string]> = [
      ['plain-id', 'plain-id'],
      ['+', '%2B'],
      ['#', '%23'],
      ['%2B', '%252B'],
      ['a+b#c%d$e', 'a%2Bb%23c%25d$e'],
    ];
    for (const [id, broker] of ids) it(`brokerId(${id}) = ${broker}`, () => assert.equal(brokerId(id), broker));

    const plus = { deviceId: 'dev', moduleId: '+' };
    const device = { deviceId: '#' };
    const toBroker: Array<[string, { deviceId: string; moduleId?: string }, string]> = [
      ['devices/dev/modules/+/inputs/#', plus, 'devices/dev/modules/%2B/inputs/#'],
      ['devices/dev/modules/+/messages/events/a=1', plus, 'devices/dev/modules/%2B/messages/events/a=1'],
      ['devices/dev/modules/x/inputs/#', plus, 'devices/dev/modules/x/inputs/#'],
      ['devices/+/modules/+/inputs/#', plus, 'devices/+/modules/+/inputs/#'],
      ['$iothub/twin/res/#', plus, '$iothub/twin/res/#'],
      ['devices/#/messages/devicebound/#', device, 'devices/%23/messages/devicebound/#'],
    ];
    for (const [topic, id, expected] of toBroker) {
      it(`toBrokerTopic(${topic}) for ${id.deviceId}/${id.moduleId ?? ''} = ${expected}`, () =>
        assert.equal(toBrokerTopic(topic, id), expected));
    }

    const toWire: Array<[string, { deviceId: string; moduleId?: string }, string | undefined]> = [
      ['devices/dev/modules/%2B/inputs/in/a=1', plus, 'devices/dev/modules/+/inputs/in/a=1'],
      ['devices/dev/modules/+/inputs/in/a=1', plus, 'devices/dev/modules/+/inputs/in/a=1'],
      ['devices/dev/modules/other/inputs/in/', plus, undefined],
      ['devices/x/modules/%2B/inputs/in/', plus, undefined],
      ['devices/%23/modules/m/inputs/in/', device, undefined],
      ['devices/%23/messages/devicebound/', device, 'devices/#/messages/devicebound/'],
      ['$iothub/methods/POST/m/?$rid=1', plus, '$iothub/methods/POST/m/?$rid=1'],
    ];
    for (const [topic, id, expected] of toWire) {
      it(`toWireTopic(${topic}) for ${id.deviceId}/${id.moduleId ?? ''} = ${String(expected)}`, () =>
        assert.equal(toWireTopic(topic, id), expected));
    }
  });
});

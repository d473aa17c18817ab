// Unit tests for the hub's own property-bag and topic code (src/hub/messageBag.ts, src/hub/hubTopics.ts).
import assert from 'node:assert/strict';
import { classifyPublish, subscriptionAllowed } from '../../src/hub/hubTopics';
import {
  encodePropertyBag,
  parsePropertyBag,
  parseTopicQuery,
  percentDecode,
  percentEncode,
} from '../../src/hub/messageBag';

describe('hub property bags and topics', () => {
  describe('percentEncode / percentDecode', () => {
    const table: Array<[string, string]> = [
      ['a b', 'a%20b'],
      ['a/b', 'a%2Fb'],
      ['$.mid', '%24.mid'],
      ['1+1', '1%2B1'],
      ['100%', '100%25'],
      ['a&b=c', 'a%26b%3Dc'],
      ['#tag', '%23tag'],
      ["it's (ok)!*", 'it%27s%20%28ok%29%21%2A'],
      ['~-_.', '~-_.'],
      ['çé€', '%C3%A7%C3%A9%E2%82%AC'],
    ];
    for (const [raw, enc] of table) {
      it(`${JSON.stringify(raw)} ↔ ${enc}`, () => {
        assert.equal(percentEncode(raw), enc);
        assert.equal(percentDecode(enc), raw);
      });
    }
    it('keeps + and malformed escapes literally when decoding', () => {
      assert.equal(percentDecode('a+b'), 'a+b');
      assert.equal(percentDecode('100%'), '100%');
      assert.equal(percentDecode('%E0%A4%A and %20'), '%E0%A4%A and  ');
    });
  });

  describe('parsePropertyBag', () => {
    it('splits system and application properties (Python SDK bag)', () => {
      assert.deepEqual(
        parsePropertyBag(
          '%24.on=out%201&%24.mid=m1&%24.ct=application%2Fjson&%24.ce=utf-8&a%20b=c%26d&%C3%A7=%E2%82%AC',
        ),
        {
          systemProperties: { '$.on': 'out 1', '$.mid': 'm1', '$.ct': 'application/json', '$.ce': 'utf-8' },
          properties: { 'a b': 'c&d', ç: '€' },
        },
      );
    });
    it('reads unencoded keys (Node SDK bag), empty values, keys without =', () => {
      assert.deepEqual(parsePropertyBag('$.on=out&$.to=%2Fx&flag&empty=&&x=1=2'), {
        systemProperties: { '$.on': 'out', '$.to': '/x' },
        properties: { flag: '', empty: '', x: '1=2' },
      });
    });
    it('returns nothing for an empty bag', () =>
      assert.deepEqual(parsePropertyBag(''), { properties: {}, systemProperties: {} }));
  });

  describe('encodePropertyBag', () => {
    it('writes system properties first in IoT Hub order, then sorted application properties', () => {
      assert.equal(
        encodePropertyBag({
          systemProperties: { '$.cmid': 'm', '$.cdid': 'd', '$.mid': 'id 1', '$.on': 'o/1', '$.ct': 'text/plain' },
          properties: { z: '1', 'a b': '#&', ä: '+' },
        }),
        '%24.mid=id%201&%24.ct=text%2Fplain&%24.on=o%2F1&%24.cdid=d&%24.cmid=m&a%20b=%23%26&z=1&%C3%A4=%2B',
      );
    });
    it('round-trips through parsePropertyBag', () => {
      const bag = { systemProperties: { '$.cid': 'c?', '$.cdid': 'd' }, properties: { "k!'()*": 'v %' } };
      assert.deepEqual(parsePropertyBag(encodePropertyBag(bag)), bag);
    });
  });

  it('parseTopicQuery decodes the query', () => {
    assert.deepEqual(
      [...parseTopicQuery('$iothub/twin/res/204/?$rid=a%20b&$version=3')],
      [
        ['$rid', 'a b'],
        ['$version', '3'],
      ],
    );
    assert.equal(parseTopicQuery('no/query').size, 0);
  });

  describe('classifyPublish', () => {
    const mod = { deviceId: 'd', moduleId: 'm' };
    const table: Array<[string, unknown]> = [
      ['devices/d/modules/m/messages/events/', { kind: 'events', bag: '' }],
      ['devices/d/modules/m/messages/events', { kind: 'events', bag: '' }],
      ['devices/d/modules/m/messages/events/%24.on=o&a=1', { kind: 'events', bag: '%24.on=o&a=1' }],
      ['devices/d/modules/m/messages/events/%24.on=o/', { kind: 'events', bag: '%24.on=o' }],
      ['$iothub/twin/GET/?$rid=7', { kind: 'twinGet', rid: '7' }],
      ['$iothub/twin/PATCH/properties/reported/?$rid=a%2Fb', { kind: 'twinPatchReported', rid: 'a/b' }],
      ['$iothub/methods/res/200/?$rid=1f', { kind: 'methodResponse', status: 200, rid: '1f' }],
      ['$iothub/methods/res/abc/?$rid=1f', undefined],
      ['$iothub/twin/GET/', undefined],
      ['devices/d/modules/other/messages/events/', undefined],
      ['devices/d/messages/events/', undefined],
      ['devices/d/modules/m/messages/eventsX', undefined],
    ];
    for (const [topic, expected] of table) it(topic, () => assert.deepEqual(classifyPublish(topic, mod), expected));
    it('lets a device publish on its own events topic', () => {
      assert.deepEqual(classifyPublish('devices/d/messages/events/a=1', { deviceId: 'd' }), {
        kind: 'events',
        bag: 'a=1',
      });
    });
  });

  it('subscriptionAllowed allows only the topic filters IoT Hub allows a module', () => {
    const mod = { deviceId: 'd', moduleId: 'm' };
    assert.equal(subscriptionAllowed('devices/d/modules/m/inputs/#', mod), true);
    assert.equal(subscriptionAllowed('devices/d/modules/x/inputs/#', mod), false);
    assert.equal(subscriptionAllowed('devices/d/messages/devicebound/#', { deviceId: 'd' }), true);
    assert.equal(subscriptionAllowed('devices/d/messages/devicebound/#', mod), false);
  });
});

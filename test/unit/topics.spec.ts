// Topic building and parsing for every IoT Hub topic a module uses, with literal expected strings.
import assert from 'node:assert/strict';
import {
  eventsTopic,
  inputsSubscription,
  methodResponseTopic,
  twinGetTopic,
  twinPatchReportedTopic,
  parseIncomingTopic,
  METHODS_SUBSCRIPTION,
  TWIN_RESPONSE_SUBSCRIPTION,
  DESIRED_PATCH_SUBSCRIPTION,
} from '../../src/client/transport/topics';

const ID = { deviceId: 'dev 1', moduleId: 'mod$' };
const NASTY = "a b/$+%&#!*'()é~";
const NASTY_ENC = 'a%20b%2F%24%2B%25%26%23%21%2A%27%28%29%C3%A9~';

describe('topics', () => {
  const built: Array<[string, string, string]> = [
    ['events, module', eventsTopic(ID, ''), 'devices/dev 1/modules/mod$/messages/events/'],
    ['events with bag', eventsTopic(ID, '%24.on=out&k=v'), 'devices/dev 1/modules/mod$/messages/events/%24.on=out&k=v'],
    ['events, device', eventsTopic({ deviceId: 'd' }, ''), 'devices/d/messages/events/'],
    ['inputs', inputsSubscription(ID), 'devices/dev 1/modules/mod$/inputs/#'],
    ['methods sub', METHODS_SUBSCRIPTION, '$iothub/methods/POST/#'],
    ['twin res sub', TWIN_RESPONSE_SUBSCRIPTION, '$iothub/twin/res/#'],
    ['desired sub', DESIRED_PATCH_SUBSCRIPTION, '$iothub/twin/PATCH/properties/desired/#'],
    ['method response', methodResponseTopic('1a', 200), '$iothub/methods/res/200/?$rid=1a'],
    ['method response, nasty rid', methodResponseTopic(NASTY, -1), `$iothub/methods/res/-1/?$rid=${NASTY_ENC}`],
    ['twin GET', twinGetTopic('6f1c-42'), '$iothub/twin/GET/?$rid=6f1c-42'],
    ['twin GET nasty', twinGetTopic(NASTY), `$iothub/twin/GET/?$rid=${NASTY_ENC}`],
    ['twin PATCH', twinPatchReportedTopic('r1'), '$iothub/twin/PATCH/properties/reported/?$rid=r1'],
  ];
  for (const [name, actual, expected] of built) it(`builds ${name}`, () => assert.equal(actual, expected));

  it('parses an input message with name and bag', () => {
    assert.deepEqual(
      parseIncomingTopic(`devices/dev 1/modules/mod$/inputs/${NASTY_ENC}/%24.mid=m&%24.cdid=d&x=${NASTY_ENC}`, ID),
      {
        kind: 'input',
        inputName: NASTY,
        properties: { messageId: 'm', customProperties: { '$.cdid': 'd', x: NASTY } },
      },
    );
  });
  it('parses an input message without a bag and with a Node-style trailing slash', () => {
    assert.deepEqual(parseIncomingTopic('devices/dev 1/modules/mod$/inputs/in1', ID), {
      kind: 'input',
      inputName: 'in1',
      properties: { customProperties: {} },
    });
    assert.deepEqual(parseIncomingTopic('devices/dev 1/modules/mod$/inputs/in1/k=v/', ID), {
      kind: 'input',
      inputName: 'in1',
      properties: { customProperties: { k: 'v' } },
    });
  });
  it('inputs of another module are unknown', () => {
    assert.deepEqual(parseIncomingTopic('devices/dev 1/modules/other/inputs/in1', ID), { kind: 'unknown' });
  });
  it('parses method requests', () => {
    assert.deepEqual(parseIncomingTopic('$iothub/methods/POST/reboot/?$rid=1f', ID), {
      kind: 'method',
      methodName: 'reboot',
      requestId: '1f',
    });
    assert.deepEqual(parseIncomingTopic(`$iothub/methods/POST/${NASTY_ENC}/?%24rid=${NASTY_ENC}`, ID), {
      kind: 'method',
      methodName: NASTY,
      requestId: NASTY,
    });
  });
  it('parses twin responses with status, rid and version', () => {
    assert.deepEqual(parseIncomingTopic('$iothub/twin/res/200/?$rid=abc', ID), {
      kind: 'twin-response',
      status: 200,
      requestId: 'abc',
    });
    assert.deepEqual(parseIncomingTopic('$iothub/twin/res/204/?$rid=abc&$version=7', ID), {
      kind: 'twin-response',
      status: 204,
      requestId: 'abc',
      version: 7,
    });
    assert.deepEqual(parseIncomingTopic(`$iothub/twin/res/429/?$rid=${NASTY_ENC}`, ID), {
      kind: 'twin-response',
      status: 429,
      requestId: NASTY,
    });
  });
  it('parses desired patches', () => {
    assert.deepEqual(parseIncomingTopic('$iothub/twin/PATCH/properties/desired/?$version=12', ID), {
      kind: 'desired-patch',
      version: 12,
    });
    assert.deepEqual(parseIncomingTopic('$iothub/twin/PATCH/properties/desired/', ID), { kind: 'desired-patch' });
  });
  it('anything else is unknown', () => {
    assert.deepEqual(parseIncomingTopic('$iothub/other', ID), { kind: 'unknown' });
    assert.deepEqual(parseIncomingTopic('', ID), { kind: 'unknown' });
  });
});

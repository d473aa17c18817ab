// Unit tests for how the hub builds the messages it routes (src/hub/telemetryMessages.ts) and drops expired ones
// (src/hub/InputDelivery.ts).
import assert from 'node:assert/strict';
import type { AedesPublishPacket } from 'aedes';
import { forwardUnlessExpired } from '../../src/hub/InputDelivery';
import { injectedMessage, telemetryMessage } from '../../src/hub/telemetryMessages';

describe('hub messages for routing', () => {
  describe('telemetryMessage', () => {
    it('decodes the bag and stamps the source module over what it claimed', () => {
      const body = Buffer.from('{"t":1}');
      const m = telemetryMessage(
        { deviceId: 'dev', moduleId: 'mod' },
        '%24.mid=1&%24.cdid=spoof&%24.on=out%201&a%20b=c%26d%2F%24%2B%25%23%C3%A9',
        body,
        'T',
      );
      assert.deepEqual(m, {
        body,
        properties: { 'a b': 'c&d/$+%#é' },
        systemProperties: { '$.mid': '1', '$.cdid': 'dev', '$.on': 'out 1', '$.cmid': 'mod' },
        deviceId: 'dev',
        moduleId: 'mod',
        outputName: 'out 1',
        enqueuedTime: 'T',
      });
    });

    it('removes a module id a device claims, and has no output name without $.on', () => {
      const m = telemetryMessage({ deviceId: 'dev' }, '%24.cmid=fake', Buffer.alloc(0), 'T');
      assert.deepEqual(m.systemProperties, { '$.cdid': 'dev' });
      assert.equal('moduleId' in m, false);
      assert.equal('outputName' in m, false);
    });
  });

  describe('injectedMessage', () => {
    it('takes the source and output name from the given system properties', () => {
      const sys = { '$.cdid': 'other', '$.cmid': 'src', '$.on': 'o' };
      const m = injectedMessage('dev', { body: 'é', properties: { k: 'v' }, systemProperties: sys }, 'T');
      assert.deepEqual(m, {
        body: Buffer.from('é', 'utf8'),
        properties: { k: 'v' },
        systemProperties: sys,
        deviceId: 'other',
        moduleId: 'src',
        outputName: 'o',
        enqueuedTime: 'T',
      });
      assert.notEqual(m.systemProperties, sys);
    });

    it('defaults to the target device, no module, no properties', () => {
      const body = Buffer.from([1, 2]);
      assert.deepEqual(injectedMessage('dev', { body }, 'T'), {
        body,
        properties: {},
        systemProperties: {},
        deviceId: 'dev',
        enqueuedTime: 'T',
      });
    });
  });

  describe('forwardUnlessExpired', () => {
    const packet = (messageExpiry?: number): AedesPublishPacket =>
      ({
        cmd: 'publish',
        topic: 't',
        payload: Buffer.alloc(0),
        qos: 1,
        retain: false,
        dup: false,
        ...(messageExpiry === undefined ? {} : { messageExpiry }),
      }) as unknown as AedesPublishPacket;
    it('forwards a packet without expiry or not expired yet', () => {
      const plain = packet();
      const fresh = packet(Date.now() + 60_000);
      assert.equal(forwardUnlessExpired(null, plain), plain);
      assert.equal(forwardUnlessExpired(null, fresh), fresh);
    });
    it('drops an expired packet', () => assert.equal(forwardUnlessExpired(null, packet(Date.now() - 1)), null));
  });
});

// iothub-module-input against a real LocalHub: every msg field from a routed message, input filtering, a
// payload that does not decode as declared (Buffer + warning), the raw option.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import { collect, DEVICE, helper, loadWithClient, nextCall, nextInput, untilSubscribed, useLocalHub } from './support';
import { until } from '../helpers/until';

describe('iothub-module-input (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  useLocalHub((h) => (hub = h));

  async function load(): Promise<void> {
    await loadWithClient(
      hub,
      [
        { id: 'in1', type: 'iothub-module-input', client: 'cfg', inputName: 'in 1', wires: [['got1']] },
        { id: 'all', type: 'iothub-module-input', client: 'cfg', inputName: '', wires: [['gotAll']] },
        { id: 'raw', type: 'iothub-module-input', client: 'cfg', inputName: 'raw', raw: true, wires: [['gotRaw']] },
        { id: 'got1', type: 'helper' },
        { id: 'gotAll', type: 'helper' },
        { id: 'gotRaw', type: 'helper' },
      ],
      { subscribedTo: '/inputs/' },
    );
  }

  it('delivers every field of a routed JSON message, on its input and on the all-inputs node', async () => {
    await load();
    const got1 = nextInput(helper.getNode('got1'));
    const gotAll = nextInput(helper.getNode('gotAll'));
    await hub.sendToInput(DEVICE, 'flow', 'in 1', {
      body: JSON.stringify({ temp: 20, text: 'é /$+%&#' }),
      properties: { alert: 'yes', 'key with space': 'v/$+%&#é' },
      systemProperties: {
        '$.mid': 'mid-1',
        '$.cid': 'cid-1',
        '$.uid': 'user-1',
        '$.ct': 'application/json',
        '$.ce': 'utf-8',
        '$.exp': '2030-01-01T00:00:00Z',
        '$.cdid': DEVICE,
        '$.cmid': 'peer',
      },
    });
    const msg = await got1;
    assert.deepEqual(msg.payload, { temp: 20, text: 'é /$+%&#' });
    assert.equal(msg.topic, 'in 1');
    assert.equal(msg.inputName, 'in 1');
    assert.deepEqual(msg.properties, { alert: 'yes', 'key with space': 'v/$+%&#é' });
    assert.equal(msg.messageId, 'mid-1');
    assert.equal(msg.correlationId, 'cid-1');
    assert.equal(msg.userId, 'user-1');
    assert.equal(msg.contentType, 'application/json');
    assert.equal(msg.contentEncoding, 'utf-8');
    assert.equal(msg.expiryTimeUtc, '2030-01-01T00:00:00Z');
    assert.equal(msg.connectionDeviceId, DEVICE);
    assert.equal(msg.connectionModuleId, 'peer');
    assert.deepEqual((await gotAll).payload, { temp: 20, text: 'é /$+%&#' });
  });

  it('filters by input name, decodes text, keeps undeclared payloads as Buffers', async () => {
    await load();
    const got1 = collect(helper.getNode('got1'));
    const all = collect(helper.getNode('gotAll'));
    await hub.sendToInput(DEVICE, 'flow', 'other', {
      body: 'héllo',
      systemProperties: { '$.ct': 'text/plain', '$.ce': 'utf-8' },
    });
    await hub.sendToInput(DEVICE, 'flow', 'other', { body: Buffer.from([1, 2, 3]) });
    await until(() => all.length === 2, 'two messages', 10_000);
    assert.equal(all[0]!.payload, 'héllo');
    assert.deepEqual(all[1]!.payload, Buffer.from([1, 2, 3]));
    assert.equal(got1.length, 0);
  });

  it('a payload declared JSON that is not JSON arrives as a Buffer with a warning; the raw option keeps Buffers', async () => {
    await load();
    const gotAll = nextInput(helper.getNode('gotAll'));
    const warned = nextCall(helper.getNode('all'), 'warn');
    await hub.sendToInput(DEVICE, 'flow', 'in 1', {
      body: '{not json',
      systemProperties: { '$.ct': 'application/json', '$.ce': 'utf-8' },
    });
    assert.deepEqual((await gotAll).payload, Buffer.from('{not json'));
    const [warning] = await warned;
    assert.match(String(warning), /not valid JSON/);
    assert.doesNotMatch(String(warning), /iothub-module-input\./);

    const gotRaw = nextInput(helper.getNode('gotRaw'));
    await hub.sendToInput(DEVICE, 'flow', 'raw', {
      body: '{"a":1}',
      systemProperties: { '$.ct': 'application/json', '$.ce': 'utf-8' },
    });
    assert.deepEqual((await gotRaw).payload, Buffer.from('{"a":1}'));
  });

  it('an unknown content encoding or bytes that are not the declared text arrive as Buffers with a warning, never a crash', async () => {
    await load();
    const all = collect(helper.getNode('gotAll'));
    const warnings: unknown[] = [];
    helper.getNode('all').on('call:warn', (call: { args: unknown[] }) => void warnings.push(call.args[0]));
    await hub.sendToInput(DEVICE, 'flow', 'odd', {
      body: '{"a":1}',
      systemProperties: { '$.ct': 'application/json', '$.ce': 'no-such-encoding' },
    });
    await hub.sendToInput(DEVICE, 'flow', 'odd', {
      body: Buffer.from([0xff, 0xfe, 0xc3]),
      systemProperties: { '$.ct': 'text/plain', '$.ce': 'utf-8' },
    });
    await hub.sendToInput(DEVICE, 'flow', 'odd', { body: 'still fine', systemProperties: { '$.ct': 'text/plain' } });
    await until(() => all.length === 3 && warnings.length === 2, 'three messages, two warnings', 10_000);
    assert.deepEqual(all[0]!.payload, Buffer.from('{"a":1}'));
    assert.equal(all[0]!.contentEncoding, 'no-such-encoding');
    assert.deepEqual(all[1]!.payload, Buffer.from([0xff, 0xfe, 0xc3]));
    assert.equal(all[2]!.payload, 'still fine');
    assert.match(String(warnings[0]), /no-such-encoding/);
    for (const w of warnings) assert.doesNotMatch(String(w), /iothub-module-input\./);
  });

  it('a message routed while the module is offline reaches the flow once after the reconnect', async () => {
    await load();
    const all = collect(helper.getNode('gotAll'));
    await hub.stop();
    try {
      await until(() => !hub.isConnected(`${DEVICE}/flow`), 'offline', 10_000);
      await hub.sendToInput(DEVICE, 'flow', 'in 1', {
        body: 'while offline',
        systemProperties: { '$.ct': 'text/plain' },
      });
    } finally {
      await hub.restart();
    }
    await until(() => all.some((m) => m.payload === 'while offline'), 'stored message delivered', 20_000);
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/');
    // A sentinel sent after the reconnect: once it is through, a duplicate of the stored message would have been too.
    await hub.sendToInput(DEVICE, 'flow', 'in 1', { body: 'sentinel', systemProperties: { '$.ct': 'text/plain' } });
    await until(() => all.some((m) => m.payload === 'sentinel'), 'sentinel', 10_000);
    assert.equal(all.filter((m) => m.payload === 'while offline').length, 1);
  });
});

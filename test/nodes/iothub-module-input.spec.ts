// iothub-module-input against a real LocalHub: every msg field from a routed message, input filtering, a
// payload that does not decode as declared (Buffer + warning), the raw option.
import assert from 'node:assert/strict';
import type { LocalHubApi } from '../../src/hub/types';
import { clientConfig, collect, DEVICE, helper, nextCall, nextInput, NODES, onTab, startHub, tlsConfig, until, untilSubscribed, unloadAll } from './support';

describe('iothub-module-input (flow, local hub)', function () {
  this.timeout(30_000);
  let hub: LocalHubApi;
  before(async () => {
    hub = await startHub();
  });
  after(async () => {
    await hub.close();
  });
  beforeEach(() => helper.startServer());
  afterEach(() => unloadAll());

  async function load(): Promise<void> {
    const tls = tlsConfig(hub);
    const cfg = clientConfig(hub, 'flow');
    const since = Date.now();
    await helper.load(
      NODES,
      onTab([
        tls.node,
        cfg.node,
        { id: 'in1', type: 'iothub-module-input', client: 'cfg', inputName: 'in 1', wires: [['got1']] },
        { id: 'all', type: 'iothub-module-input', client: 'cfg', inputName: '', wires: [['gotAll']] },
        { id: 'raw', type: 'iothub-module-input', client: 'cfg', inputName: 'raw', raw: true, wires: [['gotRaw']] },
        { id: 'got1', type: 'helper' },
        { id: 'gotAll', type: 'helper' },
        { id: 'gotRaw', type: 'helper' },
      ]),
      { tls: tls.credentials, cfg: cfg.credentials },
    );
    await untilSubscribed(hub, `${DEVICE}/flow`, '/inputs/', since);
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
    await hub.sendToInput(DEVICE, 'flow', 'other', { body: 'héllo', systemProperties: { '$.ct': 'text/plain', '$.ce': 'utf-8' } });
    await hub.sendToInput(DEVICE, 'flow', 'other', { body: Buffer.from([1, 2, 3]) });
    await until(() => all.length === 2, 10_000, 'two messages');
    assert.equal(all[0]!.payload, 'héllo');
    assert.deepEqual(all[1]!.payload, Buffer.from([1, 2, 3]));
    assert.equal(got1.length, 0);
  });

  it('a payload declared JSON that is not JSON arrives as a Buffer with a warning; the raw option keeps Buffers', async () => {
    await load();
    const gotAll = nextInput(helper.getNode('gotAll'));
    const warned = nextCall(helper.getNode('all'), 'warn');
    await hub.sendToInput(DEVICE, 'flow', 'in 1', { body: '{not json', systemProperties: { '$.ct': 'application/json', '$.ce': 'utf-8' } });
    assert.deepEqual((await gotAll).payload, Buffer.from('{not json'));
    const [warning] = await warned;
    assert.match(String(warning), /not valid JSON/);
    assert.doesNotMatch(String(warning), /iothub-module-input\./);

    const gotRaw = nextInput(helper.getNode('gotRaw'));
    await hub.sendToInput(DEVICE, 'flow', 'raw', { body: '{"a":1}', systemProperties: { '$.ct': 'application/json', '$.ce': 'utf-8' } });
    assert.deepEqual((await gotRaw).payload, Buffer.from('{"a":1}'));
  });
});

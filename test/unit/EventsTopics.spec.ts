// The events topic memo must never hand out a topic whose property bag differs from a fresh encoding.
import assert from 'node:assert/strict';
import { Message } from '../../src/index';
import { EventsTopics } from '../../src/client/transport/EventsTopics';
import { encodeMessageProperties } from '../../src/client/transport/properties';

const PREFIX = 'devices/d/modules/m/messages/events/';

function message(
  custom: Record<string, string>,
  fields: Partial<Pick<Message, 'outputName' | 'messageId' | 'contentType' | 'expiryTimeUtc'>> = {},
): Message {
  const m = new Message('x', { contentType: 'application/json', contentEncoding: 'utf-8' });
  Object.assign(m, fields);
  m.customProperties = custom;
  return m;
}

describe('events topics', () => {
  it('gives every message the topic of its own properties, however they change from one message to the next', () => {
    const topics = new EventsTopics({ deviceId: 'd', moduleId: 'm' });
    const shared: Record<string, string> = { a: '1', b: 'two words' };
    const sharedAgain = message(shared); // the same properties object, changed just before it is sent again
    const sequence: Message[] = [
      message({ a: '1', b: 'two words' }, { outputName: 'out' }),
      message({ b: 'two words', a: '1' }, { outputName: 'out' }), // same set, other insertion order
      message({ a: '1', b: 'two words' }, { outputName: 'other' }),
      message({ a: '1' }, { outputName: 'other' }), // one key fewer
      message({ a: '1', c: '' }, { outputName: 'other' }), // as many keys, another one
      message({ a: '2', c: '' }, { outputName: 'other' }),
      message({ a: '2', c: '' }, { outputName: 'other', messageId: 'id-1' }),
      message({ a: '2', c: '' }, { outputName: 'other', messageId: 'id-2' }),
      message({ 'k é/$': 'v +%&#' }, { outputName: 'out 1/$' }),
      message({ 'k é/$': 'v +%&#' }, { outputName: 'out 1/$' }), // the same, with every character that needs encoding
      message({}, { contentType: 'text/plain' }),
      message({}),
      message(shared),
      sharedAgain,
      message({ a: '1', b: 'two words' }, { expiryTimeUtc: new Date(Date.UTC(2030, 0, 1)) }),
      message({ a: '1', b: 'two words' }, { expiryTimeUtc: new Date(Date.UTC(2031, 0, 1)) }),
    ];
    const seen = new Set<string>();
    sequence.forEach((m, i) => {
      if (m === sharedAgain) shared.b = 'changed';
      const topic = topics.topicFor(m);
      assert.equal(topic, PREFIX + encodeMessageProperties(m), `message ${i}`);
      seen.add(topic);
    });
    assert.ok(seen.size >= 12, 'the sequence exercises distinct topics');
  });

  it('hands back the very same string for equal properties (no new encoding)', () => {
    const topics = new EventsTopics({ deviceId: 'd', moduleId: 'm' });
    const first = topics.topicFor(message({ sensor: 'alpha', unit: 'celsius' }, { outputName: 'telemetry' }));
    const second = topics.topicFor(message({ unit: 'celsius', sensor: 'alpha' }, { outputName: 'telemetry' }));
    assert.equal(first, `${PREFIX}%24.on=telemetry&%24.ct=application%2Fjson&%24.ce=utf-8&sensor=alpha&unit=celsius`);
    assert.equal(second, first);
  });

  it('does not take inherited keys for own ones', () => {
    const topics = new EventsTopics({ deviceId: 'd', moduleId: 'm' });
    topics.topicFor(message({ a: '1', b: '2' }));
    const inherited = Object.assign(Object.create({ b: '2' }) as Record<string, string>, { a: '1' });
    const m = message(inherited);
    assert.equal(topics.topicFor(m), PREFIX + encodeMessageProperties(m));
    assert.ok(!topics.topicFor(m).includes('b=2'));
  });

  it('encodes again when a property is not a string (numbers, Dates)', () => {
    const topics = new EventsTopics({ deviceId: 'd' });
    const numeric = message({ n: 1 as unknown as string });
    assert.equal(topics.topicFor(numeric), 'devices/d/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8&n=1');
    const expiry = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 5));
    const dated = message({}, { expiryTimeUtc: expiry });
    const before = topics.topicFor(dated);
    expiry.setUTCFullYear(2031); // the same Date object, changed
    assert.notEqual(topics.topicFor(dated), before);
    assert.ok(topics.topicFor(dated).endsWith('%24.exp=2031-01-01T00%3A00%3A00.005000'));
  });
});

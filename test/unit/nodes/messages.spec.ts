// Pure msg ↔ Message conversion of the Node-RED nodes: payload decoding, properties, source identity.
import assert from 'node:assert/strict';
import { Message } from '../../../src/index';
import { NodeError } from '../../../nodes/shared/errors';
import {
  decodePayload,
  messageBytes,
  messageToMsg,
  methodPayload,
  msgToMessage,
  toJson,
} from '../../../nodes/shared/messages';

describe('nodes: payload decoding', () => {
  const utf8 = (s: string) => Buffer.from(s, 'utf8');
  const cases: Array<[string, Buffer, string | undefined, string | undefined, unknown, string | undefined]> = [
    ['JSON object', utf8('{"a":1,"b":"ç"}'), 'application/json', 'utf-8', { a: 1, b: 'ç' }, undefined],
    ['JSON with charset parameter', utf8('[1,2]'), 'application/json; charset=utf-8', undefined, [1, 2], undefined],
    [
      'JSON without encoding defaults to UTF-8',
      utf8('"x y/$+%&#é"'),
      'application/json',
      undefined,
      'x y/$+%&#é',
      undefined,
    ],
    ['+json suffix', utf8('{"v":true}'), 'application/vnd.example+json', 'utf-8', { v: true }, undefined],
    ['JSON number', utf8('42'), 'application/json', 'utf-8', 42, undefined],
    ['text/plain', utf8('héllo wörld /$+%&#'), 'text/plain', 'utf-8', 'héllo wörld /$+%&#', undefined],
    ['encoding only means text', utf8('abc'), undefined, 'utf-8', 'abc', undefined],
    ['UTF-16LE text', Buffer.from('añb', 'utf16le'), 'text/plain', 'utf-16le', 'añb', undefined],
    ['latin1 text', Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'text/plain', 'iso-8859-1', 'café', undefined],
    ['no declaration stays Buffer', utf8('{"a":1}'), undefined, undefined, utf8('{"a":1}'), undefined],
    [
      'binary type stays Buffer',
      Buffer.from([0, 1, 2, 255]),
      'application/octet-stream',
      undefined,
      Buffer.from([0, 1, 2, 255]),
      undefined,
    ],
    ['invalid JSON → Buffer + warning', utf8('{nope'), 'application/json', 'utf-8', utf8('{nope'), 'invalid-json'],
    ['empty JSON → Buffer + warning', Buffer.alloc(0), 'application/json', 'utf-8', Buffer.alloc(0), 'invalid-json'],
    [
      'invalid UTF-8 → Buffer + warning',
      Buffer.from([0xff, 0xfe, 0x41]),
      'text/plain',
      'utf-8',
      Buffer.from([0xff, 0xfe, 0x41]),
      'invalid-text',
    ],
    [
      'non-ASCII under ascii → Buffer + warning',
      Buffer.from([0xe9]),
      'text/plain',
      'ascii',
      Buffer.from([0xe9]),
      'invalid-text',
    ],
    ['unknown encoding → Buffer + warning', utf8('abc'), 'text/plain', 'ebcdic', utf8('abc'), 'unknown-encoding'],
  ];
  for (const [name, data, contentType, contentEncoding, payload, warning] of cases) {
    it(name, () => {
      const result = decodePayload(data, contentType, contentEncoding);
      assert.deepEqual(result.payload, payload);
      assert.equal(result.warning, warning);
    });
  }

  it('raw option keeps the Buffer even for JSON', () => {
    const data = Buffer.from('{"a":1}');
    const result = decodePayload(data, 'application/json', 'utf-8', true);
    assert.equal(result.payload, data);
    assert.equal(result.warning, undefined);
  });
});

describe('nodes: received Message → msg', () => {
  it('maps every field and removes $.-keys from msg.properties', () => {
    const message = new Message(Buffer.from('{"t":21.5}'));
    message.inputName = 'in 1';
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    message.messageId = 'm-1';
    message.correlationId = 'c-1';
    message.userId = 'u';
    message.expiryTimeUtc = '2030-01-01T00:00:00Z';
    message.customProperties = {
      alert: 'yes',
      'key with space': 'v/$+%&#é',
      '$.cdid': 'dev',
      '$.cmid': 'modA',
      '$.on': 'out1',
    };
    const { msg, warning } = messageToMsg(message);
    assert.equal(warning, undefined);
    assert.deepEqual(msg, {
      payload: { t: 21.5 },
      topic: 'in 1',
      inputName: 'in 1',
      properties: { alert: 'yes', 'key with space': 'v/$+%&#é' },
      messageId: 'm-1',
      correlationId: 'c-1',
      userId: 'u',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      expiryTimeUtc: '2030-01-01T00:00:00Z',
      connectionDeviceId: 'dev',
      connectionModuleId: 'modA',
    });
  });

  it('reports a decode warning and keeps the bytes', () => {
    const message = new Message(Buffer.from('not json'));
    message.contentType = 'application/json';
    const { msg, warning } = messageToMsg(message);
    assert.equal(warning, 'invalid-json');
    assert.deepEqual(msg.payload, Buffer.from('not json'));
  });
});

describe('nodes: msg → Message to send', () => {
  it('objects go as JSON with content type and encoding', () => {
    const m = msgToMessage({ payload: { a: [1, 'é'] } });
    assert.equal(m.data, '{"a":[1,"é"]}');
    assert.equal(m.contentType, 'application/json');
    assert.equal(m.contentEncoding, 'utf-8');
  });

  it('strings go as UTF-8 text, Buffers raw', () => {
    const text = msgToMessage({ payload: 'hi /$+%&#' });
    assert.equal(text.data, 'hi /$+%&#');
    assert.equal(text.contentType, 'text/plain');
    const bytes = Buffer.from([1, 2, 3]);
    const raw = msgToMessage({ payload: bytes });
    assert.equal(raw.data, bytes);
    assert.equal(raw.contentType, undefined);
    assert.equal(raw.contentEncoding, undefined);
  });

  it('numbers and booleans go as JSON', () => {
    assert.equal(msgToMessage({ payload: 3 }).data, '3');
    assert.equal(msgToMessage({ payload: false }).data, 'false');
  });

  it('honours msg.properties, messageId, correlationId, contentType, contentEncoding', () => {
    const m = msgToMessage({
      payload: Buffer.from('x'),
      properties: { 'a b': 'c/d', n: 5, flag: true },
      messageId: 'id-1',
      correlationId: 42,
      contentType: 'application/octet-stream',
      contentEncoding: 'binary',
    });
    assert.deepEqual(m.customProperties, { 'a b': 'c/d', n: '5', flag: 'true' });
    assert.equal(m.messageId, 'id-1');
    assert.equal(m.correlationId, '42');
    assert.equal(m.contentType, 'application/octet-stream');
    assert.equal(m.contentEncoding, 'binary');
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['missing payload', {}, 'invalid-payload'],
    [
      'circular payload',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return { payload: o };
      })(),
      'invalid-payload',
    ],
    ['properties not an object', { payload: 'x', properties: 'a=b' }, 'invalid-properties'],
    ['property value an object', { payload: 'x', properties: { a: { b: 1 } } }, 'invalid-properties'],
    ['messageId an object', { payload: 'x', messageId: { id: 1 } }, 'invalid-field'],
  ];
  for (const [name, msg, code] of bad) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => msgToMessage(msg),
        (err: unknown) => err instanceof NodeError && err.code === code,
      );
    });
  }
});

describe('nodes: method response payload', () => {
  it('undefined → null, JSON Buffer → value, other Buffer → text, values as they are', () => {
    assert.equal(methodPayload(undefined), null);
    assert.deepEqual(methodPayload(Buffer.from('{"ok":true}')), { ok: true });
    assert.equal(methodPayload(Buffer.from('plain')), 'plain');
    assert.deepEqual(methodPayload({ a: 1 }), { a: 1 });
  });
});

describe('nodes: why a value cannot be sent as JSON', () => {
  const circular: Record<string, unknown> = { a: [1] };
  (circular.a as unknown[]).push(circular);
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 20_000; i++) deep = { a: deep };
  const cases: Array<[string, unknown, string | undefined]> = [
    ['undefined', undefined, 'undefined'],
    ['a function', () => 1, 'function'],
    ['a Symbol', Symbol('s'), 'symbol'],
    ['a BigInt', 10n, 'bigint'],
    ['a BigInt inside', { n: [1, 2n] }, 'bigint'],
    ['a cycle through an array', circular, 'circular'],
    ['20,000 levels deep', deep, 'too-deep'],
    [
      'a toJSON that throws',
      {
        toJSON: () => {
          throw new Error('no');
        },
      },
      'to-json',
    ],
    ['a function inside (JSON leaves it out)', { f: () => 1, kept: 1 }, undefined],
    [
      'the same object twice (no cycle)',
      (() => {
        const k = { k: 1 };
        return { x: k, y: k, z: 'é /$+%&#' };
      })(),
      undefined,
    ],
  ];
  for (const [name, value, problem] of cases) {
    it(`${name} → ${problem ?? 'sendable'}`, () => {
      assert.equal(toJson(value).problem, problem);
    });
  }
  it('msgToMessage and methodPayload carry the problem on the NodeError', () => {
    assert.throws(
      () => msgToMessage({ payload: { n: 1n } }),
      (err: unknown) => err instanceof NodeError && err.problem === 'bigint',
    );
    assert.throws(
      () => methodPayload(circular),
      (err: unknown) => err instanceof NodeError && err.problem === 'circular',
    );
  });
});

describe('nodes: message size for the send queue', () => {
  it('measures a message by its payload and property bytes (UTF-8)', () => {
    const message = new Message('ação', { messageId: 'm1' });
    message.customProperties = { é: 'x/$' };
    assert.equal(messageBytes(message), 6 + 2 + 2 + 3);
    assert.equal(messageBytes(new Message(Buffer.alloc(10))), 10);
  });
});

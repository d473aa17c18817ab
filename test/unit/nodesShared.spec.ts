// Pure helpers of the nodes: method request table, bounded send queue, catalog text by error code, settings and
// msg fields.
import assert from 'node:assert/strict';
import { ClientError, Message, OperationTimeout } from '../../src/index';
import { describeError, NodeError } from '../../nodes/shared/errors';
import { isPlainObject, numberSetting, outputNameOf, statusCodeOf, takeSastoken, targetId, timeoutSeconds, twinAction } from '../../nodes/shared/fields';
import { localHubModuleOf } from '../../nodes/shared/localHub';
import { interpolate, translate } from '../../nodes/shared/i18n';
import { messageBytes } from '../../nodes/shared/messages';
import { addPendingRequest, dropRequestsOf, flowRequestId, pendingCount, takePendingRequest } from '../../nodes/shared/methodRegistry';
import type { RedApi } from '../../nodes/shared/red';
import { SendQueue } from '../../nodes/shared/SendQueue';
import { showStatus } from '../../nodes/shared/status';

/** A RED whose `_` resolves nothing (like node-red-node-test-helper's). */
const RED = { _: (key: string) => key } as unknown as RedApi;
const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('nodes: method request table', () => {
  it('qualifies the hub id with the owner and answers once', async () => {
    const answers: Array<[string, number, unknown]> = [];
    const id = addPendingRequest({ ownerId: 'cfgA', hubRequestId: '1', methodName: 'm', respond: async (rid, s, p) => void answers.push([rid, s, p]) });
    assert.equal(id, flowRequestId('cfgA', '1'));
    assert.equal(id, '1@cfgA');
    const taken = takePendingRequest(id);
    await taken.respond(200, { ok: 1 });
    assert.deepEqual(answers, [['1', 200, { ok: 1 }]]);
    assert.throws(() => takePendingRequest(id), isCode('already-responded'));
  });

  it('two owners with the same hub id do not collide', () => {
    const a = addPendingRequest({ ownerId: 'A', hubRequestId: '7', methodName: 'm', respond: async () => undefined });
    const b = addPendingRequest({ ownerId: 'B', hubRequestId: '7', methodName: 'm', respond: async () => undefined });
    assert.notEqual(a, b);
    assert.equal(dropRequestsOf('A'), 1);
    assert.throws(() => takePendingRequest(a), isCode('request-expired'));
    takePendingRequest(b);
  });

  it('auto-answers after the time limit, then reports the id as expired', async () => {
    let answered: [string, number, unknown] | undefined;
    const expired = new Promise<void>((resolve) => {
      addPendingRequest({
        ownerId: 'T',
        hubRequestId: '9',
        methodName: 'slow',
        respond: async (rid, s, p) => void (answered = [rid, s, p]),
        autoAnswer: { afterMs: 5, status: 504, payload: { message: 'late' }, onExpire: () => resolve() },
      });
    });
    await expired;
    assert.deepEqual(answered, ['9', 504, { message: 'late' }]);
    assert.throws(() => takePendingRequest('9@T'), isCode('request-expired'));
    assert.equal(pendingCount('T'), 0);
  });

  it('unknown and missing ids', () => {
    assert.throws(() => takePendingRequest('nope@X'), isCode('unknown-request-id'));
    assert.throws(() => takePendingRequest(undefined), isCode('invalid-request-id'));
    assert.throws(() => takePendingRequest(12), isCode('invalid-request-id'));
  });
});

describe('nodes: bounded send queue', () => {
  it('releases waiters in order', async () => {
    const queue = new SendQueue({ count: 3, bytes: Infinity, timeoutMs: 10_000 });
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => queue.wait().then(() => void order.push(n)));
    assert.equal(queue.size, 3);
    await assert.rejects(queue.wait(), isCode('queue-full'));
    queue.release();
    await Promise.all(waits);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(queue.size, 0);
  });

  it('a waiter times out, a size-0 queue refuses at once, rejectAll fails the rest', async () => {
    const queue = new SendQueue({ count: 2, bytes: Infinity, timeoutMs: 5 });
    await assert.rejects(queue.wait(), isCode('operation-timeout'));
    await assert.rejects(new SendQueue({ count: 0, bytes: Infinity, timeoutMs: 1000 }).wait(), isCode('queue-full'));
    const long = new SendQueue({ count: 2, bytes: Infinity, timeoutMs: 10_000 });
    const pending = long.wait();
    long.rejectAll(new NodeError('closing'));
    await assert.rejects(pending, isCode('closing'));
  });

  it('counts bytes: a wait that would pass the byte bound is refused, a timed-out or released wait gives its bytes back', async () => {
    const queue = new SendQueue({ count: 10, bytes: 100, timeoutMs: 10_000 });
    const first = queue.wait(60);
    await assert.rejects(queue.wait(41), isCode('queue-full'));
    const second = queue.wait(40);
    assert.equal(queue.bytes, 100);
    queue.release();
    await Promise.all([first, second]);
    assert.equal(queue.bytes, 0);
    const short = new SendQueue({ count: 10, bytes: 100, timeoutMs: 5 });
    await assert.rejects(short.wait(100), isCode('operation-timeout'));
    assert.equal(short.bytes, 0);
    const fits = short.wait(100);
    short.release();
    await fits;
  });

  it('measures a message by its payload and property bytes (UTF-8)', () => {
    const message = new Message('ação', { messageId: 'm1' });
    message.customProperties = { 'é': 'x/$' };
    assert.equal(messageBytes(message), 6 + 2 + 2 + 3);
    assert.equal(messageBytes(new Message(Buffer.alloc(10))), 10);
  });
});

describe('nodes: error text by code', () => {
  it('uses catalog text, never the library message, and appends the codes', () => {
    const err = describeError(RED, new ClientError('HTTP 404 from edgeHub: secret details', { code: 'device-not-online', statusCode: 404, errorCode: 404103 }));
    assert.equal(err.message, 'The target device or module is not connected (device-not-online, 404103)');
    assert.equal(err.code, 'device-not-online');
    assert.equal(err.errorCode, 404103);
    assert.equal(err.statusCode, 404);
  });

  it('the service\'s own explanation follows the catalog text; the text is the whole message (no "Error: " prefix)', () => {
    const err = describeError(RED, new ClientError('Bad request', { code: 'bad-request', statusCode: 400, errorCode: 400004, serviceMessage: 'responseTimeoutInSeconds must be between 5 and 300' }));
    assert.equal(err.message, 'The hub rejected the request as invalid (bad-request, 400004): responseTimeoutInSeconds must be between 5 and 300');
    assert.equal(String(err), err.message);
  });

  it('a value JSON cannot encode says why, about its field', () => {
    const err = describeError(RED, new NodeError('invalid-payload', 'msg.payload', undefined, 'bigint'));
    assert.equal(err.message, 'msg.payload cannot be sent (invalid-payload): msg.payload holds a BigInt, which JSON cannot encode');
  });

  it('a node error code is a node or library code: a misspelt one does not compile (npm test type-checks the tests)', () => {
    // @ts-expect-error 'invalid-payloda' is no error code
    const typo = new NodeError('invalid-payloda');
    assert.equal(typo.code, 'invalid-payloda');
    assert.equal(new NodeError('operation-timeout').code, 'operation-timeout');
  });

  it('timeouts, node errors with detail, and unknown failures', () => {
    assert.equal(describeError(RED, new OperationTimeout('x')).message, 'The operation timed out (operation-timeout)');
    assert.equal(describeError(RED, new NodeError('invalid-properties', 'msg.properties.a')).message, 'msg.properties must be an object of string, number or boolean values (invalid-properties): msg.properties.a');
    const unknown = describeError(RED, new TypeError('boom'));
    assert.equal(unknown.code, 'unknown-error');
    assert.equal(unknown.message, 'Unexpected error (unknown-error): boom');
    assert.equal(describeError(RED, 'text').code, 'unknown-error');
  });

  it('translate prefers the runtime catalog and interpolates the fallback', () => {
    const runtime = { _: (key: string) => (key.endsWith('status.queued') ? 'na fila' : key) } as unknown as RedApi;
    assert.equal(translate(runtime, 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.status.queued', { count: 2 }), 'na fila');
    assert.equal(translate(RED, 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.status.queued', { count: 2 }), 'queued (2)');
    assert.equal(translate(RED, 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.nope'), 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.nope');
    assert.equal(interpolate('a __x__ b __y__', { x: 1 }), 'a 1 b __y__');
  });
});

describe('nodes: settings and msg fields', () => {
  const settings: Array<[unknown, 'positive' | 'count', number]> = [
    ['', 'positive', 7],
    [undefined, 'positive', 7],
    [null, 'count', 7],
    ['2.5', 'positive', 2.5],
    ['0', 'positive', 7],
    ['-1', 'positive', 7],
    ['soon', 'positive', 7],
    ['0', 'count', 0],
    ['3', 'count', 3],
    ['2.5', 'count', 7],
    ['-1', 'count', 7],
    [12, 'count', 12],
  ];
  for (const [value, kind, expected] of settings) {
    it(`numberSetting(${JSON.stringify(value)}, 7, ${kind}) = ${expected}`, () => {
      assert.equal(numberSetting(value, 7, kind), expected);
    });
  }

  it('target ids: required, optional, strings only', () => {
    assert.equal(targetId('edge-1', 'deviceId', true), 'edge-1');
    assert.equal(targetId('', 'moduleId', false), undefined);
    assert.throws(() => targetId('', 'deviceId', true), (err: unknown) => isCode('invalid-target')(err) && (err as NodeError).detail === 'deviceId');
    assert.throws(() => targetId(42, 'moduleId', false), isCode('invalid-target'));
  });

  it('method timeouts follow the option table (connect 0–300 s, response 5–300 s), blank gives its default', () => {
    assert.equal(timeoutSeconds(undefined, 'responseTimeoutInSeconds', 't'), 30);
    assert.equal(timeoutSeconds('', 'responseTimeoutInSeconds', 't'), 30);
    assert.equal(timeoutSeconds('', 'connectTimeoutInSeconds', 't'), 0);
    assert.equal(timeoutSeconds('0', 'connectTimeoutInSeconds', 't'), 0);
    assert.equal(timeoutSeconds(' 5 ', 'responseTimeoutInSeconds', 't'), 5);
    assert.equal(timeoutSeconds(300, 'responseTimeoutInSeconds', 't'), 300);
    // IoT Hub answers a response timeout below 5 s with 400004: the node refuses it before calling.
    for (const bad of [0, 4, '0', 301, -1, 1.5, 'soon', '1e2', true]) {
      assert.throws(() => timeoutSeconds(bad, 'responseTimeoutInSeconds', 't'), isCode('invalid-timeout'), String(bad));
    }
    for (const bad of [301, -1, 1.5]) assert.throws(() => timeoutSeconds(bad, 'connectTimeoutInSeconds', 't'), isCode('invalid-timeout'), String(bad));
  });

  it('status codes: msg first, then the node, then 200', () => {
    assert.equal(statusCodeOf(undefined, ''), 200);
    assert.equal(statusCodeOf(undefined, '201'), 201);
    assert.equal(statusCodeOf(404, '201'), 404);
    assert.equal(statusCodeOf('503', undefined), 503);
    for (const bad of ['two hundred', 1000, -1, 2.5, ' ']) assert.throws(() => statusCodeOf(bad, ''), isCode('invalid-status-code'), String(bad));
  });

  it('output names: msg first, trimmed; a non-string msg.outputName is an error', () => {
    assert.equal(outputNameOf(undefined, ' telemetry '), 'telemetry');
    assert.equal(outputNameOf('alerts', 'telemetry'), 'alerts');
    assert.equal(outputNameOf('', 'telemetry'), '');
    assert.throws(() => outputNameOf(42, ''), isCode('invalid-output-name'));
  });

  it('twin action: explicit get / report, else by payload', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ action: 'get', payload: { a: 1 } }, 'get'],
      [{ action: 'report', payload: [1] }, 'report'],
      [{}, 'get'],
      [{ payload: '' }, 'get'],
      [{ payload: null }, 'get'],
      [{ payload: Buffer.alloc(0) }, 'get'],
      [{ payload: { a: [1, null] } }, 'report'],
    ];
    for (const [msg, expected] of cases) assert.equal(twinAction(msg), expected, JSON.stringify(msg));
    assert.throws(() => twinAction({ action: 'delete' }), isCode('invalid-action'));
    for (const payload of ['text', 5, [1, 2], Buffer.from('x')]) assert.throws(() => twinAction({ payload }), isCode('invalid-twin-patch'), String(payload));
    assert.equal(isPlainObject({}), true);
    assert.equal(isPlainObject(Buffer.from('x')), false);
  });
});

describe('nodes: SAS tokens from the flow', () => {
  const token = (sr: string): string => `SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=abc%2B%2F%3D&se=1999999999`;
  const cases: Array<[string, string, { deviceId: string; moduleId: string } | undefined]> = [
    ['a local-hub module', token('local-hub.azure-devices.net/devices/local-device/modules/ex-token'), { deviceId: 'local-device', moduleId: 'ex-token' }],
    ['host name in capitals', token('LOCAL-HUB.azure-devices.net/devices/d/modules/m'), { deviceId: 'd', moduleId: 'm' }],
    ['ids with space, $, +, %, &, #, non-ASCII', token('local-hub.azure-devices.net/devices/d 1$+/modules/m%&#ção'), { deviceId: 'd 1$+', moduleId: 'm%&#ção' }],
    ['a / inside an id', token('local-hub.azure-devices.net/devices/d/x/modules/m'), undefined],
    ['another hub', token('real.azure-devices.net/devices/d/modules/m'), undefined],
    ['a device token', token('local-hub.azure-devices.net/devices/d'), undefined],
    ['skn before sr', `SharedAccessSignature skn=x&sr=${encodeURIComponent('local-hub.azure-devices.net/devices/d/modules/m')}&sig=a&se=1`, { deviceId: 'd', moduleId: 'm' }],
    ['no token', 'hello', undefined],
    ['bad escape', 'SharedAccessSignature sr=%E0%A4%A&sig=a&se=1', undefined],
  ];
  for (const [name, text, expected] of cases) {
    it(`localHubModuleOf: ${name}`, () => assert.deepEqual(localHubModuleOf(text), expected));
  }

  it('takeSastoken removes msg.sastoken whatever it holds, and refuses a non-string or empty one', () => {
    const msg: Record<string, unknown> = { action: 'update-sastoken', sastoken: ' SharedAccessSignature sr=a&sig=b&se=1 ' };
    assert.equal(takeSastoken(msg), 'SharedAccessSignature sr=a&sig=b&se=1');
    assert.equal('sastoken' in msg, false);
    for (const bad of [undefined, '', '  ', 42, { t: 'x' }]) {
      const m: Record<string, unknown> = { sastoken: bad };
      assert.throws(() => takeSastoken(m), isCode('invalid-sastoken'));
      assert.equal('sastoken' in m, false);
    }
  });
});

describe('showStatus', () => {
  it('passes a status on only when it differs from the one shown (no event per message)', () => {
    const shown: unknown[] = [];
    const node = { status: (s: unknown) => shown.push(s) };
    const connected = { fill: 'green', shape: 'dot', text: 'node-red:common.status.connected' } as const;
    const sending = { fill: 'blue', shape: 'dot', text: 'sending' } as const;
    showStatus(node, connected);
    showStatus(node, { ...connected });
    showStatus(node, sending);
    showStatus(node, connected);
    showStatus(node, connected);
    assert.deepEqual(shown, [connected, sending, connected]);
  });
});

// The nodes' settings and msg fields: numbers, target ids, timeouts, status codes, output names, twin action, SAS
// token.
import assert from 'node:assert/strict';
import { NodeError } from '../../../nodes/shared/errors';
import {
  isPlainObject,
  numberSetting,
  outputNameOf,
  statusCodeOf,
  takeSastoken,
  targetId,
  timeoutSeconds,
  twinAction,
} from '../../../nodes/shared/fields';

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

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
    assert.throws(
      () => targetId('', 'deviceId', true),
      (err: unknown) => isCode('invalid-target')(err) && (err as NodeError).detail === 'deviceId',
    );
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
    for (const bad of [301, -1, 1.5])
      assert.throws(() => timeoutSeconds(bad, 'connectTimeoutInSeconds', 't'), isCode('invalid-timeout'), String(bad));
  });

  it('status codes: msg first, then the node, then 200', () => {
    assert.equal(statusCodeOf(undefined, ''), 200);
    assert.equal(statusCodeOf(undefined, '201'), 201);
    assert.equal(statusCodeOf(404, '201'), 404);
    assert.equal(statusCodeOf('503', undefined), 503);
    for (const bad of ['two hundred', 1000, -1, 2.5, ' '])
      assert.throws(() => statusCodeOf(bad, ''), isCode('invalid-status-code'), String(bad));
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
    for (const payload of ['text', 5, [1, 2], Buffer.from('x')])
      assert.throws(() => twinAction({ payload }), isCode('invalid-twin-patch'), String(payload));
    assert.equal(isPlainObject({}), true);
    assert.equal(isPlainObject(Buffer.from('x')), false);
  });
});

describe('nodes: SAS token from the flow', () => {
  it('takeSastoken removes msg.sastoken whatever it holds, and refuses a non-string or empty one', () => {
    const msg: Record<string, unknown> = {
      action: 'update-sastoken',
      sastoken: ' SharedAccessSignature sr=a&sig=b&se=1 ',
    };
    assert.equal(takeSastoken(msg), 'SharedAccessSignature sr=a&sig=b&se=1');
    assert.equal('sastoken' in msg, false);
    for (const bad of [undefined, '', '  ', 42, { t: 'x' }]) {
      const m: Record<string, unknown> = { sastoken: bad };
      assert.throws(() => takeSastoken(m), isCode('invalid-sastoken'));
      assert.equal('sastoken' in m, false);
    }
  });
});

// The local hub's one table of IoT Hub errors (src/hub/hubErrors.ts): names, statuses, codes, and HubError.from.
import assert from 'node:assert/strict';
import { HUB_ERRORS, HubError, identityNotFound, type HubErrorName } from '../../src/hub/hubErrors';

describe('hub errors', () => {
  const table: Array<[HubErrorName, number, number]> = [
    ['ArgumentInvalid', 400, 400004],
    ['IotHubUnauthorizedAccess', 401, 401002],
    ['DeviceNotFound', 404, 404001],
    ['ModuleNotFound', 404, 404010],
    ['DeviceNotOnline', 404, 404103],
    ['PreconditionFailed', 412, 412002],
    ['MessageTooLarge', 413, 413002],
    ['ThrottlingException', 429, 429001],
    ['ServerError', 500, 500001],
    ['ServiceUnavailable', 503, 503000],
    ['GatewayTimeout', 504, 504101],
  ];
  for (const [name, status, code] of table) {
    it(`${name} is HTTP ${status} with IoT Hub code ${code}`, () => {
      const err = new HubError(name, 'text');
      assert.deepEqual(
        [err.errorName, err.httpStatus, err.errorCode, err.message, err.name],
        [name, status, code, 'text', 'HubError'],
      );
    });
  }

  it('every numeric code names one error', () => {
    const codes = Object.values(HUB_ERRORS).map(([, code]) => code);
    assert.equal(new Set(codes).size, codes.length);
  });

  it('identityNotFound names the device (404001) or the module (404010)', () => {
    assert.deepEqual(
      [identityNotFound('d').errorName, identityNotFound('d', 'm').errorName],
      ['DeviceNotFound', 'ModuleNotFound'],
    );
  });

  const from: Array<[string, unknown, HubErrorName, string]> = [
    [
      'a HubErrorShape with a known code',
      Object.assign(new Error('offline'), { httpStatus: 404, errorCode: 404103 }),
      'DeviceNotOnline',
      'offline',
    ],
    [
      'a HubErrorShape with an unknown code',
      Object.assign(new Error('odd'), { httpStatus: 418, errorCode: 418000 }),
      'ServerError',
      'odd',
    ],
    ['a plain Error', new Error('boom'), 'ServerError', 'boom'],
    ['a string', 'text', 'ServerError', 'text'],
    ['null', null, 'ServerError', 'null'],
  ];
  for (const [what, err, name, message] of from) {
    it(`HubError.from(${what}) is ${name}`, () => {
      const e = HubError.from(err);
      assert.deepEqual([e.errorName, e.message], [name, message]);
    });
  }

  it('HubError.from keeps a HubError as it is', () => {
    const err = new HubError('PreconditionFailed', 'etag');
    assert.equal(HubError.from(err), err);
  });
});

// The one error table: CONNACK codes, socket and TLS codes, service statuses and IoT Hub error codes.
import assert from 'node:assert/strict';
import {
  errorFromConnack,
  errorFromServiceBody,
  errorFromStatus,
  mapTransportError,
  parseServiceMessage,
} from '../../src/client/errorMapping';
import {
  ClientError,
  ConnectionDroppedError,
  ConnectionFailedError,
  CredentialError,
  OperationCancelled,
  OperationTimeout,
} from '../../src/client/errors';

type Cls = abstract new (...a: never[]) => Error;

describe('errorMapping', () => {
  const connack: Array<[number, Cls, string]> = [
    [1, ClientError, 'protocol-error'],
    [2, ClientError, 'protocol-error'],
    [3, ConnectionFailedError, 'connection-failed'],
    [4, CredentialError, 'credential-error'],
    [5, CredentialError, 'credential-error'],
    [6, ClientError, 'protocol-error'],
  ];
  for (const [rc, cls, code] of connack) {
    it(`CONNACK ${rc} → ${cls.name} ${code}`, () => {
      const cause = Object.assign(new Error('refused'), { code: rc });
      for (const e of [errorFromConnack(rc, cause), mapTransportError(cause, true)] as ClientError[]) {
        assert.equal(e.constructor, cls);
        assert.equal(e.code, code);
        assert.equal(e.cause, cause);
      }
    });
  }

  it('a numeric mqtt.js code on a live connection is a protocol violation, not a CONNACK refusal', () => {
    const cause = Object.assign(new Error('Protocol error'), { code: 130 });
    const e = mapTransportError(cause) as ClientError;
    assert.equal(e.constructor, ClientError);
    assert.equal(e.code, 'protocol-error');
    assert.equal(e.message, 'MQTT protocol error (reason code 130)');
    assert.equal(e.cause, cause);
  });

  const socket: Array<[string, boolean, Cls, string]> = [
    ['ECONNREFUSED', false, ConnectionFailedError, 'connection-failed'],
    ['ENOTFOUND', false, ConnectionFailedError, 'connection-failed'],
    ['EAI_AGAIN', false, ConnectionFailedError, 'connection-failed'],
    ['ETIMEDOUT', false, ConnectionFailedError, 'connection-failed'],
    ['EHOSTUNREACH', false, ConnectionFailedError, 'connection-failed'],
    ['ECONNRESET', false, ConnectionDroppedError, 'connection-dropped'],
    ['ECONNRESET', true, ConnectionFailedError, 'connection-failed'],
    ['EPIPE', false, ConnectionDroppedError, 'connection-dropped'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', false, ClientError, 'tls-error'],
    ['SELF_SIGNED_CERT_IN_CHAIN', false, ClientError, 'tls-error'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', true, ClientError, 'tls-error'],
    ['CERT_HAS_EXPIRED', false, ClientError, 'tls-error'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', true, ClientError, 'tls-error'],
    ['ERR_SSL_SOMETHING_NEW', true, ClientError, 'tls-error'],
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', true, CredentialError, 'credential-error'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', true, CredentialError, 'credential-error'],
    ['EWHATEVER', false, ClientError, 'client-error'],
    ['EWHATEVER', true, ConnectionFailedError, 'connection-failed'],
  ];
  for (const [code, connecting, cls, expected] of socket) {
    it(`${code}${connecting ? ' while connecting' : ''} → ${cls.name} ${expected}`, () => {
      const raw = Object.assign(new Error('x'), { code });
      const e = mapTransportError(raw, connecting) as ClientError;
      assert.equal(e.constructor, cls);
      assert.equal(e.code, expected);
      assert.equal(e.cause, raw);
    });
  }

  it('errors of this library pass through unchanged', () => {
    for (const e of [new OperationTimeout('t'), new OperationCancelled('c'), new CredentialError('c')])
      assert.equal(mapTransportError(e), e);
  });

  const statuses: Array<[number, number | undefined, string, boolean]> = [
    [400, undefined, 'bad-request', false],
    [401, undefined, 'unauthorized', false],
    [404, undefined, 'not-found', false],
    [404, 404103, 'device-not-online', true],
    [412, 412002, 'service-error', false],
    [429, undefined, 'throttled', true],
    [500, undefined, 'service-error', true],
    [503, undefined, 'service-error', true],
    [504, 504101, 'gateway-timeout', true],
    [418, undefined, 'service-error', false],
  ];
  for (const [status, hubCode, code, retryable] of statuses) {
    it(`status ${status}${hubCode ? `/${hubCode}` : ''} → ClientError ${code}`, () => {
      const e = errorFromStatus(status, hubCode);
      assert.equal(e.constructor, ClientError);
      assert.equal(e.code, code);
      assert.equal(e.retryable, retryable);
      assert.equal(e.statusCode, status);
      assert.equal(e.errorCode, hubCode);
    });
  }
});

describe("parseServiceMessage: the service's own explanation in an error body", () => {
  const bodies: Array<[string, string, string | undefined]> = [
    [
      'legacy registry / twin shape',
      '{"Message":"ErrorCode:ArgumentInvalid;responseTimeoutInSeconds must be between 5 and 300","ExceptionMessage":"Tracking ID:x"}',
      'responseTimeoutInSeconds must be between 5 and 300',
    ],
    [
      'JSON inside Message (direct methods)',
      JSON.stringify({
        Message: JSON.stringify({
          errorCode: 404103,
          trackingId: 't',
          message: 'Timed out waiting for device to connect.',
          info: {},
        }),
        ExceptionMessage: '',
      }),
      'Timed out waiting for device to connect.',
    ],
    ['plain message, odd characters', '{"message":"bad $ / + % & # é value"}', 'bad $ / + % & # é value'],
    ['error code only', '{"Message":"ErrorCode:DeviceNotFound;"}', undefined],
    ['no message', '{"errorCode":400004}', undefined],
    ['not JSON', 'Bad Request', undefined],
    ['empty', '', undefined],
  ];
  for (const [what, body, expected] of bodies) {
    it(`${what} → ${JSON.stringify(expected)}`, () => {
      assert.equal(parseServiceMessage(body), expected);
    });
  }
  it('a twin or HTTP refusal carries it, with the IoT Hub code', () => {
    const err = errorFromServiceBody(400, '{"Message":"ErrorCode:ArgumentInvalid;bad patch","ExceptionMessage":""}');
    assert.deepEqual(
      [err.code, err.statusCode, err.errorCode, err.serviceMessage],
      ['bad-request', 400, 400004, 'bad patch'],
    );
  });
});

// Node errors: catalog text chosen by code (never the library's message), with the service's explanation.
import assert from 'node:assert/strict';
import { ClientError, OperationTimeout } from '../../../src/index';
import { describeError, NodeError } from '../../../nodes/shared/errors';
import type { RedApi } from '../../../nodes/shared/red';

/** A RED whose `_` resolves nothing (like node-red-node-test-helper's). */
const RED = { _: (key: string) => key } as unknown as RedApi;

describe('nodes: error text by code', () => {
  it('uses catalog text, never the library message, and appends the codes', () => {
    const err = describeError(
      RED,
      new ClientError('HTTP 404 from edgeHub: secret details', {
        code: 'device-not-online',
        statusCode: 404,
        errorCode: 404103,
      }),
    );
    assert.equal(err.message, 'The target device or module is not connected (device-not-online, 404103)');
    assert.equal(err.code, 'device-not-online');
    assert.equal(err.errorCode, 404103);
    assert.equal(err.statusCode, 404);
  });

  it('the service\'s own explanation follows the catalog text; the text is the whole message (no "Error: " prefix)', () => {
    const err = describeError(
      RED,
      new ClientError('Bad request', {
        code: 'bad-request',
        statusCode: 400,
        errorCode: 400004,
        serviceMessage: 'responseTimeoutInSeconds must be between 5 and 300',
      }),
    );
    assert.equal(
      err.message,
      'The hub rejected the request as invalid (bad-request, 400004): ' +
        'responseTimeoutInSeconds must be between 5 and 300',
    );
    assert.equal(String(err), err.message);
  });

  it('a value JSON cannot encode says why, about its field', () => {
    const err = describeError(RED, new NodeError('invalid-payload', 'msg.payload', undefined, 'bigint'));
    assert.equal(
      err.message,
      'msg.payload cannot be sent (invalid-payload): msg.payload holds a BigInt, which JSON cannot encode',
    );
  });

  it('a node error code is a node or library code: a misspelt one does not compile (npm test type-checks the tests)', () => {
    // @ts-expect-error 'invalid-payloda' is no error code
    const typo = new NodeError('invalid-payloda');
    assert.equal(typo.code, 'invalid-payloda');
    assert.equal(new NodeError('operation-timeout').code, 'operation-timeout');
  });

  it('timeouts, node errors with detail, and unknown failures', () => {
    assert.equal(describeError(RED, new OperationTimeout('x')).message, 'The operation timed out (operation-timeout)');
    assert.equal(
      describeError(RED, new NodeError('invalid-properties', 'msg.properties.a')).message,
      'msg.properties must be an object of string, number or boolean values (invalid-properties): msg.properties.a',
    );
    const unknown = describeError(RED, new TypeError('boom'));
    assert.equal(unknown.code, 'unknown-error');
    assert.equal(unknown.message, 'Unexpected error (unknown-error): boom');
    assert.equal(describeError(RED, 'text').code, 'unknown-error');
  });
});

// MethodResponseLedger: a direct method request is answered once per request id.
import assert from 'node:assert/strict';
import { MethodResponseLedger } from '../../src/client/MethodResponseLedger';
import { ClientError } from '../../src/client/errors';

describe('MethodResponseLedger', () => {
  it('answers a request id once; an unknown id or a second answer is a ClientError; a failed send may be retried', () => {
    const ledger = new MethodResponseLedger();
    const code = (fn: () => void): string | undefined => {
      try {
        fn();
        return undefined;
      } catch (err) {
        return (err as ClientError).code;
      }
    };
    assert.equal(
      code(() => ledger.begin('1')),
      'unknown-request-id',
    );
    ledger.received('1');
    ledger.begin('1');
    assert.equal(
      code(() => ledger.begin('1')),
      'already-responded',
      'while the first answer is being sent',
    );
    ledger.end('1', false);
    ledger.begin('1');
    ledger.end('1', true);
    assert.equal(
      code(() => ledger.begin('1')),
      'already-responded',
    );
  });

  it('forgets the oldest ids beyond 10,000', () => {
    const ledger = new MethodResponseLedger();
    for (let i = 0; i <= 10_000; i += 1) ledger.received(String(i));
    assert.throws(
      () => ledger.begin('0'),
      (e: unknown) => e instanceof ClientError && e.code === 'unknown-request-id',
    );
    ledger.begin('10000');
  });
});

// The runtime's table of direct method requests awaiting an answer: ids per config node and hub connection, answered
// once, automatic answer, expiry.
import assert from 'node:assert/strict';
import {
  addPendingRequest,
  dropRequestsOf,
  flowRequestId,
  pendingCount,
  takePendingRequest,
} from '../../../nodes/shared/methodRegistry';

const isCode = (code: string) => (err: unknown) => (err as { code?: string }).code === code;

describe('nodes: method request table', () => {
  it('qualifies the hub id with the owner and answers once', async () => {
    const answers: Array<[string, number, unknown]> = [];
    const id = addPendingRequest({
      ownerId: 'cfgA',
      connection: 'c1',
      hubRequestId: '1',
      methodName: 'm',
      respond: async (rid, s, p) => void answers.push([rid, s, p]),
    });
    assert.equal(id, flowRequestId('cfgA', 'c1', '1'));
    assert.equal(id, '1@cfgA/c1');
    const taken = takePendingRequest(id);
    await taken.respond(200, { ok: 1 });
    assert.deepEqual(answers, [['1', 200, { ok: 1 }]]);
    assert.throws(() => takePendingRequest(id), isCode('already-responded'));
  });

  it('two owners with the same hub id do not collide', () => {
    const a = addPendingRequest({
      ownerId: 'A',
      connection: 'c1',
      hubRequestId: '7',
      methodName: 'm',
      respond: async () => undefined,
    });
    const b = addPendingRequest({
      ownerId: 'B',
      connection: 'c1',
      hubRequestId: '7',
      methodName: 'm',
      respond: async () => undefined,
    });
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
        connection: 'c1',
        hubRequestId: '9',
        methodName: 'slow',
        respond: async (rid, s, p) => void (answered = [rid, s, p]),
        autoAnswer: { afterMs: 5, status: 504, payload: { message: 'late' }, onExpire: () => resolve() },
      });
    });
    await expired;
    assert.deepEqual(answered, ['9', 504, { message: 'late' }]);
    assert.throws(() => takePendingRequest('9@T/c1'), isCode('request-expired'));
    assert.equal(pendingCount('T'), 0);
  });

  it('unknown and missing ids', () => {
    assert.throws(() => takePendingRequest('nope@X'), isCode('unknown-request-id'));
    assert.throws(() => takePendingRequest(undefined), isCode('invalid-request-id'));
    assert.throws(() => takePendingRequest(12), isCode('invalid-request-id'));
  });
});

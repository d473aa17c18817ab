// Node status: a status is passed on only when it changes.
import assert from 'node:assert/strict';
import { showStatus } from '../../../nodes/shared/status';

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

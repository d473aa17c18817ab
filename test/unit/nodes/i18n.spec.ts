// Catalog text in the runtime: the runtime's catalog first, else the built-in English text with its placeholders
// filled.
import assert from 'node:assert/strict';
import { interpolate, translate } from '../../../nodes/shared/i18n';
import type { RedApi } from '../../../nodes/shared/red';

/** A RED whose `_` resolves nothing (like node-red-node-test-helper's). */
const RED = { _: (key: string) => key } as unknown as RedApi;

describe('nodes: catalog text', () => {
  it('translate prefers the runtime catalog and interpolates the fallback', () => {
    const runtime = { _: (key: string) => (key.endsWith('status.queued') ? 'na fila' : key) } as unknown as RedApi;
    assert.equal(
      translate(runtime, 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.status.queued', {
        count: 2,
      }),
      'na fila',
    );
    assert.equal(
      translate(RED, 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.status.queued', {
        count: 2,
      }),
      'queued (2)',
    );
    assert.equal(
      translate(RED, 'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.nope'),
      'node-red-contrib-azure-iot-module/iothub-module-client:iothub-module-client.nope',
    );
    assert.equal(interpolate('a __x__ b __y__', { x: 1 }), 'a 1 b __y__');
  });
});

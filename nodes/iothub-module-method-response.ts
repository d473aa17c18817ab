// Flow node `iothub-module-method-response`: answers msg.requestId with msg.payload and msg.statusCode through
// the config node that received the request.
import { NodeError } from './shared/errors';
import { handleInput } from './shared/input';
import { methodPayload } from './shared/messages';
import { takePendingRequest } from './shared/methodRegistry';
import type { BaseNodeDef, NodeMessage, RedApi, RedNode } from './shared/red';

interface MethodResponseNodeDef extends BaseNodeDef {
  statusCode?: string | number;
}

function statusOf(msg: NodeMessage, configured: unknown): number {
  const value = msg.statusCode ?? (configured === '' || configured === undefined ? 200 : configured);
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 999) throw new NodeError('invalid-status-code', String(value));
  return n;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleMethodResponseNode(this: RedNode, def: MethodResponseNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    handleInput(RED, node, { idle: () => ({}) }, async (msg) => {
      const status = statusOf(msg, def.statusCode);
      const request = takePendingRequest(msg.requestId);
      await request.respond(status, methodPayload(msg.payload));
    });
  }

  RED.nodes.registerType('iothub-module-method-response', IoTHubModuleMethodResponseNode);
};

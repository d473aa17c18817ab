// Flow node `iothub-module-method-response`: answers msg.requestId with msg.payload and msg.statusCode through
// the config node that received the request.
import { statusCodeOf } from './shared/fields';
import { handleInput } from './shared/input';
import { methodPayload } from './shared/messages';
import { takePendingRequest } from './shared/methodRegistry';
import type { BaseNodeDef, RedApi, RedNode } from './shared/red';

interface MethodResponseNodeDef extends BaseNodeDef {
  statusCode?: string | number;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleMethodResponseNode(this: RedNode, def: MethodResponseNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    handleInput(RED, node, { idle: () => ({}) }, async (msg) => {
      // Everything the flow got wrong is refused before the request is touched: it stays answerable.
      const status = statusCodeOf(msg.statusCode, def.statusCode);
      const payload = methodPayload(msg.payload);
      const request = takePendingRequest(msg.requestId);
      await request.respond(status, payload);
    });
  }

  RED.nodes.registerType('iothub-module-method-response', IoTHubModuleMethodResponseNode);
};

// Flow node `iothub-module-method-response`: answers msg.requestId with msg.payload and msg.statusCode through
// the config node that received the request; an answer that cannot be sent answers 500 with the reason at once.
import { describeError } from './shared/errors';
import { statusCodeOf } from './shared/fields';
import { handleInput } from './shared/input';
import { methodPayload } from './shared/messages';
import { answerPendingRequest } from './shared/methodRegistry';
import type { BaseNodeDef, RedApi, RedNode } from './shared/red';

interface MethodResponseNodeDef extends BaseNodeDef {
  statusCode?: string | number;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleMethodResponseNode(this: RedNode, def: MethodResponseNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    handleInput(RED, node, { idle: () => ({}) }, (msg) =>
      answerPendingRequest(
        msg.requestId,
        () => ({ status: statusCodeOf(msg.statusCode, def.statusCode), payload: methodPayload(msg.payload) }),
        (err) => {
          const { code, message } = describeError(RED, err);
          return { code, message };
        },
      ),
    );
  }

  RED.nodes.registerType('iothub-module-method-response', IoTHubModuleMethodResponseNode);
};

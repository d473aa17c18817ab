// Flow node `iothub-module-method-request`: emits direct method requests (one name or all); requests the flow
// leaves unanswered get an automatic reply after a configurable time.
import { bindToClient } from './shared/flowNode';
import { describeError } from './shared/errors';
import { numberSetting } from './shared/fields';
import { catalogKey, translate } from './shared/i18n';
import type { BaseNodeDef, RedApi, RedNode } from './shared/red';

interface MethodRequestNodeDef extends BaseNodeDef {
  client?: string;
  methodName?: string;
  timeout?: string | number;
  timeoutStatus?: string | number;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleMethodRequestNode(this: RedNode, def: MethodRequestNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const binding = bindToClient(RED, node, def.client);
    if (!binding) return;
    const timeoutSeconds = numberSetting(def.timeout, 25, 'positive');
    binding.host.on(node.id, 'method', {
      methodName: (def.methodName ?? '').trim(),
      autoAnswerMs: timeoutSeconds * 1000,
      autoAnswerStatus: Math.trunc(numberSetting(def.timeoutStatus, 504, 'positive')),
      emit: (request, requestId) => {
        node.send({ payload: request.payload, topic: request.name, methodName: request.name, requestId });
      },
      warnExpired: (requestId, err) => {
        if (err) node.warn(describeError(RED, err).message);
        else
          node.warn(
            translate(RED, catalogKey('iothub-module-method-request', 'warnings.auto-answered'), {
              requestId,
              seconds: timeoutSeconds,
            }),
          );
      },
    });
  }

  RED.nodes.registerType('iothub-module-method-request', IoTHubModuleMethodRequestNode);
};

// Flow node `iothub-module-input`: emits each message arriving on one named module input, or on all of them.
import { bindToClient } from './shared/flowNode';
import { describeError } from './shared/errors';
import { catalogKey, translate } from './shared/i18n';
import { messageToMsg } from './shared/messages';
import type { BaseNodeDef, RedApi, RedNode } from './shared/red';

interface InputNodeDef extends BaseNodeDef {
  client?: string;
  inputName?: string;
  raw?: boolean;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleInputNode(this: RedNode, def: InputNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const binding = bindToClient(RED, node, def.client);
    if (!binding) return;
    const inputName = (def.inputName ?? '').trim();
    binding.host.on(node.id, 'message', (message) => {
      if (inputName !== '' && message.inputName !== inputName) return;
      try {
        const { msg, warning } = messageToMsg(message, { raw: def.raw === true });
        if (warning) {
          node.warn(
            translate(RED, catalogKey('iothub-module-input', `warnings.${warning}`), {
              input: message.inputName ?? '',
              contentType: message.contentType ?? '',
              contentEncoding: message.contentEncoding ?? '',
            }),
          );
        }
        node.send(msg);
      } catch (err) {
        node.error(describeError(RED, err));
      }
    });
  }

  RED.nodes.registerType('iothub-module-input', IoTHubModuleInputNode);
};

// Flow node `iothub-module-output`: sends msg.payload to a module output (or upstream), done() after PUBACK;
// msg.action "connect" / "disconnect" controls the shared connection.
import { bindToClient } from './shared/flowNode';
import { NodeError } from './shared/errors';
import { numberSetting, outputNameOf } from './shared/fields';
import { catalogKey, translate } from './shared/i18n';
import { handleInput } from './shared/input';
import { msgToMessage } from './shared/messages';
import type { BaseNodeDef, RedApi, RedNode } from './shared/red';
import { SendQueue } from './shared/SendQueue';
import { STATUS, showStatus, statusWithText } from './shared/status';

interface OutputNodeDef extends BaseNodeDef {
  client?: string;
  outputName?: string;
  queueSize?: string | number;
  queueTimeout?: string | number;
  passThrough?: boolean;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleOutputNode(this: RedNode, def: OutputNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const queue = new SendQueue(numberSetting(def.queueSize, 100, 'count'), numberSetting(def.queueTimeout, 60, 'count') * 1000);
    const binding = bindToClient(RED, node, def.client, () => queue.rejectAll(new NodeError('closing')));
    if (!binding) return;
    const { host } = binding;
    const idle = () => (queue.size > 0 ? statusWithText(STATUS.waiting, translate(RED, catalogKey('iothub-module-client', 'status.queued'), { count: queue.size })) : host.status);
    host.on(node.id, 'state', (_status, connected) => {
      if (connected) queue.release();
      else if (queue.size > 0) showStatus(node, idle());
    });

    handleInput(RED, node, { idle }, async (msg, send) => {
      if (msg.action !== undefined) {
        if (msg.action === 'connect') return host.connect();
        if (msg.action === 'disconnect') return host.disconnect();
        throw new NodeError('invalid-action', String(msg.action));
      }
      const message = msgToMessage(msg);
      const outputName = outputNameOf(msg.outputName, def.outputName ?? '');
      if (!host.connected) {
        host.check();
        const waiting = queue.wait();
        showStatus(node, idle());
        await waiting;
      }
      const client = host.client();
      if (outputName === '') await client.sendMessage(message);
      else await client.sendMessageToOutput(message, outputName);
      if (def.passThrough) send(msg);
    });
  }

  RED.nodes.registerType('iothub-module-output', IoTHubModuleOutputNode);
};

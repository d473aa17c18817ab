// Flow node `iothub-module-output`: sends msg.payload to a module output (or upstream), done() after PUBACK;
// msg.action "connect" / "disconnect" controls the shared connection, "update-sastoken" renews a SAS token connection.
import type { Message } from '../src/index';
import { bindToClient } from './shared/flowNode';
import { NodeError } from './shared/errors';
import { numberSetting, outputNameOf, takeSastoken, valueText } from './shared/fields';
import { catalogKey, translate } from './shared/i18n';
import { handleInput } from './shared/input';
import { messageBytes, msgToMessage } from './shared/messages';
import type { BaseNodeDef, RedApi, RedNode } from './shared/red';
import { QUEUE_DEFAULTS, SendQueue } from './shared/SendQueue';
import { STATUS, showStatus, statusWithText } from './shared/status';

interface OutputNodeDef extends BaseNodeDef {
  client?: string;
  outputName?: string;
  queueSize?: string | number;
  queueMegabytes?: string | number;
  queueTimeout?: string | number;
  passThrough?: boolean;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleOutputNode(this: RedNode, def: OutputNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const queue = new SendQueue({
      count: numberSetting(def.queueSize, QUEUE_DEFAULTS.size, 'count'),
      bytes: Math.floor(numberSetting(def.queueMegabytes, QUEUE_DEFAULTS.megabytes, 'positive') * 1024 * 1024),
      timeoutMs: numberSetting(def.queueTimeout, QUEUE_DEFAULTS.timeoutSeconds, 'count') * 1000,
    });
    const binding = bindToClient(RED, node, def.client, () => queue.rejectAll(new NodeError('closing')));
    if (!binding) return;
    const { host } = binding;
    const idle = () =>
      queue.size > 0
        ? statusWithText(
            STATUS.waiting,
            translate(RED, catalogKey('iothub-module-client', 'status.queued'), { count: queue.size }),
          )
        : host.status;
    host.on(node.id, 'state', (_status, connected) => {
      if (connected) queue.release();
      else if (queue.size > 0) showStatus(node, idle());
    });

    /** Sends once the connection is up again, or fails when the queue is full or its wait times out. */
    async function sendWhenConnected(message: Message, outputName: string): Promise<void> {
      host.check();
      const waiting = queue.wait(messageBytes(message));
      showStatus(node, idle());
      await waiting;
      await sendNow(message, outputName);
    }

    function sendNow(message: Message, outputName: string): Promise<void> {
      const client = host.client();
      return outputName === '' ? client.sendMessage(message) : client.sendMessageToOutput(message, outputName);
    }

    // Not async on purpose: while connected, one message costs one promise (the client's).
    handleInput(RED, node, { idle }, (msg, send) => {
      if (msg.action !== undefined) {
        if (msg.action === 'connect') return host.connect();
        if (msg.action === 'disconnect') return host.disconnect();
        if (msg.action === 'update-sastoken') return host.updateSastoken(takeSastoken(msg));
        throw new NodeError('invalid-action', valueText(msg.action));
      }
      const message = msgToMessage(msg);
      const outputName = outputNameOf(msg.outputName, def.outputName ?? '');
      const sent = host.connected ? sendNow(message, outputName) : sendWhenConnected(message, outputName);
      return def.passThrough ? sent.then(() => send(msg)) : sent;
    });
  }

  RED.nodes.registerType('iothub-module-output', IoTHubModuleOutputNode);
};

// Flow node `iothub-module-invoke`: calls a direct method on another module or device through edgeHub.
import { bindToClient } from './shared/flowNode';
import { targetId, timeoutSeconds } from './shared/fields';
import { handleInput } from './shared/input';
import { methodPayload } from './shared/messages';
import type { BaseNodeDef, NodeMessage, RedApi, RedNode } from './shared/red';
import { STATUS } from './shared/status';

interface InvokeNodeDef extends BaseNodeDef {
  client?: string;
  deviceId?: string;
  deviceIdType?: string;
  moduleId?: string;
  moduleIdType?: string;
  methodName?: string;
  methodNameType?: string;
  connectTimeout?: string | number;
  responseTimeout?: string | number;
}

function evaluate(
  RED: RedApi,
  node: RedNode,
  value: string | undefined,
  type: string | undefined,
  msg: NodeMessage,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value ?? '', type || 'str', node, msg, (err, result) =>
      err ? reject(err) : resolve(result),
    );
  });
}

export = function register(RED: RedApi): void {
  function IoTHubModuleInvokeNode(this: RedNode, def: InvokeNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const binding = bindToClient(RED, node, def.client);
    if (!binding) return;
    const { host } = binding;

    handleInput(RED, node, { busy: STATUS.working, idle: () => host.status }, async (msg, send) => {
      const deviceId = targetId(
        msg.deviceId ?? (await evaluate(RED, node, def.deviceId, def.deviceIdType, msg)),
        'deviceId',
        true,
      )!;
      const moduleId = targetId(
        msg.moduleId ?? (await evaluate(RED, node, def.moduleId, def.moduleIdType, msg)),
        'moduleId',
        false,
      );
      const methodName = targetId(
        msg.methodName ?? (await evaluate(RED, node, def.methodName, def.methodNameType, msg)),
        'methodName',
        true,
      )!;
      const connectTimeoutInSeconds = timeoutSeconds(
        msg.connectTimeout ?? def.connectTimeout,
        'connectTimeoutInSeconds',
        'connectTimeout',
      );
      const responseTimeoutInSeconds = timeoutSeconds(
        msg.responseTimeout ?? def.responseTimeout,
        'responseTimeoutInSeconds',
        'responseTimeout',
      );
      const client = await host.ready();
      const result = await client.invokeMethod(
        { methodName, payload: methodPayload(msg.payload), connectTimeoutInSeconds, responseTimeoutInSeconds },
        deviceId,
        moduleId,
      );
      send({ ...msg, payload: result.payload, statusCode: result.status });
    });
  }

  RED.nodes.registerType('iothub-module-invoke', IoTHubModuleInvokeNode);
};

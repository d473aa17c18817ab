// Flow node `iothub-module-invoke`: calls a direct method on another module or device through edgeHub.
import { bindToClient } from './shared/flowNode';
import { NodeError } from './shared/errors';
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

function evaluate(RED: RedApi, node: RedNode, value: string | undefined, type: string | undefined, msg: NodeMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value ?? '', type || 'str', node, msg, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

function idOf(value: unknown, field: string, required: boolean): string | undefined {
  if (value === undefined || value === null || value === '') {
    if (required) throw new NodeError('invalid-target', field);
    return undefined;
  }
  if (typeof value !== 'string') throw new NodeError('invalid-target', field);
  return value;
}

function secondsOf(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 300) throw new NodeError('invalid-timeout', field);
  return n;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleInvokeNode(this: RedNode, def: InvokeNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const binding = bindToClient(RED, node, def.client);
    if (!binding) return;
    const { host } = binding;

    handleInput(RED, node, { busy: STATUS.working, idle: () => host.status }, async (msg, send) => {
      const deviceId = idOf(msg.deviceId ?? (await evaluate(RED, node, def.deviceId, def.deviceIdType, msg)), 'deviceId', true)!;
      const moduleId = idOf(msg.moduleId ?? (await evaluate(RED, node, def.moduleId, def.moduleIdType, msg)), 'moduleId', false);
      const methodName = idOf(msg.methodName ?? (await evaluate(RED, node, def.methodName, def.methodNameType, msg)), 'methodName', true)!;
      const connectTimeoutInSeconds = secondsOf(msg.connectTimeout ?? def.connectTimeout, 'connectTimeout', 0);
      const responseTimeoutInSeconds = secondsOf(msg.responseTimeout ?? def.responseTimeout, 'responseTimeout', 30);
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

// What every flow node does with its config node: find it, register, follow its status, release on close.
import { NodeError } from './errors';
import { handleInput } from './input';
import type { HostUser, ModuleClientHost } from './ModuleClientHost';
import type { RedApi, RedNode } from './red';
import { STATUS, showStatus } from './status';

/** The `iothub-module-client` config node instance as flow nodes see it. */
export interface ModuleClientNode extends RedNode {
  host: ModuleClientHost;
}

/** A flow node bound to its config node. */
export interface Binding {
  host: ModuleClientHost;
}

/**
 * Registers `node` with the config node `clientId`. Returns undefined (status "not configured", an error
 * logged) when there is none. The node is released, with all its listeners, when it closes.
 */
export function bindToClient(
  RED: RedApi,
  node: RedNode,
  clientId: string | undefined,
  onClose?: () => void,
): Binding | undefined {
  const config = clientId ? (RED.nodes.getNode(clientId) as ModuleClientNode | null) : null;
  if (!config?.host) {
    showStatus(node, STATUS.notConfigured);
    handleInput(RED, node, { idle: () => STATUS.notConfigured }, () => {
      throw new NodeError('not-configured');
    });
    return undefined;
  }
  const host = config.host;
  const user: HostUser = { id: node.id, status: (s) => showStatus(node, s) };
  host.acquire(user);
  node.on('close', (_removed: boolean, done: () => void) => {
    try {
      onClose?.();
    } finally {
      host.release(node.id).then(done, done);
    }
  });
  return { host };
}

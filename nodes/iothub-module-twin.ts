// Flow node `iothub-module-twin`: reads the module twin and patches reported properties on input; emits the twin
// at connect and every desired-property change.
import { bindToClient } from './shared/flowNode';
import { describeError, NodeError } from './shared/errors';
import { isPlainObject, twinAction } from './shared/fields';
import { handleInput } from './shared/input';
import { toJson } from './shared/messages';
import type { BaseNodeDef, NodeMessage, RedApi, RedNode } from './shared/red';
import { STATUS } from './shared/status';

interface TwinNodeDef extends BaseNodeDef {
  client?: string;
}

export = function register(RED: RedApi): void {
  function IoTHubModuleTwinNode(this: RedNode, def: TwinNodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const binding = bindToClient(RED, node, def.client);
    if (!binding) return;
    const { host } = binding;
    let sentInitialTwin = false;

    host.on(node.id, 'desired', (patch, info) => {
      const msg: NodeMessage = { topic: 'desired', payload: patch };
      if (typeof patch.$version === 'number') msg.version = patch.$version;
      if (info.full) msg.full = true;
      node.send(msg);
    });
    const sendInitialTwin = (): void => {
      if (sentInitialTwin) return;
      sentInitialTwin = true;
      host.initialTwin().then(
        (twin) => node.send({ topic: 'twin', payload: twin }),
        (err: unknown) => {
          sentInitialTwin = false;
          node.warn(describeError(RED, err).message);
        },
      );
    };
    host.on(node.id, 'state', (_status, connected) => {
      if (connected) sendInitialTwin();
    });
    if (host.connected) sendInitialTwin();

    handleInput(RED, node, { busy: STATUS.working, idle: () => host.status }, async (msg, send) => {
      if (twinAction(msg) === 'get') {
        const twin = await (await host.ready()).getTwin();
        send({ ...msg, topic: 'twin', payload: twin });
        return;
      }
      const patch = msg.payload;
      if (!isPlainObject(patch)) throw new NodeError('invalid-twin-patch', 'msg.payload');
      // An object JSON cannot encode (circular, a BigInt…) is an object all the same: say what is wrong with it.
      const encoded = toJson(patch);
      if (encoded.json === undefined)
        throw new NodeError('invalid-payload', 'msg.payload', encoded.error, encoded.problem);
      // An oversize patch is refused by the client before anything is sent (message-too-large).
      await (await host.ready()).patchTwinReportedProperties(patch);
    });
  }

  RED.nodes.registerType('iothub-module-twin', IoTHubModuleTwinNode);
};

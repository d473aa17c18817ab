// The one wrapper every flow node's `input` handler goes through: status while working, await, send, and
// done() exactly once — done(err) with catalog text on failure, so Catch nodes see it. Nothing escapes.
import { describeError } from './errors';
import type { DoneFn, NodeMessage, NodeStatus, RedApi, RedNode, SendFn } from './red';
import { showStatus } from './status';

export interface InputOptions {
  /** Status shown while the handler runs (none when omitted: high-rate nodes should not flicker). */
  busy?: NodeStatus;
  /** Status to fall back to afterwards (the connection status). */
  idle: () => NodeStatus;
}

/** The work of one message; may send through `send` and must resolve when the message is fully handled. */
export type InputHandler = (msg: NodeMessage, send: SendFn) => Promise<void> | void;

/** Registers `handler` as the node's input handler, wrapped. */
export function handleInput(RED: RedApi, node: RedNode, options: InputOptions, handler: InputHandler): void {
  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
    let finished = false;
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      try {
        showStatus(node, options.idle());
      } catch {
        // status is cosmetic; never let it break message accounting
      }
      if (err) done(err);
      else done();
    };
    if (options.busy) showStatus(node, options.busy);
    let work: Promise<void>;
    try {
      work = Promise.resolve(handler(msg, send));
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      () => finish(),
      (err: unknown) => finish(describeError(RED, err)),
    );
  });
}

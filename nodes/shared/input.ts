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
  // Hot path (one call per message): no async wrapper and no extra promise; a handler that returns a promise settles
  // it exactly once, one that returns nothing or throws finishes at once.
  node.on('input', (msg: NodeMessage, send: SendFn, done: DoneFn) => {
    if (options.busy) showStatus(node, options.busy);
    let work: Promise<void> | void;
    try {
      work = handler(msg, send);
    } catch (err) {
      finish(RED, node, options, done, describeError(RED, err));
      return;
    }
    if (work === undefined) finish(RED, node, options, done);
    else
      work.then(
        () => finish(RED, node, options, done),
        (err: unknown) => finish(RED, node, options, done, describeError(RED, err)),
      );
  });
}

/** Restores the idle status, then done() or done(err). */
function finish(RED: RedApi, node: RedNode, options: InputOptions, done: DoneFn, err?: Error): void {
  try {
    showStatus(node, options.idle());
  } catch {
    // status is cosmetic; never let it break message accounting
  }
  try {
    if (err) done(err);
    else done();
  } catch (failure) {
    // The runtime counted the completion but could not hand the msg on: Catch and Complete nodes get a deep copy,
    // which fails for a msg nested too deeply to clone. Log it without the msg rather than throw out of a listener.
    node.error(err ?? describeError(RED, failure));
  }
}

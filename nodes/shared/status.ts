// The status vocabulary of every node in the pack, in one place: i18n keys the editor translates.
import { catalogKey } from './i18n';
import type { NodeStatus } from './red';

const client = (key: string): string => catalogKey('iothub-module-client', `status.${key}`);

/** Connection states pushed by the config node to its users. */
export const STATUS = {
  idle: { fill: 'grey', shape: 'ring', text: client('idle') },
  connecting: { fill: 'yellow', shape: 'ring', text: 'node-red:common.status.connecting' },
  connected: { fill: 'green', shape: 'dot', text: 'node-red:common.status.connected' },
  disconnected: { fill: 'red', shape: 'ring', text: 'node-red:common.status.disconnected' },
  error: { fill: 'red', shape: 'dot', text: 'node-red:common.status.error' },
  notConfigured: { fill: 'red', shape: 'ring', text: client('not-configured') },
  sending: { fill: 'blue', shape: 'dot', text: client('sending') },
  working: { fill: 'blue', shape: 'dot', text: client('working') },
  waiting: { fill: 'blue', shape: 'ring', text: client('waiting') },
  /**
   * A user-supplied SAS token expires soon; a flow answers with msg.action "update-sastoken" (a Status node matches the
   * key).
   */
  sastokenNeeded: { fill: 'yellow', shape: 'dot', text: client('sastoken-needed') },
} as const satisfies Record<string, NodeStatus>;

export type StatusName = keyof typeof STATUS;

/** A status with already translated text (for states that carry a detail, e.g. a reason or a count). */
export function statusWithText(base: NodeStatus, text: string): NodeStatus {
  return { ...base, text };
}

/**
 * What each node shows: the status object last passed (compared first: most calls pass the very same object) and its
 * JSON.
 */
const shown = new WeakMap<object, { status: NodeStatus; key: string }>();

/**
 * Sets a node's status only when it differs from what the node shows: every status call is an event sent to each
 * open editor, so restoring the same status after every message would flood them at high message rates.
 */
export function showStatus(node: { status(status: NodeStatus): void }, status: NodeStatus): void {
  const last = shown.get(node);
  if (last?.status === status) return;
  const key = JSON.stringify(status);
  shown.set(node, { status, key });
  if (last?.key === key) return;
  node.status(status);
}

// The small part of Node-RED's runtime API these nodes use, typed (Node-RED ships no TypeScript types).

/** Node status shown under a node in the editor; `text` is an i18n key or already translated text. */
export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

/** A flow message: plain JSON-like data (Node-RED clones it when a wire forks). */
export interface NodeMessage {
  [key: string]: unknown;
  _msgid?: string;
  payload?: unknown;
  topic?: string;
}

export type SendFn = (msg: NodeMessage | Array<NodeMessage | null> | null) => void;
export type DoneFn = (err?: Error) => void;

/** A runtime node instance (the `this` of a node constructor after `createNode`). */
export interface RedNode {
  id: string;
  type: string;
  name?: string;
  z?: string;
  credentials: Record<string, string | undefined>;
  status(status: NodeStatus): void;
  log(msg: unknown): void;
  debug(msg: unknown): void;
  warn(msg: unknown): void;
  error(err: unknown, msg?: NodeMessage): void;
  send(msg: NodeMessage | Array<NodeMessage | null> | null): void;
  on(event: 'input', listener: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', listener: (removed: boolean, done: () => void) => void): void;
}

/** The `RED` object handed to a node module. */
export interface RedApi {
  nodes: {
    createNode(node: object, config: object): void;
    registerType(
      type: string,
      ctor: (this: never, ...args: never[]) => void,
      opts?: { credentials?: Record<string, { type: 'text' | 'password' }> },
    ): void;
    getNode(id: string): unknown;
  };
  util: {
    evaluateNodeProperty(
      value: unknown,
      type: string,
      node: RedNode,
      msg: NodeMessage,
      callback: (err: Error | null, result: unknown) => void,
    ): void;
  };
  _(key: string, substitutions?: Record<string, unknown>): string;
  /** Runtime events (`flows:started` after each deploy); absent in some test doubles. */
  events?: {
    on(event: string, listener: (...args: unknown[]) => void): void;
    removeListener(event: string, listener: (...args: unknown[]) => void): void;
  };
}

/** The properties every node's flow JSON carries. */
export interface BaseNodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
}

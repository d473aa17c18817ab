// Errors at the node edge: node-level failure codes, and catalog text chosen by an error's `code`.
import type { ErrorCode } from '../../src/index';
import { catalogKey, translate } from './i18n';
import type { RedApi } from './red';

/** Failure codes raised by the nodes themselves (the library's codes are `ErrorCode` in src/client/errors.ts). */
export type NodeErrorCode =
  | 'not-configured'
  | 'config-invalid'
  | 'queue-full'
  | 'invalid-payload'
  | 'invalid-properties'
  | 'invalid-field'
  | 'invalid-output-name'
  | 'invalid-action'
  | 'invalid-sastoken'
  | 'sastoken-needed'
  | 'invalid-twin-patch'
  | 'invalid-request-id'
  | 'request-expired'
  | 'invalid-status-code'
  | 'invalid-target'
  | 'invalid-timeout'
  | 'closing'
  | 'identity-in-use'
  | 'unknown-error';

/**
 * Why a value cannot be sent as JSON (each has catalog text `problems.<problem>`): undefined, a function or a Symbol
 * (JSON has no such value), a BigInt, a circular structure, nesting too deep for the encoder, or a `toJSON` that
 * throws.
 */
export type JsonProblem = 'undefined' | 'function' | 'symbol' | 'bigint' | 'circular' | 'too-deep' | 'to-json';

/**
 * An error raised by a node (bad msg, full queue…); `code` selects its catalog text. Its code is a node code or one
 * of the library's, so a misspelt code does not compile and every code has catalog text (a meta test checks both
 * lists).
 */
export class NodeError extends Error {
  readonly code: NodeErrorCode | ErrorCode;
  /** What was wrong, in the flow's terms: the msg field, or the setting and its rule. */
  readonly detail?: string;
  /** For a value JSON cannot encode: why (catalog text `problems.<problem>` about `detail`). */
  readonly problem?: JsonProblem;
  constructor(code: NodeErrorCode | ErrorCode, detail?: string, cause?: unknown, problem?: JsonProblem) {
    super(detail ? `${code}: ${detail}` : code, cause === undefined ? undefined : { cause });
    this.name = 'NodeError';
    this.code = code;
    if (detail !== undefined) this.detail = detail;
    if (problem !== undefined) this.problem = problem;
  }
}

/** What a Catch node sees: catalog text as message, plus the stable code and the service's codes. */
export interface NodeFacingError extends Error {
  code: string;
  statusCode?: number;
  errorCode?: number;
}

/**
 * Node-RED gives a Catch node `err.toString()` as `msg.error.message` and logs the same; a plain Error would put
 * "Error: " before a text that is already a whole sentence for people (and a second one where the runtime adds its
 * own). The text alone is the message.
 */
function asIs(this: Error): string {
  return this.message;
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z0-9-]+$/.test(code) ? code : 'unknown-error';
}

/** The catalog text for an error's code alone (short enough for a node status). */
export function errorText(RED: RedApi, err: unknown): string {
  const key = catalogKey('iothub-module-client', `errors.${codeOf(err)}`);
  const text = translate(RED, key);
  return text === key ? translate(RED, catalogKey('iothub-module-client', 'errors.unknown-error')) : text;
}

/**
 * Turns any failure into an Error whose message is the catalog text for its code (never the library's English
 * log text), with the code and, for hub errors, the HTTP status and IoT Hub error code appended, e.g.
 * `The target is not connected (device-not-online, 404103)`.
 */
export function describeError(RED: RedApi, err: unknown): NodeFacingError {
  const code = codeOf(err);
  const key = (c: string): string => catalogKey('iothub-module-client', `errors.${c}`);
  let text = translate(RED, key(code));
  // An error without a known code (a bug, a TypeError…) keeps its own message after the generic text.
  const known = text !== key(code) && code !== 'unknown-error';
  if (!known) text = translate(RED, key('unknown-error'));
  const source = (err ?? {}) as {
    statusCode?: unknown;
    errorCode?: unknown;
    detail?: unknown;
    problem?: unknown;
    serviceMessage?: unknown;
  };
  const extra: string[] = [code];
  if (typeof source.errorCode === 'number') extra.push(String(source.errorCode));
  else if (typeof source.statusCode === 'number') extra.push(String(source.statusCode));
  let message = `${text} (${extra.join(', ')})`;
  const detail = typeof source.detail === 'string' && source.detail ? source.detail : undefined;
  if (detail && typeof source.problem === 'string') {
    const problem = translate(RED, catalogKey('iothub-module-client', `problems.${source.problem}`), { field: detail });
    message += `: ${problem}`;
  } else if (detail) message += `: ${detail}`;
  // The service's own explanation ("responseTimeoutInSeconds must be between 5 and 300") says more than any catalog.
  else if (typeof source.serviceMessage === 'string' && source.serviceMessage) message += `: ${source.serviceMessage}`;
  else if (!known && err instanceof Error && err.message) message += `: ${err.message}`;
  const out = new Error(message, { cause: err }) as NodeFacingError;
  out.toString = asIs;
  out.code = code;
  if (typeof source.statusCode === 'number') out.statusCode = source.statusCode;
  if (typeof source.errorCode === 'number') out.errorCode = source.errorCode;
  return out;
}

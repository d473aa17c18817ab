// Errors at the node edge: node-level failure codes, and catalog text chosen by an error's `code`.
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
  | 'unknown-error';

/** An error raised by a node (bad msg, full queue…); `code` selects its catalog text. */
export class NodeError extends Error {
  readonly code: NodeErrorCode | string;
  readonly detail?: string;
  constructor(code: NodeErrorCode | string, detail?: string, cause?: unknown) {
    super(detail ? `${code}: ${detail}` : code, cause === undefined ? undefined : { cause });
    this.name = 'NodeError';
    this.code = code;
    if (detail !== undefined) this.detail = detail;
  }
}

/** What a Catch node sees: catalog text as message, plus the stable code and the service's codes. */
export interface NodeFacingError extends Error {
  code: string;
  statusCode?: number;
  errorCode?: number;
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
  const source = (err ?? {}) as { statusCode?: unknown; errorCode?: unknown; detail?: unknown; message?: unknown };
  const extra: string[] = [code];
  if (typeof source.errorCode === 'number') extra.push(String(source.errorCode));
  else if (typeof source.statusCode === 'number') extra.push(String(source.statusCode));
  let message = `${text} (${extra.join(', ')})`;
  if (typeof source.detail === 'string' && source.detail) message += `: ${source.detail}`;
  else if (!known && err instanceof Error && err.message) message += `: ${err.message}`;
  const out = new Error(message, { cause: err }) as NodeFacingError;
  out.code = code;
  if (typeof source.statusCode === 'number') out.statusCode = source.statusCode;
  if (typeof source.errorCode === 'number') out.errorCode = source.errorCode;
  return out;
}

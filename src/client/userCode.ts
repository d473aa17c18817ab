// Calling code the user gave the client (handlers, callbacks, the logger): nothing it throws or rejects may escape
// into the client or into mqtt.js (as in the Python SDK, handler exceptions are caught and logged, never thrown).
import type { Logger } from './types';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string) => void;

/** A log function over an optional logger; a failing logger must not break the client. */
export function safeLog(logger: Logger | undefined): Log {
  return (level, msg) => {
    try {
      logger?.[level]?.(msg);
    } catch {
      // ignored on purpose: see above
    }
  };
}

/** Runs a user callback: a throw, or a rejection of the promise it returns, is logged as an error. */
export function callUser(log: Log, what: string, fn: () => unknown): void {
  try {
    const result = fn();
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (err: unknown) => log('error', `${what} rejected: ${String(err)}`));
    }
  } catch (err) {
    log('error', `${what} threw: ${String(err)}`);
  }
}

// The tests' one polling wait: re-checks a condition as the event loop turns until it holds, or fails when the
// timeout signal fires. Only the condition or the signal ends it; the re-check interval decides nothing.
import { setTimeout as nextCheck } from 'node:timers/promises';

/** How often a condition that depends on other sockets or processes is looked at again. */
const RECHECK_MS = 10;

/**
 * Resolves once `condition` holds (it may be async); rejects, naming `what`, when `timeout` (milliseconds, or a
 * signal the caller owns) runs out first.
 * @throws Error `timed out after … waiting for <what>` (the rejection).
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what = 'condition',
  timeout: number | AbortSignal = 10_000,
): Promise<void> {
  const signal = typeof timeout === 'number' ? AbortSignal.timeout(timeout) : timeout;
  const limit = typeof timeout === 'number' ? `${timeout} ms` : 'the deadline';
  for (;;) {
    if (await condition()) return;
    try {
      await nextCheck(RECHECK_MS, undefined, { signal });
    } catch {
      if (await condition()) return;
      throw new Error(`timed out after ${limit} waiting for ${what}`);
    }
  }
}

// Reconnect back-off (A13): capped exponential growth with jitter; the first retry is almost immediate (seed: 0.01 s).

/**
 * Delay in ms before reconnect attempt `attempt` (0-based). Attempt 0 waits 10 ms; later attempts grow from
 * cap/16 doubling up to the cap (`connectionRetryInterval`), each scaled by a jitter factor in [0.8, 1.2), so a
 * delay never exceeds 1.2 × the cap.
 * @param random injectable for tests; Math.random by default.
 */
export function backoffDelayMs(attempt: number, capSeconds: number, random: () => number = Math.random): number {
  if (attempt <= 0) return 10;
  const cap = capSeconds * 1000;
  const base = Math.min(cap, (cap / 16) * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

// The reconnect policy, in one place: which failures the reconnect loop retries, how long it may wait between
// attempts (the cap), and the capped exponential back-off with jitter below that cap.
import { CredentialError } from './errors';
import { MAX_TIMER_MS } from './clock';

/**
 * How many times `connectionRetryInterval` a refusal (credentials, server certificate, protocol) may wait between
 * attempts when retrying forever: only a change on the far side or in the settings fixes those, so trying every few
 * seconds would only flood the hub and the log.
 */
export const REFUSED_RETRY_FACTOR = 6;

/** What the reconnect loop reads from the options. */
export interface RetryPolicy {
  /** Seconds; the back-off cap for transient failures. */
  connectionRetryInterval: number;
  /** Retry after every failure, refused credentials included (Node-RED), instead of stopping on them (Python SDK). */
  connectionRetryForever: boolean;
}

/**
 * The ONE rule deciding whether, and how patiently, the client retries after a failed (re)connect: the cap of the
 * back-off in seconds, or `undefined` to stop.
 * - Refused credentials (CredentialError: CONNACK 4/5, client certificate rejected) stop the loop, as in the Python
 *   SDK, unless `connectionRetryForever`; then they wait up to {@link REFUSED_RETRY_FACTOR} × the interval.
 * - An untrusted server certificate or failed TLS handshake (`tls-error`) and a protocol refusal (`protocol-error`,
 *   CONNACK 1/2) are retried, as the Python SDK retries TlsExchangeAuthError; when retrying forever they wait as
 *   long as refused credentials do.
 * - Everything else (network, DNS, hub unavailable, timeouts, dropped connections) is retried at the interval.
 */
export function retryCapSeconds(err: unknown, policy: RetryPolicy): number | undefined {
  const slow = policy.connectionRetryInterval * REFUSED_RETRY_FACTOR;
  if (err instanceof CredentialError) return policy.connectionRetryForever ? slow : undefined;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'tls-error' || code === 'protocol-error')
    return policy.connectionRetryForever ? slow : policy.connectionRetryInterval;
  return policy.connectionRetryInterval;
}

/**
 * Delay in ms before reconnect attempt `attempt` (0-based). Attempt 0 waits 10 ms (the Python SDK's 0.01 s); later
 * attempts grow from cap/16 doubling up to the cap, each scaled by a jitter factor in [0.8, 1.2), so a delay never
 * exceeds 1.2 × the cap (nor the longest timer Node takes).
 * @param random injectable for tests; Math.random by default.
 */
export function backoffDelayMs(attempt: number, capSeconds: number, random: () => number = Math.random): number {
  if (attempt <= 0) return 10;
  const cap = capSeconds * 1000;
  const base = Math.min(cap, (cap / 16) * 2 ** (attempt - 1));
  return Math.min(MAX_TIMER_MS, Math.round(base * (0.8 + 0.4 * random())));
}

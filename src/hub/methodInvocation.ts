// Direct-method invocations on the local hub: IoT Hub's defaults and limits, request ids, response payloads.
import { HubError } from './hubErrors';
import type { MethodInvocation } from './types';

/** A method invocation with defaults applied and limits checked. */
export interface NormalisedInvocation {
  methodName: string;
  payload: unknown;
  responseTimeoutInSeconds: number;
  connectTimeoutInSeconds: number;
}

/**
 * Applies IoT Hub's defaults (response timeout 30 s, connect timeout 0 s) and checks the limits
 * (response 5–300 s, connect 0–300 s, a non-empty method name).
 * @throws HubError 400/400004 when an argument is invalid.
 */
export function normaliseInvocation(inv: MethodInvocation): NormalisedInvocation {
  if (!inv || typeof inv.methodName !== 'string' || inv.methodName.length === 0) {
    throw new HubError('ArgumentInvalid', 'methodName is required');
  }
  const response = inv.responseTimeoutInSeconds ?? 30;
  const connect = inv.connectTimeoutInSeconds ?? 0;
  if (typeof response !== 'number' || !Number.isFinite(response) || response < 5 || response > 300) {
    throw new HubError('ArgumentInvalid', 'responseTimeoutInSeconds must be between 5 and 300');
  }
  if (typeof connect !== 'number' || !Number.isFinite(connect) || connect < 0 || connect > 300) {
    throw new HubError('ArgumentInvalid', 'connectTimeoutInSeconds must be between 0 and 300');
  }
  return {
    methodName: inv.methodName,
    payload: inv.payload ?? null,
    responseTimeoutInSeconds: response,
    connectTimeoutInSeconds: connect,
  };
}

/** A source of IoT Hub-like method request ids: a short lower-case hex counter (`1`, `2`, … `a`, …). */
export function ridCounter(): () => string {
  let next = 1;
  return () => (next++).toString(16);
}

/**
 * Parses a method response body: JSON, or `null` when empty or not JSON (IoT Hub passes the module's JSON through).
 */
export function parseMethodResponsePayload(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

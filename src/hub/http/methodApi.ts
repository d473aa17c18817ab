// The direct-method endpoint of the local hub's HTTPS API: `POST /twins/{d}[/modules/{m}]/methods` for the service
// (as IoT Hub) and for modules (edgeHub module-to-module); answers `{status, payload}` or 404103 / 504101.
import type http from 'node:http';
import { HubError } from '../hubErrors';
import { normaliseInvocation } from '../methodInvocation';
import type { MethodInvocation, ServiceApiHub } from '../types';
import { isObject } from '../validation';
import { readJson, send } from './io';
import { requireIdentity } from './lookup';
import type { IdentityRoute } from './paths';

/**
 * Reads the method request body. Only the fields given are passed on (the hub applies IoT Hub's defaults), but the
 * limits are checked here, with the hub's own rules, so that a bad request never reaches the target.
 * @throws HubError 400 (400004) for a non-object body, a missing method name or a timeout out of range.
 */
function parseInvocation(body: unknown): MethodInvocation {
  if (!isObject(body)) throw new HubError('ArgumentInvalid', 'The method request must be a JSON object.');
  const { methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds } = body;
  const invocation = { methodName, payload: payload === undefined ? null : payload } as MethodInvocation;
  if (responseTimeoutInSeconds !== undefined && responseTimeoutInSeconds !== null)
    invocation.responseTimeoutInSeconds = responseTimeoutInSeconds as number;
  if (connectTimeoutInSeconds !== undefined && connectTimeoutInSeconds !== null)
    invocation.connectTimeoutInSeconds = connectTimeoutInSeconds as number;
  normaliseInvocation(invocation);
  return invocation;
}

/**
 * Builds the method endpoint handler (the caller is already authenticated).
 * @throws never (the factory). The handler throws HubError (or what the hub rejects with): 400, 404
 * (404001/404010/404103), 405, 504101.
 */
export function createMethodApi(
  hub: ServiceApiHub,
): (req: http.IncomingMessage, res: http.ServerResponse, route: IdentityRoute) => Promise<void> {
  return async (req, res, route) => {
    if (req.method !== 'POST') throw new HubError('MethodNotAllowed', `${req.method} is not supported on methods.`);
    const invocation = parseInvocation(await readJson(req));
    requireIdentity(hub, route.deviceId, route.moduleId);
    const result = await hub.invokeMethod(route.deviceId, route.moduleId, invocation);
    send(res, 200, { status: result.status, payload: result.payload === undefined ? null : result.payload });
  };
}

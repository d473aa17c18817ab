// The service twin endpoints of the local hub's HTTPS API (IoT Hub's service REST API): GET, PATCH (merge) and PUT
// (replace) of `/twins/{d}[/modules/{m}]`, with `If-Match` etags.
import type http from 'node:http';
import type { ServiceApiHub, Twin, TwinPatch } from '../types';
import { isObject } from '../validation';
import { HubError } from '../hubErrors';
import { readJson, send } from './io';
import { NEVER, findDevice, requireIdentity, stableEtag } from './lookup';
import type { IdentityRoute } from './paths';

/** Reads a PATCH/PUT twin body into the change the core takes. */
function parseTwinChange(body: unknown): TwinPatch {
  if (!isObject(body)) throw new HubError('ArgumentInvalid', 'The twin must be a JSON object.');
  const properties = body.properties;
  if (properties !== undefined && properties !== null && !isObject(properties))
    throw new HubError('ArgumentInvalid', 'properties must be a JSON object.');
  if (isObject(properties) && properties.reported !== undefined)
    throw new HubError('ArgumentInvalid', 'Reported properties cannot be changed by the service.');
  const desired = isObject(properties) ? properties.desired : undefined;
  if (desired !== undefined && desired !== null && !isObject(desired))
    throw new HubError('ArgumentInvalid', 'properties.desired must be a JSON object.');
  const tags = body.tags;
  if (tags !== undefined && tags !== null && !isObject(tags))
    throw new HubError('ArgumentInvalid', 'tags must be a JSON object.');
  const change: TwinPatch = {};
  if (isObject(tags)) change.tags = tags;
  if (isObject(desired)) change.properties = { desired };
  return change;
}

/**
 * Builds the twin endpoint handler.
 * @returns a handler that answers 200 with the IoT Hub-shaped twin (and its etag header), or throws.
 * @throws never (the factory). The handler throws HubError (or what the hub throws): 400, 404, 405, 412, 501.
 */
export function createTwinApi(
  hub: ServiceApiHub,
): (req: http.IncomingMessage, res: http.ServerResponse, route: IdentityRoute) => Promise<void> {
  function twinJson(twin: Twin, route: IdentityRoute): Record<string, unknown> {
    const clientId = route.moduleId === undefined ? route.deviceId : `${route.deviceId}/${route.moduleId}`;
    const dev = findDevice(hub, route.deviceId);
    return {
      deviceId: twin.deviceId,
      ...(twin.moduleId !== undefined ? { moduleId: twin.moduleId } : {}),
      etag: twin.etag,
      deviceEtag: dev ? stableEtag(dev.deviceId, dev.primaryKey, dev.secondaryKey) : '',
      status: 'enabled',
      statusUpdateTime: NEVER,
      connectionState: hub.isConnected(clientId) ? 'Connected' : 'Disconnected',
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authenticationType: 'sas',
      x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null },
      modelId: '',
      version: twin.version,
      tags: twin.tags,
      properties: twin.properties,
    };
  }

  return async (req, res, route) => {
    requireIdentity(hub, route.deviceId, route.moduleId);
    const current = hub.getTwin(route.deviceId, route.moduleId);
    if (req.method === 'GET') {
      send(res, 200, twinJson(current, route), { etag: `"${current.etag}"` });
      return;
    }
    if (req.method !== 'PATCH' && req.method !== 'PUT')
      throw new HubError('MethodNotAllowed', `${req.method} is not supported on twins.`);
    const change = parseTwinChange(await readJson(req));
    const ifMatch = req.headers['if-match'];
    let twin: Twin;
    if (req.method === 'PATCH') twin = hub.updateTwin(route.deviceId, route.moduleId, change, ifMatch);
    else
      twin = hub.replaceTwin(
        route.deviceId,
        route.moduleId,
        { tags: change.tags ?? {}, properties: { desired: change.properties?.desired ?? {} } },
        ifMatch,
      );
    send(res, 200, twinJson(twin, route), { etag: `"${twin.etag}"` });
  };
}

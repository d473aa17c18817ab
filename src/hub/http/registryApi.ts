// The registry endpoints of the local hub's HTTPS API (as IoT Hub): `GET /devices`, `GET|PUT|DELETE /devices/{d}`,
// `GET /devices/{d}/modules`, `GET|PUT|DELETE /devices/{d}/modules/{m}`; creating returns the generated keys.
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { HubError, identityNotFound } from '../hubErrors';
import type { DeviceIdentity, ModuleIdentity, ServiceApiHub } from '../types';
import { THUMBPRINT_PATTERN, isObject, isSymmetricKey, isValidId } from '../validation';
import { checkIfMatch, readJson, send } from './io';
import { NEVER, findDevice, stableEtag } from './lookup';
import type { IdentityRoute } from './paths';

type Keys = { primaryKey: string; secondaryKey: string; x509Thumbprints: string[] };
type AuthChange = { primaryKey?: string; secondaryKey?: string; x509Thumbprints?: string[] };

/** A stable pseudo generation id for devices (the registry keeps one only for modules). */
function stableGenerationId(deviceId: string): string {
  const digits = createHash('sha256').update(deviceId).digest().readBigUInt64BE(0) % 10n ** 18n;
  return `6${digits.toString().padStart(17, '0')}`;
}

function authenticationJson(identity: Keys): Record<string, unknown> {
  const [primaryThumbprint = null, secondaryThumbprint = null] = identity.x509Thumbprints;
  return {
    symmetricKey: { primaryKey: identity.primaryKey, secondaryKey: identity.secondaryKey },
    x509Thumbprint: { primaryThumbprint, secondaryThumbprint },
    type: identity.x509Thumbprints.length > 0 ? 'selfSigned' : 'sas',
  };
}

/** Reads `authentication` of a registry PUT body into the keys/thumbprints the core takes. */
function authFromBody(body: Record<string, unknown>): AuthChange {
  const auth = body.authentication;
  if (auth === undefined || auth === null) return {};
  if (!isObject(auth)) throw new HubError('ArgumentInvalid', 'authentication must be a JSON object.');
  const type = auth.type ?? 'sas';
  const result: AuthChange = {};
  if (type === 'sas') {
    const sym = auth.symmetricKey;
    if (sym !== undefined && sym !== null) {
      if (!isObject(sym)) throw new HubError('ArgumentInvalid', 'authentication.symmetricKey must be a JSON object.');
      for (const field of ['primaryKey', 'secondaryKey'] as const) {
        const key = sym[field];
        if (key === undefined || key === null || key === '') continue;
        // IoT Hub accepts symmetric keys of 16 to 64 bytes.
        if (!isSymmetricKey(key))
          throw new HubError(
            'ArgumentInvalid',
            `authentication.symmetricKey.${field} must be base64 of 16 to 64 bytes.`,
          );
        result[field] = key;
      }
    }
    return result;
  }
  if (type === 'selfSigned') {
    const tp = auth.x509Thumbprint;
    const prints = isObject(tp)
      ? [tp.primaryThumbprint, tp.secondaryThumbprint].filter((t): t is string => typeof t === 'string' && t !== '')
      : [];
    if (prints.length === 0 || prints.some((t) => !THUMBPRINT_PATTERN.test(t))) {
      throw new HubError('ArgumentInvalid', 'authentication.x509Thumbprint needs SHA-1 or SHA-256 hex thumbprints.');
    }
    result.x509Thumbprints = prints;
    return result;
  }
  throw new HubError(
    'ArgumentInvalid',
    `authentication.type ${typeof type === 'string' ? type : JSON.stringify(type)} is not supported by the local hub.`,
  );
}

function checkBodyIds(body: Record<string, unknown>, route: IdentityRoute): void {
  if (body.deviceId !== undefined && body.deviceId !== route.deviceId)
    throw new HubError('ArgumentInvalid', 'deviceId in the body does not match the path.');
  if (route.moduleId !== undefined && body.moduleId !== undefined && body.moduleId !== route.moduleId) {
    throw new HubError('ArgumentInvalid', 'moduleId in the body does not match the path.');
  }
  if (!isValidId(route.deviceId)) throw new HubError('ArgumentInvalid', `Device id ${route.deviceId} is invalid.`);
  if (route.moduleId !== undefined && !isValidId(route.moduleId))
    throw new HubError('ArgumentInvalid', `Module id ${route.moduleId} is invalid.`);
}

/** An update (PUT with If-Match) of an existing identity: the core cannot change keys, so only a no-op passes. */
function checkUnchanged(identity: Keys, auth: AuthChange): void {
  const changed =
    (auth.primaryKey !== undefined && auth.primaryKey !== identity.primaryKey) ||
    (auth.secondaryKey !== undefined && auth.secondaryKey !== identity.secondaryKey) ||
    (auth.x509Thumbprints !== undefined && auth.x509Thumbprints.join() !== identity.x509Thumbprints.join());
  if (changed) throw new HubError('NotImplemented', 'The local hub cannot change the keys of an existing identity.');
}

/** The registry endpoint handlers. */
export interface RegistryApi {
  listDevices(req: http.IncomingMessage, res: http.ServerResponse): void;
  device(req: http.IncomingMessage, res: http.ServerResponse, route: IdentityRoute): Promise<void>;
  listModules(req: http.IncomingMessage, res: http.ServerResponse, route: IdentityRoute): void;
  module(req: http.IncomingMessage, res: http.ServerResponse, route: IdentityRoute): Promise<void>;
}

/**
 * Builds the registry endpoint handlers.
 * @throws never (the factory). The handlers throw HubError (400, 404001/404010, 405, 409, 412,
 *   501) or what the hub throws.
 */
export function createRegistryApi(hub: ServiceApiHub): RegistryApi {
  function deviceJson(dev: DeviceIdentity): Record<string, unknown> {
    const hasModules = hub.listModules().some((mod) => mod.deviceId === dev.deviceId);
    return {
      deviceId: dev.deviceId,
      generationId: stableGenerationId(dev.deviceId),
      etag: stableEtag(dev.deviceId, dev.primaryKey, dev.secondaryKey, ...dev.x509Thumbprints),
      connectionState: hub.isConnected(dev.deviceId) ? 'Connected' : 'Disconnected',
      status: 'enabled',
      statusReason: null,
      connectionStateUpdatedTime: NEVER,
      statusUpdatedTime: NEVER,
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authentication: authenticationJson(dev),
      capabilities: { iotEdge: hasModules },
    };
  }

  function moduleJson(mod: ModuleIdentity): Record<string, unknown> {
    return {
      moduleId: mod.moduleId,
      managedBy: '',
      deviceId: mod.deviceId,
      generationId: mod.generationId,
      etag: stableEtag(mod.deviceId, mod.moduleId, mod.primaryKey, mod.secondaryKey, ...mod.x509Thumbprints),
      connectionState: hub.isConnected(`${mod.deviceId}/${mod.moduleId}`) ? 'Connected' : 'Disconnected',
      connectionStateUpdatedTime: NEVER,
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authentication: authenticationJson(mod),
    };
  }

  const deviceMissing = (route: IdentityRoute): HubError => identityNotFound(route.deviceId);

  /** PUT of an identity: create (200 with its keys), or, with `If-Match`, a no-op update; 409 without it. */
  async function put<T extends Keys>(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    route: IdentityRoute,
    existing: T | undefined,
    view: (identity: T) => Record<string, unknown>,
    exists: () => HubError,
    create: (auth: AuthChange) => T,
  ): Promise<void> {
    const body = await readJson(req);
    if (!isObject(body))
      throw new HubError(
        'ArgumentInvalid',
        `The ${route.moduleId === undefined ? 'device' : 'module'} must be a JSON object.`,
      );
    checkBodyIds(body, route);
    const auth = authFromBody(body);
    if (existing) {
      if (req.headers['if-match'] === undefined) throw exists();
      checkIfMatch(req, view(existing).etag as string);
      checkUnchanged(existing, auth);
      send(res, 200, view(existing));
      return;
    }
    send(res, 200, view(create(auth)));
  }

  /** DELETE of an existing identity (etag checked): 204. */
  function remove(req: http.IncomingMessage, res: http.ServerResponse, etag: string, removeIt: () => void): void {
    checkIfMatch(req, etag);
    removeIt();
    send(res, 204, undefined);
  }

  return {
    listDevices(req, res) {
      if (req.method !== 'GET') throw new HubError('MethodNotAllowed', `${req.method} is not supported on /devices.`);
      send(res, 200, hub.listDevices().map(deviceJson));
    },

    async device(req, res, route) {
      const existing = findDevice(hub, route.deviceId);
      if (req.method === 'GET') {
        if (!existing) throw deviceMissing(route);
        return send(res, 200, deviceJson(existing));
      }
      if (req.method === 'PUT') {
        return put(
          req,
          res,
          route,
          existing,
          deviceJson,
          () => new HubError('DeviceAlreadyExists', `A device with ID ${route.deviceId} is already registered.`),
          (auth) => hub.addDevice(route.deviceId, auth),
        );
      }
      if (req.method === 'DELETE') {
        if (!existing) throw deviceMissing(route);
        return remove(req, res, deviceJson(existing).etag as string, () => hub.removeDevice(route.deviceId));
      }
      throw new HubError('MethodNotAllowed', `${req.method} is not supported on devices.`);
    },

    listModules(req, res, route) {
      if (req.method !== 'GET') throw new HubError('MethodNotAllowed', `${req.method} is not supported on modules.`);
      if (!findDevice(hub, route.deviceId)) throw deviceMissing(route);
      send(
        res,
        200,
        hub
          .listModules()
          .filter((mod) => mod.deviceId === route.deviceId)
          .map(moduleJson),
      );
    },

    async module(req, res, route) {
      const moduleId = route.moduleId!;
      const existing = hub.getModule(route.deviceId, moduleId);
      // IoT Hub names what is missing: the device (404001) or the module on an existing device (404010).
      const missing = (): HubError =>
        findDevice(hub, route.deviceId) ? identityNotFound(route.deviceId, moduleId) : deviceMissing(route);
      if (req.method === 'GET') {
        if (!existing) throw missing();
        return send(res, 200, moduleJson(existing));
      }
      if (req.method === 'PUT') {
        return put(
          req,
          res,
          route,
          existing,
          moduleJson,
          () =>
            new HubError(
              'ModuleAlreadyExistsOnDevice',
              `A module with ID ${moduleId} is already registered on device ${route.deviceId}.`,
            ),
          (auth) => {
            // Like IoT Hub, a module can only be added to an existing device (the core would create the device).
            if (!findDevice(hub, route.deviceId)) throw deviceMissing(route);
            return hub.addModule(route.deviceId, moduleId, auth);
          },
        );
      }
      if (req.method === 'DELETE') {
        if (!existing) throw missing();
        return remove(req, res, moduleJson(existing).etag as string, () => hub.removeModule(route.deviceId, moduleId));
      }
      throw new HubError('MethodNotAllowed', `${req.method} is not supported on modules.`);
    },
  };
}
